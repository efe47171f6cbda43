"""Shared fixtures: a clean environment, the demo services, DIRAC's own client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from diracsh.server import Server
from tests.kit import KitPKI, build_pki, kit_server

# DIRAC's and the grid's environment must not leak into tests from the machine.
_CLEARED = (
    "X509_USER_PROXY",
    "X509_CERT_DIR",
    "X509_USER_CERT",
    "X509_USER_KEY",
    "GRID_PROXY_FILE",
    "BEARER_TOKEN",
    "BEARER_TOKEN_FILE",
    "XDG_RUNTIME_DIR",
    "DIRAC_USE_ACCESS_TOKEN",
    "DIRAC_X509_HOST_CERT",
    "DIRAC_X509_HOST_KEY",
    "DIRAC_HTTPS_SSL_CIPHERS",
    "DIRACSYSCONFIG",
    "HTTPS_PROXY",
    "https_proxy",
    "DIRACSH_DIRAC_CFG",
    "DIRACSH_DIRAC_SOURCES",
    "DIRAC_ROOT_PATH",
    "DIRACOS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIRACSH_HOME", str(tmp_path / "diracsh-home"))
    # A developer's ~/.dirac.cfg must not reach the tests.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def dirac_ref() -> Iterator[object]:
    """DIRAC 9.1.22's own client and codec, running in their own virtualenv."""
    from tests.reference.client import DiracReference, dirac_python

    python = dirac_python()
    if python is None:
        message = "DIRAC reference venv missing: run scripts/dirac-reference"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    reference = DiracReference(python)
    try:
        yield reference
    finally:
        reference.close()


DIRAC_VERSION = "9.1.22"


@pytest.fixture(scope="session")
def dirac_source() -> Path:
    """The DIRAC 9.1.22 package installed in the reference venv (never imported)."""
    repo = Path(__file__).resolve().parents[1]
    venv = Path(os.environ.get("DIRACSH_DIRAC_VENV") or repo / ".venv-dirac")
    found = sorted(venv.glob("lib/python*/site-packages/DIRAC"))
    if not found or not list(found[0].parent.glob(f"dirac-{DIRAC_VERSION}.dist-info")):
        message = (
            f"DIRAC {DIRAC_VERSION} reference venv missing: run scripts/dirac-reference"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found[0]


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> KitPKI:
    """A throwaway PKI with every credential kind (see tests/kit.py)."""
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def server(pki: KitPKI) -> Iterator[Server]:
    """The demo services on a kit server trusting *pki*'s CA."""
    with kit_server(pki) as running:
        yield running
