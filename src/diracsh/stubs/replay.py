"""Replaying entries against live services and comparing their results."""

from __future__ import annotations

import difflib
import pprint
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from diracsh import jencode
from diracsh.stubs.entry import Entry
from diracsh.stubs.matching import first_difference
from diracsh.stubs.redaction import redact, wire_form

# The only stub keywords a replay takes from the file; the rest (skipCACheck,
# proxyLocation, certFile, useAccessToken, delegatedDN, ...) come from the caller.
_REPLAYED_KWARGS = frozenset(
    {"timeout", "VO", "setup", "keepAliveLapse", "ignoreGateways"}
)

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
    startup = getattr(client, "_startup_problem", None)
    problem = startup() if startup is not None else None
    if problem is not None:  # no credential, no CA: nothing could be sent
        return Outcome(entry, None, problem=str(problem.get("Message")))

    started = time.perf_counter()
    raw = client.executeRPC(entry.method, *entry.args)
    seconds = time.perf_counter() - started
    status = getattr(client, "_last_status", None)
    if status is not None and not status().isdigit() and not raw.get("OK"):
        # Refused connection, TLS failure, timeout: the service never answered.
        return Outcome(entry, None, seconds, problem=str(raw.get("Message")))

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
