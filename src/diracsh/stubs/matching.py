"""Matching a call against the recorded ones, and saying why one does not match."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from diracsh import jencode
from diracsh.stubs.entry import Entry, NoMatch, _show, call_text, service_path
from diracsh.stubs.redaction import redact, wire_form


def first_difference(recorded: Any, given: Any, where: str = "args") -> str | None:
    """Where *given* first differs from *recorded* (None if equal, types included)."""
    if isinstance(recorded, dict) and isinstance(given, dict):
        return _dict_difference(recorded, given, where)
    if isinstance(recorded, list) and isinstance(given, list):
        return _list_difference(recorded, given, where)
    if type(recorded) is not type(given):
        return (
            f"{where}: recorded {_show(recorded)} ({type(recorded).__name__}), "
            f"the call has {_show(given)} ({type(given).__name__})"
        )
    if recorded != given:
        return f"{where}: recorded {_show(recorded)}, the call has {_show(given)}"
    return None


def _dict_difference(
    recorded: dict[Any, Any], given: dict[Any, Any], where: str
) -> str | None:
    for key in sorted(set(recorded) | set(given), key=str):
        here = f"{where}[{key!r}]"
        if key not in given:
            return f"{here}: recorded {_show(recorded[key])}, missing from the call"
        if key not in recorded:
            return f"{here}: the call has {_show(given[key])}, not in the recording"
        found = first_difference(recorded[key], given[key], here)
        if found:
            return found
    return None


def _list_difference(recorded: list[Any], given: list[Any], where: str) -> str | None:
    for index in range(max(len(recorded), len(given))):
        here = f"{where}[{index}]"
        if index >= len(given):
            return f"{here}: recorded {_show(recorded[index])}, missing from the call"
        if index >= len(recorded):
            return f"{here}: the call has {_show(given[index])}, not in the recording"
        found = first_difference(recorded[index], given[index], here)
        if found:
            return found
    return None


def _comparable_args(args: Sequence[Any]) -> list[Any]:
    try:
        return list(redact(wire_form(list(args))))
    except jencode.EncodeError as exc:
        raise NoMatch(f"the arguments cannot be sent: {exc}") from exc


def matching_indices(
    entries: Sequence[Entry], service: str, method: str, args: Sequence[Any]
) -> list[int]:
    """Indices of the entries recorded for this exact call, in recorded order."""
    path, wanted = service_path(service), _comparable_args(args)
    return [
        index
        for index, entry in enumerate(entries)
        if entry.path == path
        and entry.method == method
        and first_difference(entry.args, wanted) is None
    ]


def match(
    entries: Sequence[Entry], service: str, method: str, args: Sequence[Any]
) -> Entry:
    """The first entry recorded for this call; :class:`NoMatch` explains a miss.

    *service* is a URL or ``System/Component``: only the path is compared.
    """
    found = matching_indices(entries, service, method, args)
    if found:
        return entries[found[0]]
    raise explain_miss(entries, service, method, args)


def explain_miss(
    entries: Sequence[Entry], service: str, method: str, args: Sequence[Any]
) -> NoMatch:
    """A :class:`NoMatch` naming the closest recorded call and what differs."""
    path, wanted = service_path(service), _comparable_args(args)
    asked = call_text(path, method, wanted)
    if not entries:
        return NoMatch(f"no recorded call matches {asked}: the cassette is empty")
    same_service = [e for e in entries if e.path == path]
    if not same_service:
        paths = ", ".join(sorted({e.path for e in entries}))
        return NoMatch(f"no recorded call to {path}: the cassette has calls to {paths}")
    same_method = [e for e in same_service if e.method == method]
    if not same_method:
        names = sorted({e.method for e in same_service})
        close = difflib.get_close_matches(method, names, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return NoMatch(
            f"no recorded call to {path}.{method}{hint}: the cassette has "
            f"{', '.join(names)} for {path}"
        )
    closest = max(same_method, key=lambda e: _closeness(e.args, wanted))
    number = entries.index(closest) + 1
    difference = first_difference(closest.args, wanted)
    return NoMatch(
        f"no recorded call matches {asked}: the closest is {closest.call_text()} "
        f"(entry {number}), which differs at {difference}",
        closest,
    )


def _closeness(recorded: list[Any], given: list[Any]) -> tuple[int, float]:
    equal = sum(
        first_difference(r, g) is None for r, g in zip(recorded, given, strict=False)
    )
    text = difflib.SequenceMatcher(None, repr(recorded), repr(given)).ratio()
    return equal - abs(len(recorded) - len(given)), text
