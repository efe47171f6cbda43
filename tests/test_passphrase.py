"""An encrypted key's passphrase: asked once on the terminal, never stored or shown."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from diracsh.server import Server
from tests.kit import PASSPHRASE, KitPKI
from tests.pty import loose, pty_env


def _flags(pki: KitPKI) -> list[str]:
    return [
        "--cert",
        str(pki.user_cert),
        "--key",
        str(pki.encrypted_key),
        "--ca-dir",
        str(pki.ca_dir),
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def spawned(home: Path) -> Iterator[list[pexpect.spawn]]:
    children: list[pexpect.spawn] = []
    yield children
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def _spawn(args: list[str], home: Path, children: list[pexpect.spawn]) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "diracsh", *args],
        env=pty_env(home),
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 200),
    )
    children.append(child)
    return child


def test_the_shell_asks_once_and_a_wrong_passphrase_does_not_connect(
    server: Server, pki: KitPKI, home: Path, spawned: list[pexpect.spawn]
) -> None:
    url = server.url("Demo/Jobs")
    child = _spawn([*_flags(pki), url], home, spawned)
    child.expect(loose(f"Passphrase for {pki.encrypted_key}:"))
    for _ in range(2):  # three tries in all, as ssh and sudo give
        child.sendline("not the passphrase")
        child.expect(loose("Wrong passphrase, try again. Passphrase for"))
    child.sendline("still not the passphrase")
    child.expect(loose(f"not connected: wrong passphrase for {pki.encrypted_key}"))
    child.expect("diracsh>")

    child.sendline(f".connect {url} {' '.join(_flags(pki))}")
    child.expect("Passphrase for ")
    child.sendline(PASSPHRASE)
    child.expect("Demo/Jobs>")
    child.sendline("whoami()")
    child.expect(loose(f"'DN': '{pki.user_dn}'"))
    child.expect("Demo/Jobs>")

    # The same key again: no second question.
    child.sendline(f".connect {server.url('Demo/Files')} {' '.join(_flags(pki))}")
    child.expect("added Demo/Files")
    child.expect("Demo/Files>")
    child.sendline("ping()")
    child.expect(loose("'OK': True"))
    child.expect("Demo/Files>")
    child.sendline(".exit")
    child.expect(pexpect.EOF)
    screen = child.before or ""

    assert PASSPHRASE not in screen
    for path in home.rglob("*"):
        if path.is_file():
            assert PASSPHRASE not in path.read_text(errors="replace"), path


def test_call_asks_on_the_terminal(
    server: Server, pki: KitPKI, home: Path, spawned: list[pexpect.spawn]
) -> None:
    child = _spawn(
        ["call", *_flags(pki), server.url("Demo/Jobs"), "ping"], home, spawned
    )
    child.expect("Passphrase for ")
    child.sendline(PASSPHRASE)
    child.expect(loose("'OK': True"))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_ctrl_c_at_the_passphrase_prompt_exits_130(
    server: Server, pki: KitPKI, home: Path, spawned: list[pexpect.spawn]
) -> None:
    child = _spawn(
        ["call", *_flags(pki), server.url("Demo/Jobs"), "ping"], home, spawned
    )
    child.expect("Passphrase for ")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert "Traceback" not in (child.before or "")


def test_without_a_terminal_the_message_says_what_to_do(
    server: Server, pki: KitPKI, home: Path
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "diracsh",
            "call",
            *_flags(pki),
            server.url("Demo/Jobs"),
            "ping",
        ],
        env=pty_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,  # no controlling terminal: /dev/tty cannot open
        timeout=60,
    )
    assert done.returncode == 3
    assert done.stderr == (
        f"diracsh: the key {pki.encrypted_key} is encrypted and there is no terminal "
        "to type its passphrase on: run from a terminal, or use a proxy\n"
    )
