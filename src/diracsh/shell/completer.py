"""Tab completion: commands, methods, aliases and file paths, from caches only.

Completion never waits on the network: methods come from the discovery cache
filled in the background. A failure inside the completer yields nothing and
shows one red line above the prompt, instead of ending the session.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Iterable

from prompt_toolkit.application import get_app, run_in_terminal
from prompt_toolkit.completion import (
    CompleteEvent,
    Completer,
    Completion,
    PathCompleter,
)
from prompt_toolkit.document import Document

from diracsh.shell.commands import COMMANDS
from diracsh.shell.parser import redact
from diracsh.shell.session import Shell

__all__ = ["ShellCompleter"]

log = logging.getLogger("diracsh.shell")

_PATH_COMMANDS = {"get", "put", "record", "replay"}
_ALIAS_COMMANDS = {"use", "disconnect"}
_WORD = re.compile(r"[\w./:-]*$")


def _starting_with(names: list[str], prefix: str) -> Iterable[str]:
    """The names with *prefix*, found by bisection in the sorted list."""
    for name in names[bisect.bisect_left(names, prefix) :]:
        if not name.startswith(prefix):
            return
        yield name


class ShellCompleter(Completer):
    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self._paths = PathCompleter(expanduser=True)

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        try:
            yield from self._completions(document, complete_event)
        except Exception as exc:  # a completer bug must never end the session
            log.exception("completion failed for %r", redact(document.text))
            self._report(exc)

    def _report(self, exc: Exception) -> None:
        """One red line above the prompt; the line being typed stays as it was."""
        message = f"completion failed ({type(exc).__name__}: {exc}); see the log"
        if get_app().is_running:
            run_in_terminal(lambda: self.shell.printer.error(message))
        else:
            self.shell.printer.error(message)

    def _completions(
        self, document: Document, event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        stripped = text.lstrip()
        if stripped.startswith("."):
            yield from self._command_completions(stripped, document, event)
            return
        if "(" in text:
            return  # inside arguments: nothing sensible to offer yet
        match = _WORD.search(text)
        word = match.group(0) if match else ""
        yield from self.complete_name(word)

    def complete_name(self, word: str) -> Iterable[Completion]:
        """Methods of the current service, ``alias.method`` and aliases."""
        alias, dot, prefix = word.rpartition(".")
        if dot and alias in self.shell.connections:
            for name in _starting_with(self.shell.method_names(alias), prefix):
                yield Completion(name + "(", -len(prefix), display=name)
            return
        for name in _starting_with(self.shell.method_names(), word):
            yield Completion(name + "(", -len(word), display=name)
        for alias_name in self.shell.connections:
            if alias_name.startswith(word) and alias_name != self.shell.current:
                yield Completion(alias_name + ".", -len(word), display=alias_name + ".")

    def _command_completions(
        self, text: str, document: Document, event: CompleteEvent
    ) -> Iterable[Completion]:
        name, space, rest = text[1:].partition(" ")
        if not space:
            for command in sorted(set(COMMANDS) | {"quit"}):
                if command.startswith(name):
                    yield Completion(command, -len(name))
            return
        if name in _ALIAS_COMMANDS:
            word = rest.split(" ")[-1]
            for alias in self.shell.connections:
                if alias.startswith(word):
                    yield Completion(alias, -len(word))
        elif name == "connect" and " " not in rest.strip():
            word = rest.split(" ")[-1]
            for target in self.shell.connect_targets():
                if target.startswith(word):
                    yield Completion(target, -len(word))
        elif name == "help":
            yield from (
                Completion(c.text.rstrip("("), c.start_position, display=c.display)
                for c in self.complete_name(rest.split(" ")[-1])
            )
        elif name in _PATH_COMMANDS and " " not in rest.strip():
            word = rest.split(" ")[-1]
            yield from self._paths.get_completions(Document(word, len(word)), event)
