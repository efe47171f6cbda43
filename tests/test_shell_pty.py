"""``diracsh --demo`` driven in a real pseudo-terminal, and with piped input."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

PROMPT = "Demo/Jobs>"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X509", "DIRAC"))}
    env.update(DIRACSH_HOME=str(home), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    return env


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def shell(home: Path) -> Iterator[pexpect.spawn]:
    child = pexpect.spawn(
        sys.executable,
        ["-m", "diracsh", "--demo"],
        env=_env(home),
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 140),
    )
    child.expect("demo service on https://127.0.0.1:")
    child.expect(PROMPT)
    try:
        yield child
    finally:
        if child.isalive():
            child.terminate(force=True)


def _loose(text: str) -> str:
    """A pattern for *text* as printed in colour: escape codes may sit anywhere."""
    return "(?:\x1b\\[[0-9;?]*[A-Za-z])*".join(re.escape(char) for char in text)


def _run(child: pexpect.spawn, line: str, *expected: str) -> None:
    """Send a line; each expected text must appear in order, then the prompt."""
    child.sendline(line)
    for text in expected:
        child.expect(_loose(text))
    child.expect(PROMPT)


def test_demo_session_end_to_end(
    shell: pexpect.spawn, home: Path, tmp_path: Path
) -> None:
    _run(shell, "ping()", "'name': 'Demo/Jobs'", " ms)")
    _run(
        shell,
        'echo({"a": [1, 2.5], "when": datetime(2024, 1, 2, 3, 4, 5)})',
        "'Value': {'a': [1, 2.5], 'when': datetime.datetime(2024, 1, 2, 3, 4, 5)}",
    )
    _run(shell, "whoami()", "'DN': '/O=diracsh/OU=users/CN=demo user'")
    _run(shell, "getJobSummary()", "'Total': 8")
    _run(shell, "noSuchMethod()", "S_ERROR errno 38: Function not implemented")
    _run(shell, "resetJobs()", "S_ERROR errno 13")
    _run(shell, "echo({'a', 'b'})", "argument 1 is a set")

    # Tab completes a method name taken from the service's listMethods.
    deadline = time.monotonic() + 10
    while True:
        shell.send("getJobSt\t")
        try:
            shell.expect("getJobStatus\\(", timeout=1)
            break
        except pexpect.TIMEOUT:
            shell.send("\x15")  # clear the line and try again once discovery is done
            assert time.monotonic() < deadline, "completion never offered getJobStatus"
    _run(shell, "12)", "'12': 'Running'")

    # Ctrl-C during a slow call returns to the prompt; the shell keeps going.
    shell.sendline("waitForJob(12, 30)")
    time.sleep(1.0)
    shell.sendintr()
    shell.expect("cancelled")
    shell.expect(PROMPT)
    _run(shell, "getJobStatus(13)", "'13': 'Done'")

    dest = tmp_path / "job12.log"
    _run(shell, f".get {dest} 12", "saved")
    assert dest.read_text().startswith("Job 12 (demo_job_12)\n")

    shell.sendeof()
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0

    history = home / "data" / "history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700
    assert "+getJobSummary()" in history.read_text()


def test_piped_statements_run_in_order_without_escape_codes(home: Path) -> None:
    script = (
        "ping()\ngetJobStatus(12)\nnoSuchMethod()\n.format json\ngetJobStatus(13)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "diracsh", "--demo"],
        input=script,
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout
    out = done.stdout
    assert out.index("'name': 'Demo/Jobs'") < out.index("'12': 'Running'")
    assert "S_ERROR errno 38" in out
    assert '"13": "Done"' in out


def test_dev_null_stdin_exits_at_once(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "diracsh", "--demo"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=60,
    )
    assert done.returncode == 0
