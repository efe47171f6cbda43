"""Reading what the person typed: a call, a shell command, or nothing yet.

A call is ``method(arg, ...)`` on the current service or ``alias.method(...)``
on another; an alias may contain ``/`` (``Demo/Files.listFiles()``). Arguments
are Python literals plus ``datetime(...)``, ``date(...)`` and bytes literals,
read with :mod:`ast` and never evaluated. Keyword arguments are refused: DIRAC
RPC is positional only.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Call",
    "Command",
    "ParseError",
    "called_method",
    "is_complete",
    "literal_args",
    "parse_line",
    "split_statements",
]

_TARGET = re.compile(r"^\s*(?:(?P<alias>[\w./:-]+?)\.)?(?P<method>[A-Za-z_]\w*)\s*\(")
_CONSTRUCTORS = {"datetime": dt.datetime, "date": dt.date}


# Input that carries a secret: a token flag and its value, a bearer token, a JWT.
_SECRET = re.compile(
    r"(--token|--password|--passphrase)(\s+|=)\S+"
    r"|(Bearer\s+)\S+"
    r"|eyJ[\w-]{8,}\.[\w-]+\.[\w-]*",
    re.IGNORECASE,
)


def has_secret(line: str) -> bool:
    """Whether a line holds a secret (such lines are kept out of the history)."""
    return _SECRET.search(line) is not None


def redact(line: str) -> str:
    """*line* with its secrets replaced, fit for a log."""
    return _SECRET.sub(lambda m: f"{m[1] or m[3] or ''}{m[2] or ''}***", line)


class ParseError(ValueError):
    """The line is not a call or command; the message says what to type instead."""


@dataclass(frozen=True)
class Call:
    method: str
    args: tuple[Any, ...] = ()
    alias: str | None = None


@dataclass(frozen=True)
class Command:
    name: str
    argv: list[str] = field(default_factory=list)


def parse_line(line: str) -> Call | Command | None:
    """Parse one complete input; None for an empty line or a comment."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("."):
        return _command(text[1:])
    word = text.split(None, 1)[0]
    if word in ("help", "exit", "quit", "?"):
        return _command(text if word != "?" else "help")
    return parse_call(text)


def _command(text: str) -> Command:
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise ParseError(f"cannot read the command: {exc}") from exc
    if not parts:
        raise ParseError("a command name must follow '.', e.g. .help")
    return Command(parts[0].lower(), parts[1:])


def parse_call(text: str) -> Call:
    """Parse ``[alias.]method(args)`` into a :class:`Call`."""
    match = _TARGET.match(text)
    if match is None:
        raise ParseError(f"not a call: {text!r:.60}; write method(arg, ...) or .help")
    open_at = match.end() - 1
    try:
        tree = ast.parse("f" + text[open_at:], mode="eval")
    except SyntaxError as exc:
        raise ParseError(f"cannot read the arguments: {exc.msg}") from exc
    except (RecursionError, MemoryError):  # Python's parser gives up
        raise ParseError(
            "cannot read the arguments: too deeply nested; pass a plain literal"
        ) from None
    node = tree.body
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        raise ParseError(
            f"not a single call: {text!r:.60}; write one method(arg, ...) per line"
        )
    if node.keywords:
        names = ", ".join(k.arg or "**" for k in node.keywords)
        raise ParseError(
            f"keyword arguments ({names}) are not possible: DIRAC RPC is "
            "positional only, pass the values in order"
        )
    args = tuple(literal(arg) for arg in node.args)
    return Call(match["method"], args, match["alias"])


def literal(node: ast.expr) -> Any:
    """The value of a literal expression; datetime()/date() allowed, nothing run."""
    if isinstance(node, ast.Starred):
        raise ParseError("*args is not possible in a call: write the values out")
    if isinstance(node, ast.Call):
        return _construct(node)
    if isinstance(node, ast.Dict):
        keys = [literal(k) if k is not None else _no_unpack() for k in node.keys]
        return dict(zip(keys, (literal(v) for v in node.values), strict=True))
    if isinstance(node, ast.List):
        return [literal(item) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(literal(item) for item in node.elts)
    if isinstance(node, ast.Set):
        return {literal(item) for item in node.elts}
    if isinstance(node, ast.Name) and node.id in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[node.id]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError) as exc:
        shown = ast.unparse(node)
        raise ParseError(
            f"{shown!r:.40} is not a literal value: use numbers, strings, lists, "
            "dicts, True/False/None, datetime(...), date(...) or b'...'"
        ) from exc


def _no_unpack() -> Any:
    raise ParseError("**dict unpacking is not possible in a call: write the dict out")


def _construct(node: ast.Call) -> Any:
    name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
    factory = _CONSTRUCTORS.get(name)
    if factory is None:
        raise ParseError(
            f"{name}(...) cannot be used in arguments: only datetime(...) and "
            "date(...) are understood"
        )
    if node.keywords:
        raise ParseError(
            f"{name}(...) takes positional numbers, e.g. {name}(2024, 1, 2)"
        )
    parts = [literal(arg) for arg in node.args]
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        raise ParseError(f"{name}(...) takes integers, e.g. {name}(2024, 1, 2)")
    try:
        return factory(*parts)
    except (TypeError, ValueError) as exc:
        raise ParseError(f"{name}{tuple(parts)} is not a valid {name}: {exc}") from exc


def literal_args(words: list[str]) -> list[Any]:
    """Command words as values: literals where they read as one, else strings.

    ``.get out.log 12`` passes the integer 12; ``.get out.log std.out`` the
    string ``"std.out"``. A word with brackets, quotes or ``=`` was meant as
    a literal: if it is not a valid one, that is an error, not a string.
    """
    values = []
    for word in words:
        try:
            values.append(literal(ast.parse(word, mode="eval").body))
        except (SyntaxError, ParseError) as exc:
            if _LITERAL_SYNTAX.search(word):
                reason = exc.msg if isinstance(exc, SyntaxError) else str(exc)
                raise ParseError(
                    f"argument {word!r} is not a valid literal ({reason}); "
                    "to send it as a string, quote it: '\"...\"'"
                ) from None
            values.append(word)
    return values


# Characters a bare word (a file name, a job ID) does not hold but a literal does.
_LITERAL_SYNTAX = re.compile(r"""[()\[\]{}'"=]""")


def called_method(statement: str) -> tuple[str | None, str] | None:
    """``(alias, method)`` of a statement that reads as a call, else None.

    Only the head is read (``alias.method(``): history lines whose arguments
    no longer parse still name a method.
    """
    match = _TARGET.match(statement)
    if match is None or statement.lstrip().startswith("."):
        return None
    return match["alias"], match["method"]


def is_complete(text: str) -> bool:
    """False while a call still waits for more lines: an unclosed bracket or an
    unclosed triple-quoted string. Anything else is complete, errors included
    (they are reported, not waited on: one typo must not swallow what follows).
    """
    stripped = text.strip()
    if not stripped or stripped.startswith((".", "#")):
        return True
    match = _TARGET.match(stripped)
    source = "f" + stripped[match.end() - 1 :] if match else stripped
    try:
        compile(source, "<input>", "eval", dont_inherit=True)
    except SyntaxError as exc:
        message = str(exc.msg)
        return not ("was never closed" in message or "unterminated triple" in message)
    except (ValueError, RecursionError, MemoryError):
        # NUL characters, or nesting Python cannot parse: complete, and
        # reported as such when run (raising here would end the prompt).
        return True
    return True


def split_statements(text: str) -> list[str]:
    """Split a pasted block into statements: each complete call or command."""
    statements: list[str] = []
    pending = ""
    for line in text.splitlines():
        pending = f"{pending}\n{line}" if pending else line
        if is_complete(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements
