"""Certificates and keys: the CA, host and user certificates of a throwaway PKI.

:class:`Issued` pairs a certificate with its private key. :func:`make_ca`,
:func:`issue_host` and :func:`issue_user` build them with the ``cryptography``
package, carrying the extensions OpenSSL's strict verification wants; the
private builder helpers here are shared with :mod:`.proxies`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_SIGNATURE_HASH = hashes.SHA256()
# Back-date new certificates a little so that a peer whose clock is slightly
# behind does not reject them as "not yet valid".
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Issued:
    """A certificate together with its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def cert_pem(self) -> bytes:
        """Return the certificate as PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _new_key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def _key_usage(*, cert_sign: bool = False, data: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=data,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    # Prefer the issuer's own SKID so that the two always match byte for byte.
    try:
        skid = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(_rsa_public(issuer))
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(skid.value)


def _rsa_public(cert: x509.Certificate) -> rsa.RSAPublicKey:
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise TypeError("only RSA certificates are supported")
    return public


def _base_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: rsa.RSAPrivateKey,
    not_before: datetime,
    not_after: datetime,
    *,
    serial: int | None = None,
) -> x509.CertificateBuilder:
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public), critical=False
        )
    )


def _leaf_builder(
    ca: Issued, subject: x509.Name, key: rsa.RSAPrivateKey, days: int
) -> x509.CertificateBuilder:
    now = _now()
    # Never outlive the CA: OpenSSL does not check nesting, but other verifiers
    # (and humans reading the files) are less confused this way.
    not_after = min(now + timedelta(days=days), ca.cert.not_valid_after_utc)
    return (
        _base_builder(subject, ca.cert.subject, key, now - _CLOCK_SKEW, not_after)
        .add_extension(_authority_key_id(ca.cert), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )


def make_ca(common_name: str = "diracsh demo CA", *, days: int = 3650) -> Issued:
    """Create a self-signed CA (subject ``/O=diracsh/CN=<common_name>``).

    The CA carries the extensions that OpenSSL's strict mode
    (``VERIFY_X509_STRICT``, default for Python >= 3.13 clients) insists on:
    critical basicConstraints, keyUsage and a subject key identifier.
    """
    key = _new_key(2048)
    name = _name(
        (NameOID.ORGANIZATION_NAME, "diracsh"), (NameOID.COMMON_NAME, common_name)
    )
    now = _now()
    builder = (
        _base_builder(name, name, key, now - _CLOCK_SKEW, now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
            critical=False,
        )
    )
    return Issued(builder.sign(key, _SIGNATURE_HASH), key)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def issue_host(
    ca: Issued,
    names: Sequence[str] = ("localhost", "127.0.0.1"),
    *,
    san: bool = True,
    days: int = 825,
    key_size: int = 2048,
) -> Issued:
    """Issue a host certificate ``/O=diracsh/OU=hosts/CN=<names[0]>``.

    With ``san`` every name goes into subjectAltName, as a DNS name or, when it
    parses as one, an IP address. Without ``san`` only the CN carries the name,
    which Python's ``ssl`` hostname check ignores (useful for negative tests).
    """
    if not names:
        raise ValueError("a host certificate needs at least one name")
    key = _new_key(key_size)
    subject = _name(
        (NameOID.ORGANIZATION_NAME, "diracsh"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "hosts"),
        (NameOID.COMMON_NAME, names[0]),
    )
    builder = (
        _leaf_builder(ca, subject, key, days)
        .add_extension(_key_usage(), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]),
            critical=False,
        )
    return Issued(builder.sign(ca.key, _SIGNATURE_HASH), key)


def issue_user(
    ca: Issued,
    common_name: str = "demo user",
    *,
    org: str = "diracsh",
    days: int = 365,
    key_size: int = 2048,
) -> Issued:
    """Issue a user certificate ``/O=<org>/OU=users/CN=<common_name>``.

    keyUsage includes digitalSignature, which OpenSSL requires of the issuer
    of a proxy certificate.
    """
    key = _new_key(key_size)
    subject = _name(
        (NameOID.ORGANIZATION_NAME, org),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "users"),
        (NameOID.COMMON_NAME, common_name),
    )
    builder = (
        _leaf_builder(ca, subject, key, days)
        .add_extension(_key_usage(data=True), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    )
    return Issued(builder.sign(ca.key, _SIGNATURE_HASH), key)
