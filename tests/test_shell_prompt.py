"""The real PromptSession driven through prompt_toolkit's pipe input: keys, completion,
multi-line input, history."""

from __future__ import annotations

import concurrent.futures
import io
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from diracsh.client import TornadoClient
from diracsh.shell.app import (
    PrivateFileHistory,
    make_prompt_session,
    open_history,
    run_block,
    toolbar,
)
from diracsh.shell.completer import ShellCompleter
from diracsh.shell.render import Printer
from diracsh.shell.session import Connection, Shell
from diracsh.testing import DemoService


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


Ready = Callable[[PromptSession[str]], bool]


def prompting(
    session: PromptSession[str],
) -> concurrent.futures.Future[str]:
    """The line *session* returns, read in a thread of its own."""
    line: concurrent.futures.Future[str] = concurrent.futures.Future()

    def run() -> None:
        try:
            line.set_result(session.prompt("> "))
        except BaseException as exc:
            line.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return line


def typed(
    shell: Shell,
    pipe: PipeInput,
    steps: list[tuple[str, Ready | None]],
    history: History | None = None,
) -> str:
    """The line a real PromptSession returns for keys sent in steps.

    Completion and history loading run in the session's event loop, so each
    step's keys are sent once the session shows the previous step's effect.
    """
    session = make_prompt_session(
        shell, history or InMemoryHistory(), input=pipe, output=DummyOutput()
    )
    line = prompting(session)
    for keys, ready in steps:
        pipe.send_text(keys)
        deadline = time.monotonic() + 10
        while ready is not None and not ready(session):
            text = session.app.current_buffer.text
            assert time.monotonic() < deadline, f"after {keys!r} the line is {text!r}"
            time.sleep(0.01)
    return line.result(timeout=10)


def text_is(expected: str) -> Ready:
    return lambda session: session.default_buffer.text == expected


def test_tab_completes_a_method_in_the_prompt(shell: Shell, pipe: PipeInput) -> None:
    steps: list[tuple[str, Ready | None]] = [
        ("getJobSt\t", text_is("getJobStatus(")),
        ("12)\r", None),
    ]
    assert typed(shell, pipe, steps) == "getJobStatus(12)"


def test_enter_on_a_menu_entry_takes_it_without_running_the_line(
    shell: Shell, pipe: PipeInput
) -> None:
    steps: list[tuple[str, Ready | None]] = [
        ("getJob\t", lambda s: s.default_buffer.complete_state is not None),
        ("\t", text_is("getJobAttributes(")),
        ("\r", lambda s: s.default_buffer.complete_state is None),
        ("12)\r", None),
    ]
    assert typed(shell, pipe, steps) == "getJobAttributes(12)"


def test_ctrl_r_finds_a_history_line_and_enter_takes_it(
    shell: Shell, pipe: PipeInput
) -> None:
    history = InMemoryHistory()
    for line in ("getJobStatus(12)", "killJob(13)", "ping()"):
        history.append_string(line)
    steps: list[tuple[str, Ready | None]] = [
        ("\x12getJobSt", lambda s: s.app.current_buffer.text == "getJobSt"),
        ("\r", text_is("getJobStatus(12)")),
        ("\r", None),
    ]
    assert typed(shell, pipe, steps, history) == "getJobStatus(12)"


def test_a_pasted_block_of_commands_runs_each_in_order(
    shell: Shell, pipe: PipeInput
) -> None:
    block = ".format json\n.methods kill\n.help getJobStatus\n.format\n"
    paste = f"\x1b[200~{block}\x1b[201~"
    text = typed(shell, pipe, [(paste, text_is(block)), ("\r", None)])
    run_block(shell, text)
    assert shell.printer.file.getvalue().splitlines() == [  # type: ignore[attr-defined]
        "killJob(jobID: int)  - d",
        "getJobStatus(jobID: int)",
        "    d",
        ".format python|json|raw (now json)",
    ]


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
    shown = shell.printer.file.getvalue()  # type: ignore[attr-defined]
    assert shown == (
        "completion failed (RuntimeError: bug in the completer); see the log\n"
    )


_APPENDER = """
import sys
from pathlib import Path
from diracsh.shell.app import PrivateFileHistory
history = PrivateFileHistory(Path(sys.argv[1]))
for n in range(100):
    history.append_string(f"echo({sys.argv[2]!r}, {n}, " + "x" * 20000 + ")")
"""


def test_long_entries_from_two_processes_never_mix(tmp_path: Path) -> None:
    path = tmp_path / "history"
    writers = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, str(path), name])
        for name in ("a", "b")
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]
    loaded = list(PrivateFileHistory(path).load_history_strings())
    expected = [
        f"echo({name!r}, {n}, " + "x" * 20000 + ")"
        for name in ("a", "b")
        for n in range(100)
    ]
    assert sorted(loaded) == sorted(expected)


def test_a_history_file_that_stops_being_writable_ends_nothing(
    shell: Shell, pipe: PipeInput, tmp_path: Path
) -> None:
    path = tmp_path / "history"
    history = PrivateFileHistory(path)
    history.append_string("ping()")
    path.unlink()
    path.mkdir()  # the file is gone, and cannot be made again

    steps: list[tuple[str, Ready | None]] = [("getJobStatus(12)\r", None)]
    assert typed(shell, pipe, steps, history) == "getJobStatus(12)"
    history.append_string("killJob(13)")

    assert history.warning == (
        f"history no longer saved: cannot write {path} (Is a directory)"
    )
    assert list(history.get_strings()) == ["ping()", "getJobStatus(12)", "killJob(13)"]


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


def test_lines_with_the_sessions_own_token_stay_out_of_the_history(
    tmp_path: Path,
) -> None:
    shell = Shell(Printer(io.StringIO(), color=False))
    shell.connect("https://127.0.0.1:1/Demo/Jobs", "t", accessToken="plain-token-42")
    history = PrivateFileHistory(tmp_path / "history")
    history.secrets = shell._secrets  # as the interactive loop sets it
    history.append_string("echo('plain-token-42')")
    history.append_string("echo('another')")
    text = (tmp_path / "history").read_text()
    assert "plain-token-42" not in text
    assert "+echo('another')" in text


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


def test_the_prompt_redraws_when_discovery_ends(
    diracsh_demo: DemoService, pipe: PipeInput
) -> None:
    shell = Shell(Printer(io.StringIO(), color=False))
    shell.defaults = {
        "proxyLocation": str(diracsh_demo.pki.proxy),
        "caLocation": str(diracsh_demo.pki.ca_dir),
    }
    shell.hold_discovery()
    session = make_prompt_session(
        shell, InMemoryHistory(), input=pipe, output=DummyOutput()
    )
    line = prompting(session)
    shell.connect(diracsh_demo.url("Demo/Jobs"))
    deadline = time.monotonic() + 10
    while session.app.render_counter == 0:
        assert time.monotonic() < deadline, "the prompt was never drawn"
        time.sleep(0.01)
    drawn = session.app.render_counter

    shell.release_discovery()  # no key is pressed from here on
    deadline = time.monotonic() + 20
    while session.app.render_counter == drawn:
        assert time.monotonic() < deadline, "the toolbar never showed discovery's end"
        time.sleep(0.01)

    assert toolbar(shell, "") == FormattedText(
        [("bold", " Demo/Jobs "), ("", " 14 methods ")]
    )
    pipe.send_text("ping()\r")
    assert line.result(timeout=10) == "ping()"


def test_methods_called_in_the_history_are_offered(
    shell: Shell, tmp_path: Path
) -> None:
    unlisted = TornadoClient("https://127.0.0.1:1/WorkloadManagement/Other")
    shell.connections["wms"] = Connection("wms", "", unlisted, {}, {}, "built-ins")
    shell.connections["Demo/Jobs"].listed = True  # its listMethods is complete
    history = PrivateFileHistory(tmp_path / "history")
    for line in (
        "getSites()",
        "wms.getJobPageSummaryWeb({}, [], 0, 10)",
        'Demo/Jobs.getJobStatus(12)\ngetSiteMask("Active",\n  "x")',
        ".get out.log 12",
    ):
        history.append_string(line)
    shell.history = history

    shell.learn_history()

    assert complete(shell, "wms.getS") == ["wms.getSiteMask(", "wms.getSites("]
    assert complete(shell, "wms.getJ") == ["wms.getJobPageSummaryWeb("]
    assert complete(shell, "getS") == []  # Demo/Jobs lists its own methods
    assert complete(shell, ".get") == [".get"]


@pytest.mark.parametrize("command", [".get", ".put", ".record", ".replay"])
def test_file_commands_complete_paths(
    shell: Shell, tmp_path: Path, command: str
) -> None:
    (tmp_path / "calls.json").write_text("{}")
    (tmp_path / "calls.log").write_text("")
    (tmp_path / "callsdir").mkdir()
    assert complete(shell, f"{command} {tmp_path}/calls.j") == [
        f"{command} {tmp_path}/calls.json"
    ]
    assert sorted(complete(shell, f"{command} {tmp_path}/ca")) == [
        f"{command} {tmp_path}/calls.json",
        f"{command} {tmp_path}/calls.log",
        f"{command} {tmp_path}/callsdir",
    ]
    assert complete(shell, f".use {tmp_path}/ca") == []


def test_the_toolbar_finds_the_call_at_the_end_of_a_long_line(shell: Shell) -> None:
    # 20,000 word characters took the unbounded search seconds, at every redraw.
    pasted = "x" * 20_000 + " getJobStatus(1, "
    assert toolbar(shell, pasted) == FormattedText(
        [("bold", " getJobStatus(jobID: int) - d ")]
    )
    assert toolbar(shell, "x" * 20_000) == FormattedText(
        [("bold", " Demo/Jobs "), ("", " discovering methods ")]
    )
