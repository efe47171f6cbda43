"""What every service answers, and how a method's signature reads.

Shared by the catalog (:mod:`diracsh.catalog`) and the shell; small on
purpose, so the shell can use it before the catalog is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["BUILTIN_METHODS", "signature"]

BUILTIN_METHODS: dict[str, dict[str, Any]] = {
    "ping": {
        "args": [],
        "types": [],
        "doc": "Say the service is alive: version, time, uptimes, load and CPU times.",
        "auth": ["all"],
    },
    "echo": {
        "args": ["data"],
        "types": [],
        "doc": "Send the argument back unchanged.",
        "auth": ["all"],
    },
    "whoami": {
        "args": [],
        "types": [],
        "doc": "Who the service thinks you are (its credentials dictionary).",
        "auth": ["authenticated"],
    },
}


def signature(method: str, info: Mapping[str, Any]) -> str:
    """``name(arg: type, ..., optional=...)``: the types from ``types_`` where
    known, and ``=...`` after the arguments the handler gives a default."""
    types = list(info.get("types") or [])
    args = list(info.get("args") or [])
    required = info.get("required")
    if not isinstance(required, int):
        required = len(args)
    shown = []
    for i, arg in enumerate(args):
        text = f"{arg}: {types[i]}" if i < len(types) and types[i] != "any" else arg
        shown.append(text if i < required else f"{text}=...")
    return f"{method}({', '.join(shown)})"
