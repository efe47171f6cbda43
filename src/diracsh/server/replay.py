"""The cassette-replay service: answers calls with the results a cassette recorded.

One kit service per ``System/Component`` found in the cassette, all on one
port. A call is matched on its method and decoded arguments (see
:func:`diracsh.stubs.match`); when the same call was recorded several times,
the recorded results are given in order, and the last one again after that.
A call that matches nothing gets an ``S_ERROR`` naming the closest recorded
call and the first argument that differs. ``listMethods`` lists the recorded
methods; every other method, ``ping`` and ``whoami`` included, is answered
only from the cassette.

>>> server, pki = start_replay("calls.json", Path("state"))  # doctest: +SKIP
>>> server.url("Demo/Jobs")  # doctest: +SKIP
'https://127.0.0.1:40123/Demo/Jobs'
"""

from __future__ import annotations

import copy
import functools
import os
import re
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from diracsh.results import EACCES, ENOSYS, S_ERROR, S_OK
from diracsh.server.http import Server
from diracsh.server.service import AnswerStatus, Service
from diracsh.stubs import CassetteError, Entry, NoMatch, calls, explain_miss, load
from diracsh.stubs import matching_indices as find

if TYPE_CHECKING:
    from diracsh.server.pki import DemoPKI

__all__ = ["ReplayService", "replay_services", "start_replay"]


class ReplayService(Service):
    """Answers from recorded entries; made per service by :func:`replay_services`."""

    DEFAULT_AUTHORIZATION: ClassVar[Sequence[str]] = ("all",)

    def __init__(self, entries: Sequence[Entry]) -> None:
        super().__init__()
        # All entries, not only this service's: a miss can then say that the
        # call exists on another service.
        self.entries = list(entries)
        self.own = [e for e in self.entries if e.path == self.name]
        self._played: dict[tuple[int, ...], int] = {}
        self._lock = threading.Lock()

    def lookup(self, method: str) -> Callable[..., Any] | None:
        if not method.isidentifier():
            return None
        if method == "listMethods":
            return self.export_listMethods
        # Every other name is answered, so that a miss gets an explanation
        # instead of a bare 501.
        return functools.partial(self.answer, method)

    def answer(self, method: str, *args: Any) -> dict[str, Any]:
        """The recorded result of ``method(*args)``, or an ``S_ERROR`` saying why."""
        try:
            indices = find(self.entries, self.name, method, args)
        except NoMatch as exc:
            return S_ERROR(str(exc))
        if not indices:
            return S_ERROR(str(explain_miss(self.entries, self.name, method, args)))

        key = tuple(indices)
        with self._lock:
            turn = self._played.get(key, 0)
            self._played[key] = turn + 1
        entry = self.entries[indices[min(turn, len(indices) - 1)]]
        status = _recorded_status(entry.result)
        if status is not None:
            # The client made this result from an HTTP status: answer that
            # status, so the client names this server's URL, not the recorded.
            raise AnswerStatus(status, f"{method}: recorded HTTP {status}")
        # The server edits the dict it sends (drops ExecInfo): hand out a copy.
        return copy.deepcopy(entry.result)

    def export_listMethods(self) -> dict[str, Any]:  # noqa: N802
        """The recorded methods of this service, with their argument counts."""
        return S_OK({name: self.describe(name) for name in self.method_names()})

    def method_names(self) -> list[str]:
        return sorted({e.method for e in self.own} | {"listMethods"})

    def describe(self, method: str) -> dict[str, Any]:
        if method == "listMethods":
            return super().describe(method)
        recorded = [e for e in self.own if e.method == method]
        listed = self._recorded_listing().get(method)
        described = dict(listed) if isinstance(listed, dict) else {}
        longest = max((len(e.args) for e in recorded), default=0)
        described.setdefault("args", [f"arg{n}" for n in range(1, longest + 1)])
        described.setdefault("types", [])
        described["doc"] = f"replays {calls(len(recorded))} recorded" + (
            f": {described['doc']}" if described.get("doc") else ""
        )
        described["auth"] = self.authorization(method)
        return described

    def _recorded_listing(self) -> dict[str, Any]:
        """The service's own listMethods answer, if the cassette holds one."""
        for entry in self.own:
            value = entry.result.get("Value")
            if entry.method == "listMethods" and isinstance(value, dict):
                return value
        return {}


_NO_ACCESS = re.compile(r".* \( 13 : No access to https://\S+\)")
_HTTP_FAILURE = re.compile(r"unexpected answer from https://\S+: HTTP (\d{3})\b")


def _recorded_status(result: dict[str, Any]) -> int | None:
    """The HTTP status a recorded result was made from by the client, if any."""
    if result.get("OK") is not False:
        return None
    message = str(result.get("Message", ""))
    if result.get("Errno") == EACCES and _NO_ACCESS.fullmatch(message):
        return 401
    if result.get("Errno") == ENOSYS and message.endswith(" is not implemented)"):
        return 501
    failure = _HTTP_FAILURE.match(message)
    return int(failure.group(1)) if failure else None


def _service_class(path: str) -> type[ReplayService]:
    class Replay(ReplayService):
        name: ClassVar[str] = path

    Replay.__name__ = Replay.__qualname__ = f"Replay[{path}]"
    return Replay


def replay_services(entries: Sequence[Entry]) -> list[ReplayService]:
    """One replay service per ``System/Component`` in *entries*, in recorded order."""
    paths = dict.fromkeys(e.path for e in entries if "/" in e.path)
    return [_service_class(path)(entries) for path in paths]


def start_replay(
    cassette: str | os.PathLike[str],
    state_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    background: bool = True,
) -> tuple[Server, DemoPKI]:
    """Serve a cassette over HTTPS with the demo PKI made (or reused) in *state_dir*.

    The demo user's proxy and certificate, the admin's, and the demo token are
    all accepted. With ``background=False`` the server is created but not
    started: call ``serve_forever()`` on it.
    """
    from diracsh.server import check_address, serve_with_demo_pki
    from diracsh.server.pki import ensure_demo_pki

    entries = load(cassette)
    services = replay_services(entries)
    if not services:
        raise CassetteError(
            f"{cassette} records no call to a System/Component service: "
            "nothing to serve (record calls with .record FILE)"
        )
    check_address(host, port)
    pki = ensure_demo_pki(state_dir, hosts=[host])
    server = serve_with_demo_pki(services, pki, host=host, port=port)
    if background:
        server.start()
    return server, pki
