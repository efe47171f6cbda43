""".record, .replay and .put in the shell; ``diracsh replay`` on the command line."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest

from diracsh import stubs
from diracsh.shell.render import Printer
from diracsh.shell.session import Shell
from diracsh.testing import DemoService, ReplayServer
from tests.kit import free_port
from tests.pty import DEMO_PROMPT, pty_env, run, spawn_demo


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[pexpect.spawn]:
    child = spawn_demo(tmp_path / "home", width=200)
    try:
        yield child
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_record_put_and_replay_with_diff_in_a_terminal(
    terminal: pexpect.spawn, tmp_path: Path
) -> None:
    cassette = tmp_path / "session.json"
    upload = tmp_path / "notes.txt"
    upload.write_bytes(b"first line\n\x00\xff")

    run(terminal, f".record {cassette}", f"recording every call to {cassette}")
    run(terminal, "getJobStatus([12, 13])", "'13': 'Done'")
    run(
        terminal,
        "echo({'when': datetime(2024, 1, 2, 3, 4, 5), 'raw': b'\\x00\\xff'})",
        "'raw': b'\\x00\\xff'",
    )
    run(terminal, ".use Demo/Files")
    run(terminal, f".put {upload} notes.txt", "'Value': 'SB:DemoSE|/demo/notes.txt'")
    run(terminal, "getFileBytes('notes.txt')", "b'first line\\n\\x00\\xff'")
    run(terminal, ".record", f"recording to {cassette} (4 calls so far)")
    run(terminal, ".record off", f"recorded 4 calls to {cassette}")
    run(terminal, "listFiles()")  # not recorded any more

    assert stat.S_IMODE(cassette.stat().st_mode) == 0o600
    entries = stubs.load(cassette)
    assert [(e.path, e.method) for e in entries] == [
        ("Demo/Jobs", "getJobStatus"),
        ("Demo/Jobs", "echo"),
        ("Demo/Files", "streamFromClient"),
        ("Demo/Files", "getFileBytes"),
    ]
    assert entries[2].args == ["notes.txt", "", 13, b"first line\n\x00\xff"]
    assert "-----BEGIN" not in cassette.read_text()

    run(
        terminal,
        f".replay {cassette} --diff",
        "same       Demo/Jobs.getJobStatus([12, 13])",
        "same       Demo/Jobs.echo(",
        "same       Demo/Files.streamFromClient('notes.txt', '', 13, b'first line",
        "same       Demo/Files.getFileBytes('notes.txt')",
        "4 calls replayed: 4 same, 0 different, 0 not run",
    )

    terminal.sendeof()
    terminal.expect(pexpect.EOF)
    terminal.close()
    assert terminal.exitstatus == 0


def test_ctrl_c_during_a_recorded_call_leaves_a_whole_cassette(
    terminal: pexpect.spawn, tmp_path: Path
) -> None:
    cassette = tmp_path / "cancelled.json"
    run(terminal, f".record {cassette}", "recording every call")
    run(terminal, "getJobStatus(12)", "'12': 'Running'")

    terminal.sendline("waitForJob(12, 30)")
    time.sleep(1.0)
    terminal.sendintr()
    terminal.expect("cancelled")
    terminal.expect(DEMO_PROMPT)
    run(terminal, "getJobStatus(13)", "'13': 'Done'")

    document = json.loads(cassette.read_text())
    assert [e["stub"][1:] for e in document["entries"]] == [
        ["getJobStatus", [12]],
        ["getJobStatus", [13]],
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cancelled.json", "home"]


# -- the same commands on a Shell in this process ------------------------------


@pytest.fixture
def output() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def shell(diracsh_demo: DemoService, output: io.StringIO) -> Iterator[Shell]:
    made = Shell(Printer(output, color=False))
    options = {
        "proxyLocation": str(diracsh_demo.pki.proxy),
        "caLocation": str(diracsh_demo.pki.ca_dir),
    }
    made.connect(diracsh_demo.url("Demo/Jobs"), **options)
    try:
        yield made
    finally:
        made.close()


def test_replay_shows_different_with_a_diff(
    shell: Shell, output: io.StringIO, diracsh_demo: DemoService, tmp_path: Path
) -> None:
    cassette = tmp_path / "changed.json"
    live = diracsh_demo.client().getJobStatus(12)
    stubs.save(
        cassette,
        [
            stubs.entry_from_result(live, 0.01),
            stubs.entry_from_result({**live, "Value": {"12": "Failed"}}, 0.01),
            stubs.make_entry(
                (("https://h:1/Other/Service", {}), "ping", []),
                {"OK": True, "Value": 1},
                0.1,
            ),
        ],
    )

    shell.execute(f".replay {cassette} --diff")

    lines = output.getvalue().splitlines()
    assert lines[0].startswith("same       Demo/Jobs.getJobStatus(12)  (")
    assert lines[1].startswith("different  Demo/Jobs.getJobStatus(12)  (")
    assert lines[2:7] == [
        "    --- recorded",
        "    +++ live",
        "    @@ -1 +1 @@",
        "    -{'OK': True, 'Value': {'12': 'Failed'}}",
        "    +{'OK': True, 'Value': {'12': 'Running'}}",
    ]
    assert lines[7] == (
        "not run    Other/Service.ping(): not connected to Other/Service: "
        ".connect its URL first"
    )
    assert lines[8] == "3 calls replayed: 1 same, 1 different, 1 not run"
    assert shell.failures == 1  # a piped run exits 1, as `diracsh replay` does


def test_record_refuses_a_file_that_is_not_a_cassette(
    shell: Shell, output: io.StringIO, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")

    shell.execute(f".record {notes}")
    shell.execute(".record")

    assert output.getvalue().splitlines() == [
        f"not recording: {notes} is not a cassette: not valid JSON: Expecting "
        "value: line 1 column 1 (char 0)",
        "not recording: .record FILE starts",
    ]
    assert notes.read_text() == "keep me\n"
    assert shell.failures == 1


def test_put_of_a_missing_file_makes_no_call_and_records_nothing(
    shell: Shell, output: io.StringIO, tmp_path: Path
) -> None:
    cassette = tmp_path / "calls.json"
    shell.execute(f".record {cassette}")
    shell.execute(f".put {tmp_path / 'missing.bin'} 12")

    assert f"cannot read {tmp_path / 'missing.bin'}" in output.getvalue()
    assert stubs.load(cassette) == []


@pytest.mark.parametrize(
    "line", [".replay", ".replay a b", ".put onlyone", ".record a b"]
)
def test_cassette_commands_show_their_usage(
    shell: Shell, output: io.StringIO, line: str
) -> None:
    shell.execute(line)
    assert output.getvalue().startswith(f".{line.split()[0][1:]} ")


def test_no_token_or_key_reaches_the_cassette(
    diracsh_demo: DemoService, output: io.StringIO, tmp_path: Path
) -> None:
    token = diracsh_demo.pki.token
    pem = diracsh_demo.pki.proxy.read_text()
    shell = Shell(Printer(output, color=False))
    ca = str(diracsh_demo.pki.ca_dir)
    shell.connect(diracsh_demo.url(), "bytoken", accessToken=token, caLocation=ca)
    shell.connect(diracsh_demo.url(), "bypem", proxyString=pem, caLocation=ca)
    cassette = tmp_path / "secret.json"
    try:
        shell.execute(f".record {cassette}")
        shell.execute(f"bytoken.echo({token!r})")
        shell.execute("bypem.whoami()")
        shell.execute(f"bypem.echo({pem!r})")
    finally:
        shell.close()

    text = cassette.read_text()
    assert len(stubs.load(cassette)) == 3
    assert token not in text
    assert "-----BEGIN" not in text
    assert "accessToken" not in text and "proxyString" not in text


# -- diracsh replay ----------------------------------------------------------


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def replay_command(diracsh_demo: DemoService, tmp_path: Path) -> Run:
    credentials = [
        "--proxy",
        str(diracsh_demo.pki.proxy),
        "--ca-dir",
        str(diracsh_demo.pki.ca_dir),
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "diracsh", "replay", *args, *credentials],
            capture_output=True,
            text=True,
            env=pty_env(tmp_path / "home"),
            timeout=60,
        )

    return run


@pytest.fixture
def recorded(diracsh_demo: DemoService, tmp_path: Path) -> Path:
    cassette = tmp_path / "demo.json"
    recorder = stubs.Recorder(cassette)
    recorder.record(diracsh_demo.client().getJobStatus([12, 13]), 0.01)
    recorder.record(diracsh_demo.client("Demo/Files").getFileBytes("image.png"), 0.01)
    return cassette


def test_replay_command_exits_0_when_all_are_the_same(
    replay_command: Run, recorded: Path
) -> None:
    done = replay_command(str(recorded))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split("  (")[0] for line in lines[:2]] == [
        "same       Demo/Jobs.getJobStatus([12, 13])",
        "same       Demo/Files.getFileBytes('image.png')",
    ]
    assert lines[2] == "2 calls replayed: 2 same, 0 different, 0 not run"


def test_replay_command_exits_1_and_shows_the_diff_when_different(
    replay_command: Run, recorded: Path
) -> None:
    entries = stubs.load(recorded)
    changed = stubs.Entry(
        **{**entries[0].__dict__, "result": {"OK": True, "Value": {}}}
    )
    stubs.save(recorded, [changed, entries[1]])

    done = replay_command(str(recorded), "--diff")

    assert done.returncode == 1
    assert "-{'OK': True, 'Value': {}}\n" in done.stdout
    assert "+{'OK': True, 'Value': {'12': 'Running', '13': 'Done'}}\n" in done.stdout
    assert done.stdout.endswith("2 calls replayed: 1 same, 1 different, 0 not run\n")


def test_replay_command_can_send_the_calls_to_another_server(
    replay_command: Run,
    recorded: Path,
    diracsh_cassette: Callable[[Path], ReplayServer],
) -> None:
    replay = diracsh_cassette(recorded)  # same PKI as the demo in the test session
    server = f"https://127.0.0.1:{replay.server.port}"

    done = replay_command(str(recorded), "--server", server)

    assert done.returncode == 0, done.stdout
    assert done.stdout.endswith("2 calls replayed: 2 same, 0 different, 0 not run\n")


def test_replay_command_says_not_run_when_nothing_can_be_sent_or_answered(
    diracsh_demo: DemoService, recorded: Path, tmp_path: Path
) -> None:
    def replay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "diracsh", "replay", str(recorded), *args],
            capture_output=True,
            text=True,
            env=pty_env(tmp_path / "home"),  # no X509_USER_PROXY
            timeout=60,
        )

    ca = ["--ca-dir", str(diracsh_demo.pki.ca_dir)]
    missing = replay("--proxy", str(tmp_path / "no-proxy.pem"), *ca)
    assert missing.returncode == 1
    assert missing.stdout.splitlines()[0].startswith(
        "not run    Demo/Jobs.getJobStatus([12, 13]): cannot read "
    )
    assert missing.stdout.endswith("2 calls replayed: 0 same, 0 different, 2 not run\n")

    dead = f"https://127.0.0.1:{free_port()}"
    proxy = ["--proxy", str(diracsh_demo.pki.proxy)]
    unanswered = replay("--server", dead, *proxy, *ca)
    assert unanswered.returncode == 1
    assert "connection refused" in unanswered.stdout.splitlines()[0]
    assert unanswered.stdout.endswith("2 not run\n")


def test_replay_command_exits_3_for_a_missing_cassette(
    replay_command: Run, tmp_path: Path
) -> None:
    done = replay_command(str(tmp_path / "none.json"))
    assert done.returncode == 3
    assert done.stderr == (
        f"diracsh: cannot read cassette {tmp_path / 'none.json'}: No such file or "
        "directory\n"
    )
    # --debug adds the traceback, not another exit status.
    debugged = replay_command(str(tmp_path / "none.json"), "--debug")
    assert debugged.returncode == 3
    assert "Traceback (most recent call last)" in debugged.stderr
    assert debugged.stderr.endswith(done.stderr)
