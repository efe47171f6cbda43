"""Which credential a client presents, which CAs it trusts, and who a credential is.

Credentials are looked up in DIRAC's order (see the protocol notes, section 6.1):
an explicit proxy file, an explicit user certificate and key, the host
certificate (``useCertificates``), a bearer token (``useAccessToken``), a proxy
given as a string, then the default proxy (``GRID_PROXY_FILE``,
``X509_USER_PROXY``, ``/tmp/x509up_u<uid>``).

Nothing here touches the network; the TLS context is built from these parts
by :mod:`diracsh.client.transport`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "CredentialError",
    "Credential",
    "Identity",
    "find_ca_location",
    "find_credential",
    "find_token",
    "identity_of",
    "identity_of_chain",
]

PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
_LEGACY_PROXY_CN = {"proxy", "limited proxy"}
GRID_CA_DIR = Path("/etc/grid-security/certificates")
HOST_CERT = Path("/etc/grid-security/hostcert.pem")
HOST_KEY = Path("/etc/grid-security/hostkey.pem")

PasswordCallback = Callable[[str], str | bytes]


class CredentialError(Exception):
    """No usable credential, or one that cannot work; the message says which and why."""


@dataclass(frozen=True)
class Credential:
    """What a client presents: a certificate chain and key, a token, or nothing."""

    kind: str  # "proxy", "cert", "host", "token" or "none"
    cert: Path | None = None
    key: Path | None = None
    token: str | None = field(default=None, repr=False)
    # A proxy given as text (proxyString); it never reaches a stub or a log.
    pem: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """One line for people: which credential, never its content."""
        if self.kind == "token":
            return "bearer token"
        if self.kind == "none":
            return "no credential"
        if self.pem is not None:
            return "proxy given as a string"
        where = str(self.cert)
        if self.key and self.key != self.cert:
            where += f" + {self.key}"
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class Identity:
    """Who a certificate chain says its holder is."""

    dn: str  # the end-entity identity (for a proxy: the user under it)
    subject: str
    issuer: str
    is_proxy: bool
    is_limited: bool
    not_after: dt.datetime
    key_bits: int

    @property
    def seconds_left(self) -> int:
        now = dt.datetime.now(dt.UTC)
        return max(0, int((self.not_after - now).total_seconds()))


def dn_string(name: x509.Name) -> str:
    """DIRAC's slash form of a distinguished name: ``/O=org/CN=someone``."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            label = attr.rfc4514_attribute_name
            if attr.oid == x509.NameOID.EMAIL_ADDRESS:
                label = "emailAddress"
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            parts.append(f"{label}={value}")
    return "/" + "/".join(parts)


def is_proxy_cert(cert: x509.Certificate) -> bool:
    """RFC 3820 proxies carry proxyCertInfo; legacy ones end in CN=proxy."""
    try:
        cert.extensions.get_extension_for_oid(PROXY_CERT_INFO)
        return True
    except x509.ExtensionNotFound:
        pass
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return bool(cns) and str(cns[-1].value) in _LEGACY_PROXY_CN


def _is_limited(cert: x509.Certificate) -> bool:
    cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if cns and cns[-1].value == "limited proxy":
        return True
    try:
        ext = cert.extensions.get_extension_for_oid(PROXY_CERT_INFO)
    except x509.ExtensionNotFound:
        return False
    # The limited-proxy policy OID 1.3.6.1.4.1.3536.1.1.1.9, DER-encoded.
    value = ext.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    return bytes.fromhex("2b060104019b50010101 09".replace(" ", "")) in raw


def identity_of_chain(chain: list[x509.Certificate]) -> Identity:
    """The identity behind a chain whose first element is the end certificate."""
    if not chain:
        raise CredentialError("no certificate found")
    leaf = chain[0]
    identity = leaf
    for cert in chain:
        identity = cert
        if not is_proxy_cert(cert):
            break
    public_key = leaf.public_key()
    bits = public_key.key_size if isinstance(public_key, rsa.RSAPublicKey) else 0
    return Identity(
        dn=dn_string(identity.subject),
        subject=dn_string(leaf.subject),
        issuer=dn_string(leaf.issuer),
        is_proxy=is_proxy_cert(leaf),
        is_limited=_is_limited(leaf),
        not_after=min(cert.not_valid_after_utc for cert in chain),
        key_bits=bits,
    )


def identity_of(path: str | os.PathLike[str]) -> Identity:
    """Read a PEM file (proxy, certificate or chain) and say whose it is.

    Only the certificates are parsed; a private key in the file is skipped.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CredentialError(f"{path} holds no PEM certificate") from exc
    return identity_of_chain(chain)


def find_token(env: Mapping[str, str] | None = None) -> str | None:
    """A bearer token in the WLCG discovery order, or None.

    ``BEARER_TOKEN``, ``BEARER_TOKEN_FILE``, ``$XDG_RUNTIME_DIR/bt_u<uid>``,
    ``/tmp/bt_u<uid>``. A value may be a bare token or DIRAC's JSON token dict.
    """
    env = os.environ if env is None else env
    if env.get("BEARER_TOKEN", "").strip():
        return _token_text(env["BEARER_TOKEN"])
    candidates = []
    if env.get("BEARER_TOKEN_FILE"):
        candidates.append(Path(env["BEARER_TOKEN_FILE"]))
    name = f"bt_u{os.getuid()}"
    if env.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(env["XDG_RUNTIME_DIR"]) / name)
    candidates.append(Path("/tmp") / name)
    for path in candidates:
        try:
            return _token_text(path.read_text())
        except OSError:
            continue
    return None


def _token_text(text: str) -> str:
    text = text.strip()
    if text.startswith("{"):
        try:
            value: Any = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict) and isinstance(value.get("access_token"), str):
            return str(value["access_token"])
    return text


def _default_proxy(env: Mapping[str, str]) -> Path | None:
    for var in ("GRID_PROXY_FILE", "X509_USER_PROXY"):
        if env.get(var) and Path(env[var]).is_file():
            return Path(env[var])
    default = Path(f"/tmp/x509up_u{os.getuid()}")
    return default if default.is_file() else None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"y", "yes", "true", "1"}
    return bool(value)


def find_credential(
    kwargs: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Credential:
    """Pick the credential a client with these keyword arguments presents."""
    env = os.environ if env is None else env
    if kwargs.get("proxyLocation"):
        return Credential("proxy", Path(kwargs["proxyLocation"]))
    if kwargs.get("certFile"):
        cert = Path(kwargs["certFile"])
        return Credential("cert", cert, Path(kwargs.get("keyFile") or cert))
    if _truthy(kwargs.get("useCertificates")):
        cert = Path(env.get("DIRAC_X509_HOST_CERT") or HOST_CERT)
        key = Path(env.get("DIRAC_X509_HOST_KEY") or HOST_KEY)
        return Credential("host", cert, key)
    if kwargs.get("accessToken") or use_access_token(kwargs, env):
        token = kwargs.get("accessToken") or find_token(env)
        if not token:
            raise CredentialError(
                "no bearer token found: set BEARER_TOKEN or BEARER_TOKEN_FILE, "
                f"or write it to $XDG_RUNTIME_DIR/bt_u{os.getuid()}"
            )
        return Credential("token", token=str(token))
    if kwargs.get("proxyString"):
        return Credential("proxy", pem=str(kwargs["proxyString"]))
    proxy = _default_proxy(env)
    if proxy is None:
        raise CredentialError(
            "No proxy found: give one with --proxy, set X509_USER_PROXY, "
            f"or create /tmp/x509up_u{os.getuid()} (dirac-proxy-init)"
        )
    return Credential("proxy", proxy)


def use_access_token(kwargs: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    """DIRAC's ``useAccessToken``: the keyword, else ``DIRAC_USE_ACCESS_TOKEN``."""
    if "useAccessToken" in kwargs and kwargs["useAccessToken"] is not None:
        return _truthy(kwargs["useAccessToken"])
    return _truthy(env.get("DIRAC_USE_ACCESS_TOKEN", ""))


def find_ca_location(
    explicit: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """The CA file or directory to verify servers against.

    An explicit location, else ``X509_CERT_DIR``, else
    ``/etc/grid-security/certificates``.
    """
    env = os.environ if env is None else env
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise CredentialError(f"CA location {path} does not exist")
        return path
    if env.get("X509_CERT_DIR"):
        path = Path(env["X509_CERT_DIR"])
        if not path.is_dir():
            raise CredentialError(f"X509_CERT_DIR={path} is not a directory")
        return path
    if GRID_CA_DIR.is_dir():
        return GRID_CA_DIR
    raise CredentialError(
        f"No CAs found: set X509_CERT_DIR or pass --ca-dir (looked in {GRID_CA_DIR})"
    )
