"""What a cassette holds: entries (a stub with its result), and the errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class CassetteError(Exception):
    """A cassette that cannot be read or written, or a value it cannot hold."""


class NoMatch(LookupError):
    """No recorded call matches; the message names the closest one and why."""

    def __init__(self, message: str, closest: Entry | None = None) -> None:
        super().__init__(message)
        self.closest = closest


Stub = tuple[tuple[str, dict[str, Any]], str, list[Any]]


@dataclass(frozen=True)
class Entry:
    """One recorded call: the stub's parts, its result and how long it took."""

    service: str  # as recorded: a URL or System/Component
    kwargs: dict[str, Any]
    method: str
    args: list[Any]
    result: dict[str, Any]
    time: float = 0.0
    recorded: str = ""

    @property
    def path(self) -> str:
        """``System/Component``, whatever host the call went to."""
        return service_path(self.service)

    @property
    def stub(self) -> Stub:
        """DIRAC's ``((serviceName, kwargs), method, args)``, for ``executeRPCStub``."""
        return ((self.service, dict(self.kwargs)), self.method, list(self.args))

    def call_text(self) -> str:
        return call_text(self.path, self.method, self.args)


def service_path(name: str) -> str:
    """``System/Component`` of a service URL (or of a name that already is one)."""
    first = name.split(",")[0].strip()
    if "://" in first:
        return urlsplit(first).path.strip("/")
    return first.strip("/")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def call_text(path: str, method: str, args: Sequence[Any]) -> str:
    """``System/Component.method(arg, ...)``, shortened for one line."""
    shown = ", ".join(_show(arg) for arg in args)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{path}.{method}({shown})"
