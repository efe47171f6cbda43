"""The demo PKI on disk: one CA, a host, a user and an admin, with proxies.

:func:`ensure_demo_pki` creates it under a state directory on first use and
reuses it after, remaking proxies or the whole PKI when they run out, and
returns a :class:`DemoPKI` naming its files, the bearer token and the DNs.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from diracsh import files
from diracsh.server.pki.cadir import _CA_FILE_NAME, write_ca_dir, write_private
from diracsh.server.pki.certs import (
    _CLOCK_SKEW,
    Issued,
    _now,
    issue_host,
    issue_user,
    make_ca,
)
from diracsh.server.pki.names import dn_string
from diracsh.server.pki.proxies import make_proxy, proxy_file_bytes

if sys.platform != "win32":
    import fcntl

_DEMO_HOST_NAMES = ("localhost", "127.0.0.1", "::1")
# Bind addresses that mean "every interface": no name to certify.
_ANY_ADDRESS = ("", "0.0.0.0", "::")
_DEMO_PROXY_HOURS = 12.0
_PROXY_MIN_LEFT = timedelta(hours=1)
_CERT_MIN_LEFT = timedelta(days=1)
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)


@dataclass(frozen=True)
class DemoPKI:
    """Paths and facts of the demo PKI made by :func:`ensure_demo_pki`."""

    state_dir: Path
    ca_dir: Path
    ca_cert: Path
    host_cert: Path
    host_key: Path
    user_cert: Path
    user_key: Path
    proxy: Path
    admin_cert: Path
    admin_key: Path
    admin_proxy: Path
    token: str
    user_dn: str
    admin_dn: str


@dataclass(frozen=True)
class _Layout:
    state_dir: Path

    @property
    def ca_dir(self) -> Path:
        return self.state_dir / "ca"

    @property
    def ca_cert(self) -> Path:
        return self.ca_dir / f"{_CA_FILE_NAME}.pem"

    def part(self, role: str, file_name: str) -> Path:
        return self.state_dir / role / file_name


@dataclass(frozen=True)
class _Credentials:
    ca: x509.Certificate
    host: Issued
    user: Issued
    admin: Issued


_ROLE_FILES = {
    "host": ("hostcert.pem", "hostkey.pem"),
    "user": ("usercert.pem", "userkey.pem"),
    "admin": ("usercert.pem", "userkey.pem"),
}


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    return [
        (label.decode("ascii"), base64.b64decode(b"".join(body.split())))
        for label, body in _PEM_BLOCK.findall(data)
    ]


def _load_private_key(data: bytes) -> rsa.RSAPrivateKey:
    for label, der in _pem_blocks(data):
        # load_der_private_key takes PKCS#8 and traditional PKCS#1 alike.
        if label in ("PRIVATE KEY", "RSA PRIVATE KEY"):
            # These are the demo's own files (0600, written by this module):
            # skipping the RSA consistency check saves ~40 ms a key at start.
            key = serialization.load_der_private_key(
                der, None, unsafe_skip_rsa_key_validation=True
            )
            if not isinstance(key, rsa.RSAPrivateKey):
                raise TypeError("only RSA keys are supported")
            return key
    raise ValueError("no private key found")


def _load_certificates(data: bytes) -> list[x509.Certificate]:
    return [
        x509.load_der_x509_certificate(der)
        for label, der in _pem_blocks(data)
        if label == "CERTIFICATE"
    ]


def _same_public_key(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return cert.public_key().public_bytes(der, fmt) == key.public_key().public_bytes(
        der, fmt
    )


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _valid_for(cert: x509.Certificate, margin: timedelta) -> bool:
    now = _now()
    return (
        cert.not_valid_before_utc <= now + _CLOCK_SKEW
        and cert.not_valid_after_utc - now >= margin
    )


def _load_issued(cert_path: Path, key_path: Path) -> Issued:
    certs = _load_certificates(cert_path.read_bytes())
    key = _load_private_key(key_path.read_bytes())
    if len(certs) != 1 or not _same_public_key(certs[0], key):
        raise ValueError(f"{cert_path} does not match {key_path}")
    return Issued(certs[0], key)


def _san_names(cert: x509.Certificate) -> list[str]:
    """The host names and addresses a certificate's subjectAltName covers."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names = san.value.get_values_for_type(x509.DNSName)
    addresses = san.value.get_values_for_type(x509.IPAddress)
    return [*names, *(str(address) for address in addresses)]


def _same_name(name: str) -> str:
    """A host name or address in one spelling, to compare with another."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.lower().rstrip(".")


def _host_names(wanted: Sequence[str], already: Sequence[str] = ()) -> list[str]:
    """The demo names, then *already* and *wanted* ones, once each, in order."""
    names: dict[str, str] = {}
    for name in (*_DEMO_HOST_NAMES, *already, *wanted):
        if name.strip("[]") not in _ANY_ADDRESS:
            names.setdefault(_same_name(name.strip("[]")), name.strip("[]"))
    return list(names.values())


def _load_credentials(
    layout: _Layout, hosts: Sequence[str] = ()
) -> _Credentials | None:
    """Return the stored CA/host/users, or None if anything needs redoing.

    The host certificate must also cover every name in *hosts*.
    """
    try:
        (ca,) = _load_certificates(layout.ca_cert.read_bytes())
        loaded = {
            role: _load_issued(layout.part(role, cert), layout.part(role, key))
            for role, (cert, key) in _ROLE_FILES.items()
        }
    except (OSError, ValueError, TypeError):
        return None
    leaves = [issued.cert for issued in loaded.values()]
    if not _issued_by(ca, ca) or not all(_issued_by(c, ca) for c in leaves):
        return None
    if not all(_valid_for(c, _CERT_MIN_LEFT) for c in [ca, *leaves]):
        return None
    covered = {_same_name(n) for n in _san_names(loaded["host"].cert)}
    if not {_same_name(n) for n in _host_names(hosts)} <= covered:
        return None
    return _Credentials(ca, loaded["host"], loaded["user"], loaded["admin"])


def _stored(layout: _Layout) -> list[str]:
    """The names the stored host certificate covers (none if unreadable)."""
    try:
        (cert,) = _load_certificates(layout.part("host", "hostcert.pem").read_bytes())
    except (OSError, ValueError):
        return []
    return _san_names(cert)


def _store_issued(layout: _Layout, role: str, issued: Issued) -> None:
    cert_name, key_name = _ROLE_FILES[role]
    _private_dir(layout.state_dir / role)
    # Key first: a reader that sees the new cert then also finds its key.
    write_private(layout.part(role, key_name), issued.key_pem())
    files.atomic_write(layout.part(role, cert_name), issued.cert_pem(), 0o644)


def _create_credentials(layout: _Layout, host_names: Sequence[str]) -> _Credentials:
    ca = make_ca()
    creds = _Credentials(
        ca=ca.cert,
        host=issue_host(ca, host_names),
        user=issue_user(ca, "demo user"),
        admin=issue_user(ca, "demo admin"),
    )
    # The CA key is deliberately not kept: anything new means a new PKI.
    write_ca_dir(layout.ca_dir, [ca])
    _store_issued(layout, "host", creds.host)
    _store_issued(layout, "user", creds.user)
    _store_issued(layout, "admin", creds.admin)
    return creds


def _proxy_is_usable(path: Path, owner: Issued) -> bool:
    try:
        data = path.read_bytes()
        certs = _load_certificates(data)
        key = _load_private_key(data)
    except (OSError, ValueError, TypeError):
        return False
    return (
        len(certs) >= 2
        and certs[1] == owner.cert
        and _issued_by(certs[0], owner.cert)
        and _same_public_key(certs[0], key)
        and _valid_for(certs[0], _PROXY_MIN_LEFT)
    )


def _ensure_proxy(path: Path, owner: Issued) -> None:
    if _proxy_is_usable(path, owner):
        _ensure_mode(path, 0o600)
        return
    proxy = make_proxy(owner, hours=_DEMO_PROXY_HOURS)
    write_private(path, proxy_file_bytes(proxy, owner))


def _ensure_token(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        token = path.read_text("ascii").strip()
        if re.fullmatch(r"[A-Za-z0-9_-]{16,}", token):
            _ensure_mode(path, 0o600)
            return token
    token = secrets.token_urlsafe(32)
    write_private(path, f"{token}\n".encode("ascii"))
    return token


def _ensure_mode(path: Path, mode: int) -> None:
    # chmod touches only ctime, so reuse still leaves mtimes alone.
    if path.stat().st_mode & 0o777 != mode:
        os.chmod(path, mode)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _ensure_mode(path, 0o700)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise ensure_demo_pki between processes (advisory flock)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if sys.platform != "win32":
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def ensure_demo_pki(state_dir: Path, hosts: Sequence[str] = ()) -> DemoPKI:
    """Create the demo PKI under ``state_dir`` on first use, reuse it after.

    The host certificate covers ``localhost``, ``127.0.0.1`` and ``::1``, and
    the names or addresses in *hosts* (a server's ``--host``; the any-address
    ``0.0.0.0`` is left out). A stored PKI whose host certificate lacks one of
    them is made again, covering the names it had as well.

    Layout: ``ca/`` (CA file plus hash links, usable as ``capath``),
    ``host/{hostcert,hostkey}.pem``, ``user/`` and ``admin/`` each with
    ``usercert.pem``, ``userkey.pem`` and ``proxy.pem``, and ``token``.
    Directories are 0700, keys, proxies and the token 0600.

    Proxies are remade when missing, broken or with less than an hour left;
    everything is remade when the CA, host, user or admin credentials are
    missing, unreadable, inconsistent or expire within a day. Concurrent
    callers are serialised with a lock file and every write is atomic.
    """
    layout = _Layout(Path(state_dir))
    _private_dir(layout.state_dir)
    with _exclusive_lock(layout.state_dir / ".lock"):
        creds = _load_credentials(layout, hosts)
        if creds is None:
            creds = _create_credentials(layout, _host_names(hosts, _stored(layout)))
        else:
            write_ca_dir(layout.ca_dir, [creds.ca])  # repairs missing links
            for role, (_cert, key) in _ROLE_FILES.items():
                _ensure_mode(layout.part(role, key), 0o600)
        _ensure_proxy(layout.part("user", "proxy.pem"), creds.user)
        _ensure_proxy(layout.part("admin", "proxy.pem"), creds.admin)
        token = _ensure_token(layout.state_dir / "token")
    return DemoPKI(
        state_dir=layout.state_dir,
        ca_dir=layout.ca_dir,
        ca_cert=layout.ca_cert,
        host_cert=layout.part("host", "hostcert.pem"),
        host_key=layout.part("host", "hostkey.pem"),
        user_cert=layout.part("user", "usercert.pem"),
        user_key=layout.part("user", "userkey.pem"),
        proxy=layout.part("user", "proxy.pem"),
        admin_cert=layout.part("admin", "usercert.pem"),
        admin_key=layout.part("admin", "userkey.pem"),
        admin_proxy=layout.part("admin", "proxy.pem"),
        token=token,
        user_dn=dn_string(creds.user.cert.subject),
        admin_dn=dn_string(creds.admin.cert.subject),
    )
