"""``diracsh --demo`` driven in a real pseudo-terminal, and with piped input."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.pty import DEMO_PROMPT, loose, pty_env, run, spawn_demo


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def shell(home: Path) -> Iterator[pexpect.spawn]:
    child = spawn_demo(home)
    try:
        yield child
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_demo_session_end_to_end(
    shell: pexpect.spawn, home: Path, tmp_path: Path
) -> None:
    plain = re.sub("\x1b\\[[0-9;?]*[A-Za-z]", "", shell.before)
    welcome = plain.replace("\r", "").splitlines()
    assert welcome[1:5] == [
        "Try:  getJobStatus(12)        a call on the current service, Demo/Jobs",
        "      echo({'when': datetime(2024, 1, 2, 3, 4, 5), 'data': b'\\x00'})",
        "      .services   then   Demo/Files.listFiles()   (Tab completes)",
        ".help lists commands; Ctrl-D leaves.",
    ]
    run(shell, "Demo/Files.listFiles()", "'std.out': {'Size': ")
    run(shell, "ping()", "'name': 'Demo/Jobs'", " ms)")
    run(
        shell,
        'echo({"a": [1, 2.5], "when": datetime(2024, 1, 2, 3, 4, 5)})',
        "'Value': {'a': [1, 2.5], 'when': datetime.datetime(2024, 1, 2, 3, 4, 5)}",
    )
    run(shell, "whoami()", "'DN': '/O=diracsh/OU=users/CN=demo user'")
    run(shell, "getJobSummary()", "'Total': 8")
    run(shell, "noSuchMethod()", "S_ERROR errno 38: Function not implemented")
    run(shell, "resetJobs()", "S_ERROR errno 13")
    run(shell, "echo({'a', 'b'})", "argument 1 is a set")

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
    run(shell, "12)", "'12': 'Running'")

    # Ctrl-C during a slow call returns to the prompt; the shell keeps going.
    shell.sendline("waitForJob(12, 30)")
    time.sleep(1.0)
    shell.sendintr()
    shell.expect("cancelled")
    shell.expect(DEMO_PROMPT)
    run(shell, "getJobStatus(13)", "'13': 'Done'")

    dest = tmp_path / "job12.log"
    run(shell, f".get {dest} 12", "saved")
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
        env=pty_env(home),
        timeout=60,
    )
    assert done.returncode == 1, done.stderr  # one statement failed
    assert "\x1b[" not in done.stdout
    out = done.stdout
    assert out.index("'name': 'Demo/Jobs'") < out.index("'12': 'Running'")
    assert "S_ERROR errno 38" in out
    assert '"13": "Done"' in out
    assert "Try:" not in out  # the welcome is for people at a terminal


def piped(home: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diracsh", "--demo"],
        input=script,
        capture_output=True,
        text=True,
        env=pty_env(home),
        timeout=60,
    )


def test_piped_run_exits_0_when_every_statement_succeeds(home: Path) -> None:
    done = piped(home, "ping()\n.format json\ngetJobStatus([12, 13])\n")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_typo_does_not_swallow_the_statements_after_it(home: Path) -> None:
    done = piped(home, "echo([1, 2)\ngetJobStatus(12)  # don't\necho(1)(2)\necho(3)\n")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cannot read the arguments: closing parenthesis")
    assert lines[1].startswith("{'OK': True, 'Value': {'12': 'Running'}}  (")
    assert lines[2].startswith("not a single call: 'echo(1)(2)'")
    assert lines[3].startswith("{'OK': True, 'Value': 3}  (")


def test_a_cassette_that_cannot_be_read_fails_the_piped_run(
    home: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.json"
    done = piped(home, f".replay {missing}\nping()\n")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == f"cannot read cassette {missing}: No such file or directory"
    assert lines[1] == "{'OK': True,"


def test_dev_null_stdin_exits_at_once(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "diracsh", "--demo"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=pty_env(home),
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_ctrl_c_cancels_a_download_and_leaves_no_partial_file(
    shell: pexpect.spawn, tmp_path: Path
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    run(shell, ".use Demo/Files")
    shell.sendline(f".get {downloads / 'big.bin'} 1024")  # 1 GiB
    deadline = time.monotonic() + 30

    def written() -> int:
        return sum(part.stat().st_size for part in downloads.glob(".big.bin.*"))

    # Data is arriving, so the progress bar (its own prompt_toolkit app) is up.
    while written() < 32 << 20:
        assert time.monotonic() < deadline, "the download never got going"
        time.sleep(0.05)
    shell.sendintr()
    shell.expect("cancelled")
    shell.expect(DEMO_PROMPT)
    assert list(downloads.iterdir()) == []
    run(shell, "listFiles()", "'std.out'")  # the shell goes on


def test_two_shells_open_at_once_share_the_history(home: Path) -> None:
    first = spawn_demo(home)
    second = spawn_demo(home)
    try:
        for n in range(6):
            run(first if n % 2 else second, f"echo({n})", f"'Value': {n}")
        for child in (first, second):
            child.sendeof()
            child.expect(pexpect.EOF)
            child.close()
            assert child.exitstatus == 0
    finally:
        for child in (first, second):
            if child.isalive():
                child.terminate(force=True)
    entries = [
        line
        for line in (home / "data" / "history").read_text().splitlines()
        if line.startswith("+")
    ]
    assert sorted(entries) == [f"+echo({n})" for n in range(6)]

    # A third shell finds both shells' lines with Ctrl-R.
    third = spawn_demo(home)
    try:
        third.send("\x12echo(3")
        third.expect(loose("echo(3)"))
        third.send("\r")  # takes the line found
        third.send("\r")  # runs it
        third.expect(loose("'Value': 3"))
        third.expect(DEMO_PROMPT)
    finally:
        third.terminate(force=True)


def test_a_piped_run_with_a_target_it_cannot_use_exits_1(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "diracsh", "nonsense"],
        input="",
        capture_output=True,
        text=True,
        env=pty_env(home),
        timeout=60,
    )
    assert done.returncode == 1
    assert "nonsense" in done.stdout
