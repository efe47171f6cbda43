"""pytest plugin (registered as ``diracsh``): real local DIRAC-style services.

Fixtures:

* ``diracsh_demo``: the demo services on 127.0.0.1 over HTTPS, with a
  throwaway CA; gives the :class:`DemoService` (URLs, CA dir, credential
  paths, and ready-made clients).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

__all__ = ["DemoService", "diracsh_demo"]


@dataclass(frozen=True)
class DemoService:
    server: Any  # diracsh.server.Server
    pki: Any  # diracsh.server.pki.DemoPKI

    def url(self, service: str = "Demo/Jobs") -> str:
        return str(self.server.url(service))

    def client(self, service: str = "Demo/Jobs", **kwargs: Any) -> Any:
        """A TornadoClient with the demo user's proxy (override with kwargs)."""
        from diracsh import TornadoClient

        options = {
            "proxyLocation": str(self.pki.proxy),
            "caLocation": str(self.pki.ca_dir),
        }
        return TornadoClient(self.url(service), **{**options, **kwargs})


@pytest.fixture(scope="session")
def diracsh_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoService]:
    """The demo services, started once per test session."""
    from diracsh.server import start_demo

    server, pki = start_demo(tmp_path_factory.mktemp("diracsh-demo"))
    try:
        yield DemoService(server, pki)
    finally:
        server.stop()
