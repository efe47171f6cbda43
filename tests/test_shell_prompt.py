"""The real PromptSession driven through prompt_toolkit's pipe input: keys, completion,
multi-line input, history."""

from __future__ import annotations

import io
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from diracsh.client import TornadoClient
from diracsh.shell.app import PrivateFileHistory, make_prompt_session, open_history
from diracsh.shell.completer import ShellCompleter
from diracsh.shell.render import Printer
from diracsh.shell.session import Connection, Shell


@pytest.fixture
def pipe() -> Iterator[PipeInput]:
    with create_pipe_input() as made:
        yield made


@pytest.fixture
def shell() -> Shell:
    """A shell with a known method list and no network at all."""
    made = Shell(Printer(io.StringIO(), color=False))
    client = TornadoClient("https://127.0.0.1:1/Demo/Jobs")
    methods = {
        name: {"args": ["jobID"], "types": ["int"], "doc": "d"}
        for name in ("getJobStatus", "getJobAttributes", "killJob")
    }
    made.connections["Demo/Jobs"] = Connection("Demo/Jobs", "", client, {}, methods)
    made.current = "Demo/Jobs"
    return made


def read(shell: Shell, pipe: PipeInput, keys: str) -> str:
    session = make_prompt_session(
        shell, InMemoryHistory(), input=pipe, output=DummyOutput()
    )
    pipe.send_text(keys)
    return session.prompt("> ")


def complete(shell: Shell, text: str) -> list[str]:
    """What Tab offers after *text* (Tab itself is driven in the pty tests)."""
    document = Document(text, len(text))
    found = ShellCompleter(shell).get_completions(document, CompleteEvent(True))
    return [text[: len(text) + c.start_position] + c.text for c in found]


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        ("getJob", ["getJobAttributes(", "getJobStatus("]),
        ("kill", ["killJob("]),
        ("Demo/Jobs.ge", ["Demo/Jobs.getJobAttributes(", "Demo/Jobs.getJobStatus("]),
        ("p", ["ping("]),
        (".disc", [".disconnect"]),
        (".use De", [".use Demo/Jobs"]),
        ("echo(get", []),
    ],
    ids=["methods", "one", "alias", "built-in", "command", "alias-arg", "in-args"],
)
def test_completion_offers(shell: Shell, text: str, offered: list[str]) -> None:
    assert complete(shell, text) == offered


def test_open_brackets_continue_on_the_next_line(shell: Shell, pipe: PipeInput) -> None:
    assert read(shell, pipe, 'echo({"a": 1,\r "b": 2})\r') == 'echo({"a": 1,\n "b": 2})'


def test_completer_failure_never_ends_the_session(
    shell: Shell, pipe: PipeInput, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(alias: str | None = None) -> list[str]:
        raise RuntimeError("bug in the completer")

    monkeypatch.setattr(shell, "method_names", broken)
    assert read(shell, pipe, "get\t\r") == "get"


def test_two_shells_share_one_history_file_without_losing_entries(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "history"
    first, second = PrivateFileHistory(path), PrivateFileHistory(path)
    for n in range(20):
        (first if n % 2 else second).append_string(f"echo({n})")
    loaded = list(PrivateFileHistory(path).load_history_strings())
    assert sorted(loaded) == sorted(f"echo({n})" for n in range(20))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_lines_with_secrets_stay_out_of_the_history_file(tmp_path: Path) -> None:
    path = tmp_path / "history"
    history = PrivateFileHistory(path)
    history.append_string(".connect https://h:8443/A/B --token eyJhbGciOi.secret")
    history.append_string("ping()")
    assert "eyJhbGciOi" not in path.read_text()
    assert "+ping()" in path.read_text()


def test_history_with_invalid_bytes_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "history"
    path.write_bytes(b"\n# 2026-01-01\n+echo('\xff\xfe')\n\n# 2026-01-02\n+ping()\n")
    assert list(PrivateFileHistory(path).load_history_strings()) == [
        "ping()",
        "echo('\ufffd\ufffd')",
    ]


def test_unwritable_home_falls_back_to_memory_with_one_warning(tmp_path: Path) -> None:
    # A file where the data directory should be: unwritable even for root.
    (tmp_path / "data").write_text("not a directory")
    out = io.StringIO()
    history = open_history(tmp_path / "data" / "history", Printer(out, color=False))
    assert isinstance(history, InMemoryHistory)
    assert out.getvalue().count("\n") == 1
    assert "history not saved" in out.getvalue()


def test_connect_completes_aliases_then_configured_services(
    shell: Shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = Path(__file__).parent / "data" / "dirac-v9.cfg"
    monkeypatch.setenv("DIRACSH_DIRAC_CFG", str(data))
    shell.aliases = {"jobs": "https://h:8443/WorkloadManagement/JobMonitoring"}
    assert complete(shell, ".connect j") == [".connect jobs"]  # never waits
    deadline = time.monotonic() + 10
    while "WorkloadManagement/JobMonitoring" not in shell.connect_targets():
        assert time.monotonic() < deadline, "configured services never loaded"
        time.sleep(0.05)
    assert complete(shell, ".connect WorkloadManagement/JobMo") == [
        ".connect WorkloadManagement/JobMonitoring"
    ]


def test_history_command_lists_recent_or_matching_lines(
    shell: Shell, tmp_path: Path
) -> None:
    history = PrivateFileHistory(tmp_path / "history")
    for line in ("ping()", "getJobStatus(12)", "killJob(13)", "getJobStatus(14)"):
        history.append_string(line)
    shell.history = history
    out = shell.printer.file
    shell.execute(".history 2")
    shell.execute(".history getJobStatus")
    assert out.getvalue().splitlines() == [  # type: ignore[attr-defined]
        "    3  killJob(13)",
        "    4  getJobStatus(14)",
        "    2  getJobStatus(12)",
        "    4  getJobStatus(14)",
    ]
