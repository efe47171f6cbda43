"""A small DIRAC-compatible service kit on tornado, and the demo built with it.

The client library never imports this package.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tornado.netutil

from diracsh.server.http import Server
from diracsh.server.service import Service, remote_credentials

if TYPE_CHECKING:
    from diracsh.server.pki import DemoPKI

__all__ = [
    "Server",
    "Service",
    "check_address",
    "demo_registry",
    "remote_credentials",
    "serve_with_demo_pki",
    "start_demo",
]

DEMO_TOKEN_SUBJECT = "demo-token-user"


def start_demo(
    state_dir: Path, *, host: str = "127.0.0.1", port: int = 0, background: bool = True
) -> tuple[Server, DemoPKI]:
    """Make (or reuse) the demo PKI in *state_dir* and start the demo services.

    With ``background=False`` the server is created but not started: call
    ``serve_forever()`` on it.
    """
    from diracsh.server.demo import demo_services
    from diracsh.server.pki import ensure_demo_pki

    check_address(host, port)
    pki = ensure_demo_pki(state_dir, hosts=[host])
    server = serve_with_demo_pki(demo_services(), pki, host=host, port=port)
    if background:
        server.start()
    return server, pki


def check_address(host: str, port: int) -> None:
    """Raise OSError if *host*:*port* cannot be served (before any PKI is made).

    A mistyped ``--host`` must not remake the demo CA for a name it cannot bind.
    """
    for sock in tornado.netutil.bind_sockets(port, host, family=socket.AF_INET):
        sock.close()


def serve_with_demo_pki(
    services: Sequence[Service], pki: DemoPKI, *, host: str, port: int
) -> Server:
    """A server for *services* that knows the demo users and accepts the demo token."""
    return Server(
        services,
        cert=pki.host_cert,
        key=pki.host_key,
        ca_location=pki.ca_dir,
        host=host,
        port=port,
        registry=demo_registry(pki),
        tokens={pki.token: DEMO_TOKEN_SUBJECT},
    )


def demo_registry(pki: DemoPKI) -> dict[str, dict[str, Any]]:
    """What the demo server knows of its users, by DN (like DIRAC's Registry)."""
    user = {"username": "demo", "group": "demo_user", "properties": ["NormalUser"]}
    admin = {
        "username": "admin",
        "group": "demo_admin",
        "properties": ["NormalUser", "JobAdministrator", "ServiceAdministrator"],
    }
    return {
        pki.user_dn: user,
        pki.admin_dn: admin,
        f"/O=DIRAC/CN={DEMO_TOKEN_SUBJECT}": dict(user),
    }
