"""DIRAC result dicts: ``S_OK`` / ``S_ERROR`` and errno helpers.

A result is a plain dict, as in DIRAC: ``{"OK": True, "Value": v}`` or
``{"OK": False, "Errno": n, "Message": text}``. With a non-zero errno the
message is written the way DIRAC writes it:
``"<strerror> ( <errno> : <message>)"``.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Any

__all__ = ["S_ERROR", "S_OK", "isReturnStructure", "returnValueOrRaise", "strerror"]

EACCES = _errno.EACCES  # 13: refused by the server (HTTP 401/403)
ENOSYS = _errno.ENOSYS  # 38: the service has no such method (HTTP 501)


def S_OK(value: Any = None) -> dict[str, Any]:  # noqa: N802 - DIRAC's name
    """A successful result carrying *value*."""
    return {"OK": True, "Value": value}


def S_ERROR(*args: Any) -> dict[str, Any]:  # noqa: N802 - DIRAC's name
    """A failed result: ``S_ERROR(message)`` or ``S_ERROR(errno, message)``."""
    errno = 0
    message = ""
    if args and isinstance(args[0], int) and not isinstance(args[0], bool):
        errno = args[0]
        message = str(args[1]) if len(args) > 1 else ""
    elif args:
        message = str(args[0])

    if errno:
        message = f"{strerror(errno)} ( {errno} : {message})"
    return {"OK": False, "Errno": errno, "Message": message}


def strerror(code: int) -> str:
    """The text DIRAC puts in front of an errno (``os.strerror`` for system codes)."""
    if code == 0:
        return "Undefined error"
    try:
        return os.strerror(code)
    except ValueError:
        return f"Unknown error {code}"


def isReturnStructure(value: Any) -> bool:  # noqa: N802 - DIRAC's name
    """True if *value* looks like an ``S_OK``/``S_ERROR`` dict."""
    if not isinstance(value, dict) or not isinstance(value.get("OK"), bool):
        return False
    return "Value" in value if value["OK"] else "Message" in value


class ResultError(RuntimeError):
    """Raised by :func:`returnValueOrRaise` for an ``S_ERROR``."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(result.get("Message", ""))
        self.errno = int(result.get("Errno") or 0)
        self.result = result


def returnValueOrRaise(result: dict[str, Any]) -> Any:  # noqa: N802 - DIRAC's name
    """The ``Value`` of an ``S_OK``; raise :class:`ResultError` for an ``S_ERROR``."""
    if result.get("OK"):
        return result.get("Value")
    raise ResultError(result)
