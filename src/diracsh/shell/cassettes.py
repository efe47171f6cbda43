"""``.record`` and ``.replay``: the shell's cassette commands.

A mixin of :class:`~diracsh.shell.session.Shell`; it uses the shell's printer,
connections and :meth:`wait`. ``diracsh.stubs`` is imported when a command
first needs it, so that a shell that never records starts without it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diracsh.shell.commands import COMMANDS
from diracsh.shell.parser import ParseError

if TYPE_CHECKING:
    from diracsh.shell.render import Printer
    from diracsh.shell.session import Connection
    from diracsh.stubs import Entry, Outcome, Recorder

__all__ = ["CassetteCommands"]


class CassetteCommands:
    """Recording calls to a cassette, and making a cassette's calls again."""

    printer: Printer
    recorder: Recorder | None
    defaults: dict[str, Any]
    connections: dict[str, Connection]
    _passphrases: dict[str, str]
    failures: int

    if TYPE_CHECKING:

        def wait(
            self, job: Callable[[], Any], on_cancel: Callable[[], None] | None = None
        ) -> Any: ...

    def cmd_record(self, argv: list[str]) -> None:
        from diracsh.stubs import CassetteError, Recorder, calls

        if not argv:
            self._recording_status()
            return
        if len(argv) != 1:
            raise ParseError(COMMANDS["record"])
        if argv == ["off"]:
            self._stop_recording()
            return
        self.recorder = None
        try:
            self.recorder = Recorder(argv[0], secrets=self._secrets())
        except CassetteError as exc:
            raise ParseError(f"not recording: {exc}") from exc
        count = self.recorder.count
        after = f" after its {calls(count)}" if count else ""
        self.printer.info(
            f"recording every call to {argv[0]}{after}; .record off stops"
        )

    def _recording_status(self) -> None:
        from diracsh.stubs import calls

        if self.recorder is None:
            self.printer.plain("not recording: .record FILE starts")
        else:
            added = calls(self.recorder.added)
            self.printer.plain(
                f"recording to {self.recorder.path} ({added} so far): .record off stops"
            )

    def _stop_recording(self) -> None:
        from diracsh.stubs import calls

        recorder, self.recorder = self.recorder, None
        if recorder is None:
            self.printer.plain("not recording")
        else:
            self.printer.info(f"recorded {calls(recorder.added)} to {recorder.path}")

    def _record(self, result: dict[str, Any], seconds: float) -> None:
        if self.recorder is None:
            return
        from diracsh.stubs import CassetteError

        try:
            self.recorder.record(result, seconds)
        except CassetteError as exc:
            self.recorder = None
            self.failures += 1
            self.printer.error(f"recording stopped: {exc}")

    def _secrets(self) -> list[str]:
        from diracsh.stubs import secrets_of

        found = set(secrets_of(self.defaults)) | set(self._passphrases.values())
        for connection in list(self.connections.values()):
            found.update(secrets_of(connection.options))
        return sorted(found)

    def cmd_replay(self, argv: list[str]) -> None:
        from diracsh.stubs import CassetteError, load

        files = [a for a in argv if a != "--diff"]
        if len(files) != 1 or any(a.startswith("--") and a != "--diff" for a in argv):
            raise ParseError(COMMANDS["replay"])
        try:
            entries = load(files[0])
        except CassetteError as exc:
            raise ParseError(str(exc)) from exc
        self._replay_all(entries, diff="--diff" in argv)

    def _replay_all(self, entries: list[Entry], diff: bool) -> None:
        from diracsh.stubs import replay_entry, service_path, summary

        clients = {service_path(c.url): c.client for c in self.connections.values()}
        secrets = self._secrets()
        outcomes: list[Outcome] = []
        for entry in entries:
            job = functools.partial(
                replay_entry, entry, clients, diff=diff, secrets=secrets
            )
            outcome: Outcome = self.wait(job)
            self._show_outcome(outcome, diff)
            outcomes.append(outcome)
        self.printer.info(summary(outcomes))
        if not all(outcome.same for outcome in outcomes):
            self.failures += 1  # as `diracsh replay` exits 1

    def _show_outcome(self, outcome: Outcome, diff: bool) -> None:
        head, *rest = outcome.lines(with_diff=diff)
        if outcome.same:
            self.printer.plain(head)
        else:
            self.printer.error(head)
        for line in rest:
            self.printer.plain(line)
