"""pytest plugin (registered as ``diracsh``): real local DIRAC-style services.

Fixtures:

* ``diracsh_demo``: the demo services on 127.0.0.1 over HTTPS, with a
  throwaway CA; gives the :class:`DemoService` (URLs, CA dir, credential
  paths, and ready-made clients).
* ``diracsh_cassette``: a factory that serves a cassette with the replay
  service for the length of a test; gives a :class:`ReplayServer`::

      def test_status(diracsh_cassette):
          server = diracsh_cassette("tests/cassettes/jobs.json")
          result = server.client("Demo/Jobs").getJobStatus(12)
          assert result["Value"] == {"12": "Running"}

Both use the same throwaway PKI, made once per test session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["DemoService", "ReplayServer", "diracsh_cassette", "diracsh_demo"]


class _DemoCredentials:
    """The demo PKI's files, for a server that uses it."""

    pki: Any  # diracsh.server.pki.DemoPKI

    @property
    def ca_dir(self) -> Path:
        return Path(self.pki.ca_dir)

    @property
    def proxy(self) -> Path:
        return Path(self.pki.proxy)

    @property
    def user_cert(self) -> Path:
        return Path(self.pki.user_cert)

    @property
    def user_key(self) -> Path:
        return Path(self.pki.user_key)

    @property
    def token(self) -> str:
        return str(self.pki.token)

    def _client(self, url: str, kwargs: dict[str, Any]) -> Any:
        from diracsh import TornadoClient

        options = {"proxyLocation": str(self.proxy), "caLocation": str(self.ca_dir)}
        return TornadoClient(url, **{**options, **kwargs})


@dataclass(frozen=True)
class DemoService(_DemoCredentials):
    """The demo services, started for the test session: URLs and credentials."""

    server: Any  # diracsh.server.Server
    pki: Any  # diracsh.server.pki.DemoPKI

    def url(self, service: str = "Demo/Jobs") -> str:
        return str(self.server.url(service))

    def client(self, service: str = "Demo/Jobs", **kwargs: Any) -> Any:
        """A TornadoClient with the demo user's proxy (override with kwargs)."""
        return self._client(self.url(service), kwargs)


@dataclass(frozen=True)
class ReplayServer(_DemoCredentials):
    """A cassette served over HTTPS: URLs, CA dir and the demo credentials."""

    server: Any  # diracsh.server.Server
    pki: Any  # diracsh.server.pki.DemoPKI
    cassette: Path

    @property
    def urls(self) -> dict[str, str]:
        """``{System/Component: URL}`` for every service in the cassette."""
        return {name: str(self.server.url(name)) for name in self.server.services}

    def url(self, service: str | None = None) -> str:
        """The URL of *service* (default: the first service the cassette recorded)."""
        name = service or next(iter(self.server.services))
        if name not in self.server.services:
            known = ", ".join(self.server.services)
            raise KeyError(f"{self.cassette} has no calls to {name} (it has {known})")
        return str(self.server.url(name))

    def client(self, service: str | None = None, **kwargs: Any) -> Any:
        """A TornadoClient with the demo user's proxy (override with kwargs)."""
        return self._client(self.url(service), kwargs)


@pytest.fixture(scope="session")
def diracsh_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the throwaway PKI of the fixtures lives (made on first use)."""
    return tmp_path_factory.mktemp("diracsh-state")


@pytest.fixture(scope="session")
def diracsh_demo(diracsh_state: Path) -> Iterator[DemoService]:
    """The demo services, started once per test session."""
    from diracsh.server import start_demo

    server, pki = start_demo(diracsh_state)
    try:
        yield DemoService(server, pki)
    finally:
        server.stop()


@pytest.fixture
def diracsh_cassette(
    diracsh_state: Path,
) -> Iterator[Callable[[str | os.PathLike[str]], ReplayServer]]:
    """A factory: ``diracsh_cassette(path)`` serves that cassette during the test."""
    from diracsh.server.replay import start_replay

    started: list[Any] = []

    def serve(path: str | os.PathLike[str]) -> ReplayServer:
        server, pki = start_replay(path, diracsh_state)
        started.append(server)
        return ReplayServer(server, pki, Path(path))

    try:
        yield serve
    finally:
        for server in started:
            server.stop()
