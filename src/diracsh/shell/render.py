"""How results look on screen: pretty-printed, coloured with pygments, timed.

This is the one module of the shell that writes to the person.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import pprint
import signal
import sys
from typing import Any, TextIO

from diracsh import jencode

__all__ = ["FORMATS", "Printer", "format_result"]

FORMATS = ("python", "json", "raw")


def format_result(
    result: Any, fmt: str = "python", width: int = 100, *, shorten: bool = False
) -> str:
    """The text of a result in one of :data:`FORMATS` (``rpcStub`` left out).

    With *shorten*, long bytes and strings are cut for the screen (a 1 GiB
    ``streamToClient`` result would otherwise take minutes to print).
    """
    if isinstance(result, dict):
        result = {k: v for k, v in result.items() if k != "rpcStub"}
    if fmt == "raw":  # the wire text: cut as a whole, never value by value
        text = jencode.encode_unchecked(result)
        if shorten and len(text) > _LONG_RAW:
            text = f"{text[:_LONG_RAW]}... ({len(text):,} characters in all)"
        return text
    if shorten:
        result = _shortened(result)
    if fmt == "json":
        # JSON has no NaN or Infinity: they are shown as the strings Python writes.
        return json.dumps(
            _finite(result), indent=2, default=_json_default, ensure_ascii=False
        )
    return pprint.pformat(result, width=width, sort_dicts=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # 'nan', 'inf', '-inf'
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


_LONG = 2048  # characters or bytes of one value shown on screen
_LONG_RAW = 100_000  # characters of raw wire text shown on screen


class _Cut:
    """Stands for a value too long to show; prints as a note of what it was."""

    def __init__(self, value: str | bytes) -> None:
        unit = "bytes" if isinstance(value, bytes) else "characters"
        self.text = f"{value[:64]!r}... ({len(value):,} {unit})"

    def __repr__(self) -> str:
        return f"<{self.text}>"


def _shortened(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return _Cut(value) if len(value) > _LONG else value
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_shortened(item) for item in value)
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, _Cut):
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return (
            value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
        )
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return repr(value)


class Printer:
    """Writes results, errors and notes; colour only on a terminal."""

    def __init__(
        self,
        file: TextIO | None = None,
        *,
        color: bool | None = None,
        style: str = "default",
    ) -> None:
        self.file = file or sys.stdout
        self.color = self.file.isatty() if color is None else color
        self.fmt = "python"
        self.style_name = style  # a pygments style, loaded on first use
        self._style: Any = None

    def result(self, result: Any, elapsed_ms: float | None = None) -> None:
        timing = f"({elapsed_ms:.1f} ms)" if elapsed_ms is not None else ""
        if isinstance(result, dict) and result.get("OK") is False:
            errno = result.get("Errno") or 0
            self.error(f"S_ERROR errno {errno}: {result.get('Message', '')}", timing)
            return
        text = format_result(result, self.fmt, shorten=True)
        # Piped JSON stays machine-readable: no timing after it.
        plain_data = not self.color and self.fmt in ("json", "raw")
        suffix = f"  {timing}" if timing and not plain_data else ""
        if self.color and self.fmt != "raw":
            self._highlighted(text, suffix)
        else:
            self._write(text + suffix)

    def error(self, message: str, suffix: str = "") -> None:
        line = f"{message}  {suffix}" if suffix else message
        self._write(line, "ansired bold")

    def info(self, message: str) -> None:
        self._write(message, "ansicyan")

    def plain(self, message: str) -> None:
        self._write(message)

    def transfer_progress(self, label: str) -> TransferProgress:
        """A progress bar for a transfer, shown only on a terminal for big ones."""
        return TransferProgress(label, enabled=self.color)

    def _write(self, text: str, style: str = "") -> None:
        if not self.color or not style:
            print(text, file=self.file, flush=True)
            return
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.formatted_text import FormattedText

        print_formatted_text(FormattedText([(style, text)]), file=self.file)

    def _highlighted(self, text: str, suffix: str = "") -> None:
        from prompt_toolkit import print_formatted_text
        from prompt_toolkit.formatted_text import (
            FormattedText,
            PygmentsTokens,
            merge_formatted_text,
        )
        from pygments.lexers.python import PythonLexer

        tokens = list(PythonLexer().get_tokens(text))
        while tokens and tokens[-1][1] == "\n":  # the lexer ends with a newline
            tokens.pop()
        parts: list[Any] = [
            PygmentsTokens(tokens),
            FormattedText([("ansibrightblack", suffix)]),
        ]
        print_formatted_text(
            merge_formatted_text(parts), file=self.file, style=self._pygments_style()
        )

    def _pygments_style(self) -> Any:
        if self._style is None:
            from prompt_toolkit.styles.pygments import style_from_pygments_cls
            from pygments.styles import get_style_by_name
            from pygments.util import ClassNotFound

            try:
                self._style = style_from_pygments_cls(
                    get_style_by_name(self.style_name)
                )
            except ClassNotFound:
                self.error(f"no pygments style {self.style_name!r}; using the default")
                self.style_name = "default"
                return self._pygments_style()
        return self._style


def _interrupt_main_thread() -> None:
    os.kill(os.getpid(), signal.SIGINT)  # a real signal wakes a blocked wait


class TransferProgress:
    """A prompt_toolkit progress bar in MiB, started once a transfer proves long.

    Updated from the transfer's thread; nothing is drawn for transfers under
    :attr:`MIN_BYTES` or of unknown size, or when output is not a terminal.
    """

    MIN_BYTES = 8 * 1024 * 1024

    def __init__(self, label: str, *, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self._bar: Any = None
        self._counter: Any = None

    def update(self, done: int, total: int | None) -> None:
        if not self.enabled or total is None or total < self.MIN_BYTES:
            return
        if self._bar is None:
            from prompt_toolkit.shortcuts import ProgressBar

            # The bar runs its own application, which reads the keys: made from
            # the transfer's thread it would swallow Ctrl-C, so pass it on to
            # the main thread as prompt_toolkit does for a bar made there.
            self._bar = ProgressBar(cancel_callback=_interrupt_main_thread)
            self._bar.__enter__()
            self._counter = self._bar(label=self.label, total=total >> 20)
        self._counter.items_completed = done >> 20
        self._bar.invalidate()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
