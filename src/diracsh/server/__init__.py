"""A small DIRAC-compatible service kit on tornado, and the demo built with it.

The client library never imports this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from diracsh.server.http import Server
from diracsh.server.service import Service, remote_credentials

if TYPE_CHECKING:
    from diracsh.server.pki import DemoPKI

__all__ = ["Server", "Service", "remote_credentials", "start_demo"]

DEMO_TOKEN_SUBJECT = "demo-token-user"


def start_demo(
    state_dir: Path, *, host: str = "127.0.0.1", port: int = 0, background: bool = True
) -> tuple[Server, DemoPKI]:  # noqa: F821 - imported lazily below
    """Make (or reuse) the demo PKI in *state_dir* and start the demo services.

    With ``background=False`` the server is created but not started: call
    ``serve_forever()`` on it.
    """
    from diracsh.server.demo import demo_services
    from diracsh.server.pki import ensure_demo_pki

    pki = ensure_demo_pki(state_dir)
    registry = {
        pki.user_dn: {
            "username": "demo",
            "group": "demo_user",
            "properties": ["NormalUser"],
        },
        pki.admin_dn: {
            "username": "admin",
            "group": "demo_admin",
            "properties": ["NormalUser", "JobAdministrator", "ServiceAdministrator"],
        },
        f"/O=DIRAC/CN={DEMO_TOKEN_SUBJECT}": {
            "username": "demo",
            "group": "demo_user",
            "properties": ["NormalUser"],
        },
    }
    server = Server(
        demo_services(),
        cert=pki.host_cert,
        key=pki.host_key,
        ca_location=pki.ca_dir,
        host=host,
        port=port,
        registry=registry,
        tokens={pki.token: DEMO_TOKEN_SUBJECT},
    )
    if background:
        server.start()
    return server, pki
