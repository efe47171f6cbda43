"""What the shell asks of the catalog: a service's methods, and the type check
before a call is sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from diracsh.catalog.cache import default_catalog
from diracsh.catalog.model import Catalog
from diracsh.methods import BUILTIN_METHODS


def methods_for(
    service_name: str,
    listing: Mapping[str, Any] | None,
    *,
    catalog: Catalog | None = None,
) -> dict[str, dict[str, Any]]:
    """The methods of a service, keyed by name, each with ``args``, ``types``,
    ``doc``, ``auth`` and ``name`` (and ``required`` when scanned).

    *listing* is the ``Value`` of the service's ``listMethods`` when it has
    one; otherwise the catalog (default: :func:`default_catalog`) is asked
    for *service_name*, a ``System/Component`` or an https URL. The built-ins
    are always there.
    """
    if listing is None:
        name = urlsplit(service_name).path if "://" in service_name else service_name
        found = (catalog or default_catalog()).methods(name)
        if found:
            return found
        listing = {}
    merged = {**BUILTIN_METHODS, **{str(n): _entry(i) for n, i in listing.items()}}
    return {name: {**info, "name": name} for name, info in sorted(merged.items())}


def _entry(info: Any) -> dict[str, Any]:
    """A listing entry with the catalog's keys and types, whatever was sent."""
    info = info if isinstance(info, Mapping) else {}
    doc = str(info.get("doc") or "").strip()
    entry: dict[str, Any] = {
        key: [str(v) for v in info.get(key) or []] for key in ("args", "types", "auth")
    }
    required = info.get("required")
    if isinstance(required, int) and not isinstance(required, bool):
        entry["required"] = required
    return {**entry, "doc": doc.splitlines()[0] if doc else ""}


_TYPES: dict[str, type] = {
    t.__name__: t for t in (int, float, str, bytes, bool, list, dict, tuple, object)
}
_TYPES.update({"NoneType": type(None), "datetime": datetime, "date": date})


def check_call(
    entry: Mapping[str, Any], args: Sequence[Any], method: str | None = None
) -> str | None:
    """What DIRAC's type check would say about calling *entry* with *args*, or None.

    The values are checked as the server decodes them (a tuple arrives as a
    list). A type the catalog names but Python does not know is not checked.
    """
    name = method or str(entry.get("name") or "this method")
    types = list(entry.get("types") or [])
    for index, (want, arg) in enumerate(zip(types, args, strict=False)):
        allowed = _python_types(str(want))
        arrived = list(arg) if isinstance(arg, tuple) else arg
        if allowed is not None and not isinstance(arrived, allowed):
            # As DIRAC prints the types_ entry: str() of a type or of a tuple
            # (the catalog does not keep whether the source wrote a list).
            expected = allowed[0] if len(allowed) == 1 else allowed
            return (
                f"Type mismatch in parameter {index} (starting with param 0) "
                f"Received {type(arrived)}, expected {expected}"
            )

    minimum = max(len(types), int(entry.get("required") or 0))
    if len(args) < minimum:
        return f"Function {name} expects at least {minimum} arguments"
    params = [str(p) for p in entry.get("args") or []]
    if "args" in entry and not any(p.startswith("*") for p in params):
        if len(args) > len(params):
            names = f" ({', '.join(params)})" if params else ""
            return (
                f"Function {name} takes at most {len(params)} arguments{names}, "
                f"{len(args)} given"
            )
    return None


def _python_types(want: str) -> tuple[type, ...] | None:
    names = [part.strip() for part in want.split("|")]
    if "any" in names or any(n not in _TYPES for n in names):
        return None
    return tuple(_TYPES[n] for n in names)
