"""Stubs and cassettes: recorded DIRAC calls, kept in a file, matched and replayed.

A *stub* is DIRAC's ``((serviceName, kwargs), method, args)``, which
``executeRPC`` attaches to every result as ``rpcStub``. A *cassette* is a
pretty-printed JSON file of entries, each a stub with its recorded result::

    {"diracsh_cassette": 1, "entries": [{
        "stub": [["https://h:8443/Demo/Jobs", {"timeout": 600}], "getJobStatus", [12]],
        "result": {"OK": true, "Value": {"12": "Running"}},
        "time": 0.0031, "recorded": "2024-05-01T10:00:00+00:00"}]}

Values are written in DIRAC's JSON dialect, so datetimes, dates and bytes come
back exactly as they travelled (see :mod:`diracsh.jencode`).

* **Secrets never reach the file.** Stub keywords that hold credentials
  (``proxyString``, ``proxyChain``, ``accessToken``, ``passwordCallback``, a
  string under a password- or token-like name, anything with PEM text, a
  bearer token or a JWT) are dropped. In arguments and results, private-key PEM
  blocks, JWTs, ``Bearer`` values, strings under secret-like keys and the
  secrets the caller names are replaced by :data:`REDACTED`. ``rpcStub`` keys
  inside results are removed.
* **Files are written 0600 and atomically**: a temporary file beside the
  cassette replaces it, so a reader, an error or Ctrl-C never sees half a file.
  Appending rewrites the whole file the same way, under a lock on the
  directory, so two writers lose no entry.
* **Matching** (:func:`match`) compares the service path (``System/Component``,
  so another host or port still matches), the method and the arguments as the
  server decodes them: key order and spacing do not matter, ``1`` and ``"1"``
  do. A call that matches nothing raises :class:`NoMatch`, naming the closest
  recorded call and the first argument that differs.
* **Replaying** (:func:`replay_cassette`) runs each stub again against live
  services with the *caller's* credentials; security options in the file
  (``skipCACheck``, ``proxyLocation``, delegation, ...) are never used.
  Results are compared whole: a replayed ``ping`` is ``different``, because
  its time, uptime and load changed.

Errors: :class:`CassetteError` (a file that cannot be read, parsed or written,
or a value that cannot be stored) and :class:`NoMatch` (a call not recorded).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import json
import os
import pprint
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from diracsh import files, jencode

if sys.platform != "win32":
    import fcntl

__all__ = [
    "REDACTED",
    "CassetteError",
    "ClientPool",
    "Entry",
    "NoMatch",
    "Outcome",
    "Recorder",
    "append",
    "calls",
    "first_difference",
    "load",
    "make_entry",
    "match",
    "matching_indices",
    "replay_cassette",
    "replay_entry",
    "save",
    "secrets_of",
    "service_path",
    "summary",
]

FORMAT_KEY = "diracsh_cassette"
FORMAT_VERSION = 1
REDACTED = "<secret removed by diracsh>"

# Stub keywords that hold a credential or a live object: never written.
_SECRET_KWARGS = frozenset(
    {"proxyString", "proxyChain", "accessToken", "passwordCallback"}
)
# The only stub keywords a replay takes from the file; the rest (skipCACheck,
# proxyLocation, certFile, useAccessToken, delegatedDN, ...) come from the caller.
_REPLAYED_KWARGS = frozenset(
    {"timeout", "VO", "setup", "keepAliveLapse", "ignoreGateways"}
)
_SECRET_NAME = re.compile(
    r"token|password|passwd|passphrase|secret|private.?key|credential", re.IGNORECASE
)
_SECRET_KEY = re.compile(
    r"((access|refresh|id|bearer)_?)?token|password|passwd|passphrase|"
    r"(client_?)?secret|private_?key|proxy_?string",
    re.IGNORECASE,
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    re.DOTALL,
)
_PRIVATE_KEY_BYTES = re.compile(_PRIVATE_KEY.pattern.encode(), re.DOTALL)
_JWT = re.compile(r"eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*")
_BEARER = re.compile(r"(Bearer\s+)[\w.~+/=-]+", re.IGNORECASE)


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


# -- storing values safely -------------------------------------------------


def service_path(name: str) -> str:
    """``System/Component`` of a service URL (or of a name that already is one)."""
    first = name.split(",")[0].strip()
    if "://" in first:
        return urlsplit(first).path.strip("/")
    return first.strip("/")


def wire_form(value: Any) -> Any:
    """*value* as the peer decodes it: tuples become lists, keys strings, ..."""
    return jencode.loads(jencode.encode(value))


def clean_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The stub keywords that may be written: no credentials, no live objects."""
    kept: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _SECRET_KWARGS or callable(value):
            continue
        if isinstance(value, str | bytes) and _SECRET_NAME.search(str(key)):
            continue
        if _holds_secret_text(value):
            continue
        try:
            jencode.check(value)
        except jencode.EncodeError:
            continue  # a live object (an X509Chain, ...): nothing to replay with
        kept[str(key)] = value
    return kept


def _holds_secret_text(value: Any) -> bool:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        return (
            "-----BEGIN" in value
            or bool(_JWT.search(value))
            or bool(_BEARER.search(value))
        )
    if isinstance(value, dict):
        return any(_holds_secret_text(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_secret_text(v) for v in value)
    return False


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of *value* with key material, tokens and *secrets* replaced."""
    # Longest first, so that a proxy goes whole before any part of it.
    known = tuple(sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True))
    return _redact(value, known)


def _redact(value: Any, known: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _redact_text(value, known)
    if isinstance(value, bytes):
        return _redact_bytes(value, known)
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(item, str | bytes) and _SECRET_KEY.fullmatch(str(key))
            else _redact(item, known)
            for key, item in value.items()
            if key != "rpcStub"
        }
    if isinstance(value, list | tuple):
        return [_redact(item, known) for item in value]
    return value


def _redact_text(text: str, known: tuple[str, ...]) -> str:
    # Known secrets first: a proxy's text is no longer whole once its key is gone.
    for secret in known:
        text = text.replace(secret, REDACTED)
    text = _PRIVATE_KEY.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def _redact_bytes(data: bytes, known: tuple[str, ...]) -> bytes:
    for secret in known:
        data = data.replace(secret.encode(), REDACTED.encode())
    return _PRIVATE_KEY_BYTES.sub(REDACTED.encode(), data)


def secrets_of(options: Mapping[str, Any]) -> list[str]:
    """The secret texts a client with these keywords would use (token, proxy PEM).

    Give them to :class:`Recorder` and :func:`replay_entry` so that, say, an
    ``echo`` of your own token is never written and still compares equal.
    """
    from diracsh.client.credentials import CredentialError, find_credential

    try:
        credential = find_credential(options)
    except CredentialError:
        return [str(options["accessToken"])] if options.get("accessToken") else []
    return [text for text in (credential.token, credential.pem) if text]


def make_entry(
    stub: Any, result: Mapping[str, Any], seconds: float, secrets: Iterable[str] = ()
) -> Entry:
    """An :class:`Entry` from a stub and its result, cleaned for storing.

    :param secrets: strings to remove wherever they appear (the token or
        proxy text the caller used, for instance).
    """
    try:
        (service, kwargs), method, args = stub
    except (TypeError, ValueError):
        raise CassetteError(
            f"not a stub: expected ((serviceName, kwargs), method, args), "
            f"got {stub!r:.100}"
        ) from None
    if not isinstance(service, str) or not isinstance(method, str):
        raise CassetteError(
            f"not a stub: service and method must be strings ({stub!r:.100})"
        )
    known = list(secrets)
    try:
        return Entry(
            service=service,
            kwargs=wire_form(clean_kwargs(dict(kwargs or {}))),
            method=method,
            args=wire_form(redact(list(args or []), known)),
            result=wire_form(redact(dict(result), known)),
            time=round(float(seconds), 6),
            recorded=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
    except jencode.EncodeError as exc:
        raise CassetteError(f"cannot record {method}: {exc}") from exc


def entry_from_result(
    result: Mapping[str, Any], seconds: float, secrets: Iterable[str] = ()
) -> Entry:
    """An :class:`Entry` from a result of ``executeRPC`` (which carries its stub)."""
    stub = result.get("rpcStub")
    if stub is None:
        raise CassetteError(
            "the result has no rpcStub: only results of executeRPC can be recorded"
        )
    return make_entry(stub, result, seconds, secrets)


# -- the file --------------------------------------------------------------


def dumps(entries: Sequence[Entry]) -> str:
    """The cassette text: pretty-printed JSON, values with DIRAC's markers."""
    document = {
        FORMAT_KEY: FORMAT_VERSION,
        "entries": [
            {
                "stub": [[e.service, e.kwargs], e.method, e.args],
                "result": e.result,
                "time": e.time,
                "recorded": e.recorded,
            }
            for e in entries
        ],
    }
    try:
        # jencode writes the markers; re-reading as plain JSON keeps them as dicts.
        plain = json.loads(jencode.encode(document))
    except jencode.EncodeError as exc:
        raise CassetteError(f"cannot store the cassette: {exc}") from exc
    return json.dumps(plain, indent=2, ensure_ascii=False) + "\n"


def loads(text: str | bytes, where: str = "cassette") -> list[Entry]:
    """The entries of a cassette's text; :class:`CassetteError` says what is wrong."""
    try:
        document = jencode.loads(text)
    except jencode.DecodeError as exc:
        raise CassetteError(f"{where} is not a cassette: {exc}") from exc
    if not isinstance(document, dict) or FORMAT_KEY not in document:
        raise CassetteError(
            f"{where} is not a diracsh cassette (no {FORMAT_KEY!r} key): "
            "record one with .record FILE"
        )
    if document[FORMAT_KEY] != FORMAT_VERSION:
        raise CassetteError(
            f"{where} is cassette version {document[FORMAT_KEY]!r}; this diracsh "
            f"reads version {FORMAT_VERSION}: upgrade diracsh"
        )
    raw = document.get("entries")
    if not isinstance(raw, list):
        raise CassetteError(f"{where}: 'entries' must be a list")
    return [_entry(item, f"{where} entry {n}") for n, item in enumerate(raw, 1)]


def _entry(item: Any, where: str) -> Entry:
    try:
        (service, kwargs), method, args = item["stub"]
        result, seconds = item["result"], float(item.get("time", 0.0))
    except (TypeError, ValueError, KeyError) as exc:
        raise CassetteError(
            f"{where} is not {{'stub': [[service, kwargs], method, args], "
            f"'result': {{...}}, 'time': seconds}} ({exc})"
        ) from None
    if not (
        isinstance(service, str)
        and isinstance(method, str)
        and isinstance(kwargs, dict)
        and isinstance(args, list)
        and isinstance(result, dict)
    ):
        raise CassetteError(
            f"{where}: service and method must be strings, kwargs and result "
            "objects, args a list"
        )
    return Entry(
        service, kwargs, method, args, result, seconds, str(item.get("recorded", ""))
    )


def load(path: str | os.PathLike[str]) -> list[Entry]:
    """Read a cassette file."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise CassetteError(f"cannot read cassette {path}: {exc.strerror}") from exc
    return loads(text, str(path))


def save(path: str | os.PathLike[str], entries: Sequence[Entry]) -> None:
    """Write a cassette atomically, mode 0600."""
    _write_private(Path(path), dumps(entries))


def append(path: str | os.PathLike[str], entries: Sequence[Entry]) -> int:
    """Add *entries* to a cassette (created if missing); returns the new count.

    The whole file is rewritten atomically under a lock on its directory: a
    reader never sees half a file, and two writers lose no entry. That costs
    a rewrite per call, which is fine for cassettes a person records.
    """
    target = Path(path)
    with _locked(target.parent):
        existing = load(target) if target.exists() else []
        combined = [*existing, *entries]
        save(target, combined)
    return len(combined)


def _write_private(path: Path, text: str) -> None:
    try:
        files.write_private(path, text)
    except OSError as exc:
        if not os.access(path.parent, os.W_OK):
            where = f"into {path.parent}"
        else:
            where = str(path)
        raise CassetteError(f"cannot write {where}: {exc.strerror}") from exc


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    if sys.platform == "win32":
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise CassetteError(f"cannot open {directory}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class Recorder:
    """Appends every call it is given to a cassette, as each one completes.

    An existing cassette is appended to; any other existing file is refused
    rather than overwritten. A new cassette is written at once (empty), so a
    path that cannot be written fails here and not after the first call.
    """

    def __init__(
        self, path: str | os.PathLike[str], secrets: Iterable[str] = ()
    ) -> None:
        self.path = Path(path)
        self.secrets = list(secrets)
        if self.path.exists():
            self.count = len(load(self.path))
        else:
            save(self.path, [])
            self.count = 0
        self.added = 0

    def record(self, result: Mapping[str, Any], seconds: float) -> Entry:
        """Store a result of ``executeRPC``; returns what was written."""
        entry = entry_from_result(result, seconds, self.secrets)
        self.count = append(self.path, [entry])
        self.added += 1
        return entry


# -- matching --------------------------------------------------------------


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def call_text(path: str, method: str, args: Sequence[Any]) -> str:
    """``System/Component.method(arg, ...)``, shortened for one line."""
    shown = ", ".join(_show(arg) for arg in args)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{path}.{method}({shown})"


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


# -- replaying -------------------------------------------------------------

Client = Any  # a TornadoClient, or anything with executeRPC(method, *args)
ClientSource = Mapping[str, Client] | Callable[[Entry], Client]


@dataclass(frozen=True)
class Outcome:
    """What happened when one entry was replayed."""

    entry: Entry
    result: dict[str, Any] | None  # the live result, cleaned like the recorded one
    seconds: float = 0.0
    problem: str = ""  # why the call was not made
    diff: str = ""  # recorded -> live, when asked for and different

    @property
    def same(self) -> bool:
        return (
            self.result is not None
            and first_difference(self.entry.result, self.result, "result") is None
        )

    @property
    def state(self) -> str:
        if self.result is None:
            return "not run"
        return "same" if self.same else "different"

    def lines(self, with_diff: bool = False) -> list[str]:
        """One line for people (plus the indented diff when asked for)."""
        call = self.entry.call_text()
        if self.result is None:
            return [f"not run    {call}: {self.problem}"]
        timing = (
            f"({self.seconds * 1000:.1f} ms, recorded {self.entry.time * 1000:.1f} ms)"
        )
        head = [f"{self.state:<10} {call}  {timing}"]
        if with_diff and not self.same:
            head.extend(f"    {line}" for line in self.diff.splitlines())
        return head


def result_diff(recorded: Any, live: Any) -> str:
    """A unified diff of the pretty-printed results (dict keys sorted)."""
    before = pprint.pformat(recorded, width=88, sort_dicts=True).splitlines()
    after = pprint.pformat(live, width=88, sort_dicts=True).splitlines()
    lines = list(
        difflib.unified_diff(before, after, "recorded", "live", lineterm="", n=2)
    )
    if lines:
        return "\n".join(lines)
    # Same text, different types (1 and 1.0 print alike in some places).
    return first_difference(recorded, live, "result") or ""


def _client_for(entry: Entry, clients: ClientSource) -> Client:
    if isinstance(clients, Mapping):
        client = clients.get(entry.path)
        if client is None:
            raise LookupError(f"not connected to {entry.path}: .connect its URL first")
        return client
    return clients(entry)


def replay_entry(
    entry: Entry,
    clients: ClientSource,
    *,
    diff: bool = True,
    secrets: Iterable[str] = (),
) -> Outcome:
    """Run one entry's call again and compare its result with the recorded one.

    :param clients: ``{System/Component: client}``, or a function giving the
        client for an entry (see :class:`ClientPool`).
    """
    try:
        client = _client_for(entry, clients)
    except Exception as exc:  # a factory that fails is this entry's outcome
        return Outcome(entry, None, problem=str(exc))

    started = time.perf_counter()
    raw = client.executeRPC(entry.method, *entry.args)
    seconds = time.perf_counter() - started

    try:
        live = wire_form(redact(dict(raw), secrets))
    except jencode.EncodeError as exc:
        return Outcome(
            entry, None, seconds, problem=f"result cannot be compared: {exc}"
        )
    outcome = Outcome(entry, live, seconds)
    if diff and not outcome.same:
        outcome = Outcome(entry, live, seconds, diff=result_diff(entry.result, live))
    return outcome


def replay_cassette(
    entries: Iterable[Entry],
    clients_or_factory: ClientSource,
    diff: bool = True,
    secrets: Iterable[str] = (),
) -> list[Outcome]:
    """Replay every entry in order; see :func:`replay_entry`.

    >>> pool = ClientPool({"proxyLocation": "proxy.pem"})  # doctest: +SKIP
    >>> [o.state for o in replay_cassette(load("calls.json"), pool)]  # doctest: +SKIP
    ['same', 'same', 'different']
    """
    known = list(secrets)
    return [
        replay_entry(e, clients_or_factory, diff=diff, secrets=known) for e in entries
    ]


def summary(outcomes: Sequence[Outcome]) -> str:
    """``3 calls replayed: 2 same, 1 different, 0 not run``."""
    counts = {state: 0 for state in ("same", "different", "not run")}
    for outcome in outcomes:
        counts[outcome.state] += 1
    return f"{calls(len(outcomes))} replayed: " + ", ".join(
        f"{n} {state}" for state, n in counts.items()
    )


def calls(count: int) -> str:
    """``1 call``, ``2 calls``."""
    return f"{count} call" if count == 1 else f"{count} calls"


@dataclass
class ClientPool:
    """Makes (and reuses) one client per service URL, with the caller's credentials.

    :param options: ``TornadoClient`` keywords: credentials, CA location,
        ``skipCACheck``. The file gives only ``timeout``, ``VO``, ``setup``,
        ``keepAliveLapse`` and ``ignoreGateways``; the caller's options win.
    :param server: ``https://host:port`` to send every call to, instead of
        the URLs in the cassette (the ``System/Component`` path is kept).
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    server: str | None = None
    _clients: dict[str, Client] = field(default_factory=dict, init=False, repr=False)

    def url(self, entry: Entry) -> str:
        if self.server:
            return f"{self.server.rstrip('/')}/{entry.path}"
        return entry.service

    def __call__(self, entry: Entry) -> Client:
        from diracsh.client import TornadoClient

        url = self.url(entry)
        if url not in self._clients:
            from_file = {k: v for k, v in entry.kwargs.items() if k in _REPLAYED_KWARGS}
            self._clients[url] = TornadoClient(url, **{**from_file, **self.options})
        return self._clients[url]

    def close(self) -> None:
        for client in self._clients.values():
            client._close()
        self._clients.clear()
