"""All prompt_toolkit wiring in one place: the prompt, history, toolbar, keys.

The loop: Ctrl-C clears the line (or cancels a running call), Ctrl-D on an
empty line leaves, every statement runs inside its own error boundary.
"""

from __future__ import annotations

import datetime
import io
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.enums import DEFAULT_BUFFER
from prompt_toolkit.filters import has_focus
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from diracsh.config import private_dir
from diracsh.methods import BUILTIN_METHODS, signature
from diracsh.shell.completer import ShellCompleter
from diracsh.shell.parser import has_secret, is_complete, split_statements
from diracsh.shell.render import Printer
from diracsh.shell.session import ExitShell, Shell

__all__ = ["interactive_loop", "make_prompt_session", "piped_loop"]

log = logging.getLogger("diracsh.shell")

_CALL_AT_CURSOR = re.compile(r"(?:([\w./:-]+)\.)?([A-Za-z_]\w*)\s*\([^()]*$")
# The toolbar looks for that call in the end of the line only: the search
# is quadratic in a run of word characters, and runs at every redraw.
_TOOLBAR_WINDOW = 400


class PrivateFileHistory(FileHistory):
    """History in a 0600 file, without lines that carry secrets.

    Each entry is appended with one write to a file opened for appending, so
    two shells sharing the file lose nothing and never mix their entries
    (prompt_toolkit's own FileHistory writes in 8 KiB pieces). Undecodable
    bytes in the file are replaced, not fatal. A file that stops being
    writable keeps the rest of the session's history in memory, with one
    warning in :attr:`warning`.
    """

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        super().__init__(str(path))
        self.path = path
        self.saving = True
        self.warning: str | None = None  # taken and shown by the prompt loop
        # The session's own secrets (its tokens, passphrases), set by the loop:
        # a line holding one is not saved, whatever its shape.
        self.secrets: Callable[[], Iterable[str]] = lambda: ()

    def store_string(self, string: str) -> None:
        if has_secret(string) or not self.saving:
            return
        if any(len(secret) >= 4 and secret in string for secret in self.secrets()):
            return
        lines = "".join(f"+{line}\n" for line in string.split("\n"))
        data = f"\n# {datetime.datetime.now()}\n{lines}".encode("utf-8", "replace")
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
            try:
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
        except OSError as exc:
            self.saving = False
            self.warning = (
                f"history no longer saved: cannot write {self.path} ({exc.strerror})"
            )


def open_history(path: Path, printer: Printer) -> History:
    try:
        return PrivateFileHistory(path)
    except OSError as exc:
        printer.error(f"history not saved: cannot write {path} ({exc.strerror})")
        return InMemoryHistory()


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    # Only in the input line: Enter in a Ctrl-R search keeps its own meaning
    # (take the line found).
    @bindings.add("enter", filter=has_focus(DEFAULT_BUFFER))
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        state = buffer.complete_state
        if state is not None:
            buffer.complete_state = None  # close the menu, keep what it put in
            if state.current_completion is not None:
                return  # Enter on a menu entry takes that entry, as Tab would
        if is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return bindings


def make_prompt_session(
    shell: Shell, history: History, **io: Any
) -> PromptSession[str]:
    """The one PromptSession of a shell session (``input=``/``output=`` for tests)."""
    made: list[PromptSession[str]] = []
    session: PromptSession[str] = PromptSession(
        history=history,
        completer=ShellCompleter(shell),
        complete_while_typing=False,
        auto_suggest=AutoSuggestFromHistory(),
        enable_history_search=False,
        key_bindings=_key_bindings(),
        multiline=True,
        prompt_continuation=lambda width, line, soft: "." * (width - 1) + " ",
        bottom_toolbar=lambda: toolbar(
            shell, made[0].default_buffer.document.text_before_cursor
        ),
        **io,
    )
    made.append(session)
    shell.on_change = session.app.invalidate  # the toolbar shows discovery's end
    return session


def toolbar(shell: Shell, text: str) -> FormattedText:
    """Service and discovery state, or the signature of the method at the cursor."""
    try:
        if not shell.current:
            return FormattedText([("", " not connected: .connect URL ")])
        connection = shell.connections[shell.current]
        parts = [("bold", f" {connection.alias} "), ("", f" {connection.status} ")]
        match = _CALL_AT_CURSOR.search(text[-_TOOLBAR_WINDOW:])
        if match:
            alias = match.group(1) or shell.current
            target = shell.connections.get(alias, connection)
            method = match.group(2)
            info = target.methods.get(method) or BUILTIN_METHODS.get(method)
            if info:
                doc = f" - {info['doc']}" if info.get("doc") else ""
                parts = [("bold", f" {signature(method, info)}{doc} ")]
        return FormattedText(parts)
    except Exception:  # the toolbar must never end the session
        log.exception("toolbar failed")
        return FormattedText([])


def interactive_loop(shell: Shell, history: History, *, vi_mode: bool = False) -> int:
    """Read, run, print until Ctrl-D or .exit; returns the exit status."""
    session = make_prompt_session(shell, history, vi_mode=vi_mode)
    shell.history = history
    if isinstance(history, PrivateFileHistory):
        history.secrets = shell._secrets

    def first_render(app: object) -> None:
        session.app.after_render -= first_render
        shell.release_discovery()

    session.app.after_render += first_render
    while True:
        try:
            text = session.prompt(lambda: f"{shell.current or 'diracsh'}> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        finally:
            if isinstance(history, PrivateFileHistory) and history.warning:
                shell.printer.error(history.warning)
                history.warning = None
        try:
            run_block(shell, text)
        except ExitShell:
            return 0


def run_block(shell: Shell, text: str) -> None:
    for statement in split_statements(text):
        try:
            shell.execute(statement)
        except KeyboardInterrupt:
            shell.printer.error("cancelled")


def piped_loop(shell: Shell, lines: Iterable[str] | None = None) -> int:
    """Run statements read from a pipe, in order.

    Returns 0 when every statement succeeded, 1 when any failed (an S_ERROR,
    a statement that could not be read), 130 when Ctrl-C stopped the run.
    """
    shell.wait_for_discovery = True  # the type check and .help need the methods
    if lines is None:
        # Bytes that are not UTF-8 become U+FFFD rather than ending the run.
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        lines = stdin
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    for statement in split_statements(text):
        try:
            shell.execute(statement)
        except ExitShell:
            break
        if shell.interrupted:
            return 130
    return 1 if shell.failures else 0
