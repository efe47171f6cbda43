"""The service kit: a service is a class with ``export_<name>`` methods.

Like a DIRAC handler, a service declares, per method:

* ``export_<name>(self, ...)``: the method, returning ``S_OK``/``S_ERROR``;
* ``auth_<name>``: who may call it: ``["all"]`` (anyone with a credential),
  ``["authenticated"]`` (a caller the server's registry knows, as in DIRAC),
  or a list of DNs and properties (any one suffices); the class attribute
  ``DEFAULT_AUTHORIZATION`` applies otherwise;
* ``types_<name>``: the types of the leading arguments (a type, a tuple of
  types, or None to skip one), checked before the call with DIRAC's messages.

Every service answers ``ping``, ``echo``, ``whoami`` and ``listMethods``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import inspect
import os
import re
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from diracsh import __version__
from diracsh.results import S_ERROR, S_OK

__all__ = ["Service", "remote_credentials"]

_credentials: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "diracsh_credentials"
)
_EVERYONE = {"all", "any"}


def remote_credentials() -> dict[str, Any]:
    """The caller of the method running now (DIRAC's credentials dict)."""
    return _credentials.get({})


def utcnow() -> dt.datetime:
    """DIRAC's clock: naive UTC, whole seconds travel."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class AnswerStatus(Exception):  # noqa: N818 - not an error: an answer
    """Raised by a method to answer with an HTTP status instead of a result
    (the replay service gives a recorded 401, 500 or 501 back as it came)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


class Service:
    """Base class of a kit service; subclasses set ``name`` to ``System/Component``."""

    name: ClassVar[str] = ""
    DEFAULT_AUTHORIZATION: ClassVar[Sequence[str]] = ("authenticated",)

    auth_ping: ClassVar[Sequence[str]] = ("all",)
    auth_echo: ClassVar[Sequence[str]] = ("all",)
    auth_whoami: ClassVar[Sequence[str]] = ("authenticated",)
    auth_listMethods: ClassVar[Sequence[str]] = ("all",)

    def __init__(self) -> None:
        self.started = utcnow()
        self.url = ""
        # Set when the server stops: long-running methods should return early.
        self.stopping = threading.Event()

    # -- dispatch ----------------------------------------------------------

    def lookup(self, method: str) -> Callable[..., Any] | None:
        """The bound ``export_`` method for *method*, or None."""
        if not method.isidentifier():
            return None
        function = getattr(self, f"export_{method}", None)
        return function if callable(function) else None

    def authorization(self, method: str) -> list[str]:
        """Who may call *method* (DNs, properties, ``all`` or ``authenticated``)."""
        rule = getattr(self, f"auth_{method}", None) or self.DEFAULT_AUTHORIZATION
        if isinstance(rule, str):
            rule = rule.split(",")
        return [str(entry).strip() for entry in rule if str(entry).strip()]

    def authorize(self, method: str, credentials: dict[str, Any] | None) -> bool:
        """Whether a caller with *credentials* (None: anonymous) may call *method*."""
        rule = {entry.lower() for entry in self.authorization(method)}
        if rule & _EVERYONE:
            return True
        if credentials is None:
            return False
        if "authenticated" in rule and credentials.get("validDN"):
            # As DIRAC's AuthManager: a verified but unregistered identity
            # passes only "all" (as anonymous), a listed DN or property.
            return True
        held = {p.lower() for p in credentials.get("properties", [])}
        held.add(str(credentials.get("DN", "")).lower())
        return bool(rule & held)

    def validate(self) -> None:
        """Raise ValueError or TypeError, naming it, for a declaration that could
        only fail at call time (a bad name, ``types_``, ``auth_``)."""
        if not _SERVICE_NAME.fullmatch(self.name):
            raise ValueError(
                f"{type(self).__name__}.name is {self.name!r}: it must be "
                "'System/Component' (letters, digits, '_', '-', '.')"
            )
        for attribute in dir(self):
            value = getattr(self, attribute, None)
            if attribute.startswith("types_"):
                entries = value if isinstance(value, list | tuple) else None
                if entries is None or not all(_is_type_entry(e) for e in entries):
                    raise TypeError(
                        f"{type(self).__name__}.{attribute} must be a list of types, "
                        f"tuples or lists of types, or None; not {value!r}"
                    )
            elif attribute.startswith("auth_") and value is not None:
                if not isinstance(value, str | list | tuple):
                    raise TypeError(
                        f"{type(self).__name__}.{attribute} must be a comma string "
                        f"or a list of DNs and properties, not {value!r}"
                    )

    def check_types(self, method: str, args: Sequence[Any]) -> dict[str, Any] | None:
        """An ``S_ERROR`` if *args* do not match ``types_<method>``, else None."""
        expected = getattr(self, f"types_{method}", None)
        if expected is None:
            return None
        for index, (want, arg) in enumerate(zip(expected, args, strict=False)):
            if want is None:
                continue
            wanted = tuple(want) if isinstance(want, list | tuple) else (want,)
            if not isinstance(arg, wanted):  # True is an int, as in DIRAC
                return S_ERROR(
                    f"Type mismatch in parameter {index} (starting with param 0) "
                    f"Received {type(arg)}, expected {want}"  # DIRAC's str(type)
                )
        if len(args) < len(expected):
            return S_ERROR(
                f"Function {method} expects at least {len(expected)} arguments"
            )
        return None

    def call(
        self, method: str, args: Sequence[Any], credentials: dict[str, Any] | None
    ) -> Any:
        """Run *method* as *credentials*; exceptions propagate (HTTP 500)."""
        function = self.lookup(method)
        assert function is not None
        mismatch = self.check_types(method, args) or _check_arity(
            function, method, args
        )
        if mismatch is not None:
            return mismatch
        token = _credentials.set(credentials or {})
        try:
            return function(*args)
        finally:
            _credentials.reset(token)

    # -- built-in methods --------------------------------------------------

    def export_ping(self) -> dict[str, Any]:
        """Say the service is alive: version, time, uptimes, load and CPU times."""
        info: dict[str, Any] = {"version": f"diracsh-{__version__}", "time": utcnow()}
        uptime = _read_first("/proc/uptime")
        if uptime:
            info["host uptime"] = int(float(uptime.split()[0]))
        info["service start time"] = self.started
        info["service uptime"] = int((utcnow() - self.started).total_seconds())
        load = _read_first("/proc/loadavg")
        if load:
            info["load"] = " ".join(load.split()[:3])
        info["name"] = self.name
        info["URL"] = self.url
        times = os.times()
        info["cpu times"] = {
            "user time": times[0],
            "system time": times[1],
            "children user time": times[2],
            "children system time": times[3],
            "elapsed real time": times[4],
        }
        return S_OK(info)

    def export_echo(self, data: Any) -> dict[str, Any]:
        """Send the argument back unchanged."""
        return S_OK(data)

    def export_whoami(self) -> dict[str, Any]:
        """Who the service thinks you are: DN, issuer, proxy or not, time left."""
        return S_OK(remote_credentials())

    def export_listMethods(self) -> dict[str, Any]:  # noqa: N802
        """Every method: argument names, types, first docstring line, who may call."""
        return S_OK({name: self.describe(name) for name in self.method_names()})

    # -- introspection -----------------------------------------------------

    def method_names(self) -> list[str]:
        names = (n[len("export_") :] for n in dir(self) if n.startswith("export_"))
        return sorted(name for name in names if self.lookup(name) is not None)

    def describe(self, method: str) -> dict[str, Any]:
        function = self.lookup(method)
        assert function is not None
        parameters = inspect.signature(function).parameters.values()
        types = getattr(self, f"types_{method}", None) or []
        doc = inspect.getdoc(function) or ""
        return {
            "args": [p.name for p in parameters if p.kind in _POSITIONAL]
            + [f"*{p.name}" for p in parameters if p.kind is p.VAR_POSITIONAL],
            "types": [_type_names(t) for t in types],
            "doc": doc.splitlines()[0] if doc else "",
            "auth": self.authorization(method),
            "required": sum(
                p.kind in _POSITIONAL and p.default is p.empty for p in parameters
            ),
        }


def _check_arity(
    function: Callable[..., Any], method: str, args: Sequence[Any]
) -> dict[str, Any] | None:
    """An S_ERROR for a call with too few or too many arguments (else a 500)."""
    try:
        inspect.signature(function).bind(*args)
    except TypeError as exc:
        return S_ERROR(f"Function {method} cannot take {len(args)} arguments: {exc}")
    return None


_POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)
_SERVICE_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def _is_type_entry(entry: Any) -> bool:
    if entry is None or isinstance(entry, type):
        return not isinstance(entry, types.GenericAlias)
    if isinstance(entry, list | tuple):
        return bool(entry) and all(
            isinstance(e, type) and not isinstance(e, types.GenericAlias) for e in entry
        )
    return False


def _type_names(want: Any) -> str:
    if want is None:
        return "any"
    if isinstance(want, list | tuple):
        return " | ".join(_type_names(w) for w in want)
    return getattr(want, "__name__", str(want))


def _read_first(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.readline()
    except OSError:
        return ""
