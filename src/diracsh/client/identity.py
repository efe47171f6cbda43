"""Who a certificate chain says its holder is: DN, issuer, proxy or not, time left.

Read with ``cryptography``; used by the client to name an unusable credential
before OpenSSL does, by the shell's ``.whoami`` and by the kit's ``whoami``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from diracsh.client.credentials import CredentialError

__all__ = ["Identity", "dn_string", "identity_of", "identity_of_chain", "is_proxy_cert"]

PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
_LEGACY_PROXY_CN = {"proxy", "limited proxy"}


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
    not_before: dt.datetime  # the latest start in the chain

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
        not_before=max(cert.not_valid_before_utc for cert in chain),
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


def check_passphrase(key: str | os.PathLike[str], passphrase: str) -> None:
    """Raise CredentialError unless *passphrase* opens the encrypted *key* file."""
    from cryptography.hazmat.primitives import serialization

    try:
        data = Path(key).read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read {key}: {exc.strerror}") from exc
    try:
        serialization.load_pem_private_key(data, password=passphrase.encode())
    except (ValueError, TypeError):
        raise CredentialError(f"wrong passphrase for {key}") from None
