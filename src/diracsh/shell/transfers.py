"""``.get`` and ``.put``: the shell's file transfers, with a progress bar.

A mixin of :class:`~diracsh.shell.session.Shell`. Ctrl-C during ``.get``
cancels the download from inside its progress callback, so that the client
removes the partial file before the prompt returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diracsh.shell.commands import COMMANDS
from diracsh.shell.parser import ParseError, literal_args

if TYPE_CHECKING:
    from diracsh.shell.render import Printer
    from diracsh.shell.session import Connection

__all__ = ["TransferCancelled", "TransferCommands", "refused_before_sending"]


class TransferCancelled(Exception):
    """Raised inside a transfer's progress callback to stop it (Ctrl-C)."""


class TransferCommands:
    """Downloads (``receiveFile``) and uploads (``sendFile``) on the current service."""

    printer: Printer

    if TYPE_CHECKING:

        def connection(self, alias: str | None = None) -> Connection: ...

        def wait(
            self, job: Callable[[], Any], on_cancel: Callable[[], None] | None = None
        ) -> Any: ...

        def _show(self, result: dict[str, Any], elapsed_ms: float) -> None: ...

        def _record(self, result: dict[str, Any], seconds: float) -> None: ...

    def cmd_get(self, argv: list[str]) -> None:
        if not argv:
            raise ParseError(COMMANDS["get"])
        dest, args = argv[0], literal_args(argv[1:])
        connection = self.connection()
        cancelled = threading.Event()
        progress = self.printer.transfer_progress(f"{dest}")

        def report(done: int, total: int | None) -> None:
            if cancelled.is_set():
                raise TransferCancelled(dest)
            progress.update(done, total)

        started = time.perf_counter()
        client = connection.client
        try:
            result, status = self.wait(
                lambda: (
                    client.receive_file(dest, *args, progress=report),
                    client._last_status(),
                ),
                on_cancel=cancelled.set,
            )
        finally:
            progress.close()
        elapsed = (time.perf_counter() - started) * 1000
        refused_before_sending(result, status)
        if result.get("OK"):
            self.printer.info(
                f"saved {result['Value']} bytes to {dest} ({elapsed:.1f} ms)"
            )
        else:
            self._show(result, elapsed)

    def cmd_put(self, argv: list[str]) -> None:
        if len(argv) != 2:
            raise ParseError(COMMANDS["put"])
        path, file_id = argv[0], literal_args(argv[1:])[0]
        connection = self.connection()
        progress = self.printer.transfer_progress(path)
        started = time.perf_counter()
        client = connection.client
        try:
            result, status = self.wait(
                lambda: (
                    client.send_file(path, file_id, progress=progress.update),
                    client._last_status(),
                )
            )
        finally:
            progress.close()
        elapsed = (time.perf_counter() - started) * 1000
        refused_before_sending(result, status)
        self._show(result, elapsed)
        self._record(result, elapsed / 1000)


def refused_before_sending(result: dict[str, Any], status: str) -> None:
    """One red line (no timing, no cassette entry) for a call never sent: a
    file that cannot be read or written, arguments DIRAC cannot carry, an
    unusable credential."""
    if status in ("", "not sent") and not result.get("OK"):
        raise ParseError(str(result.get("Message")))
