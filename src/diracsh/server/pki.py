"""A throwaway X.509 PKI for the diracsh demo service and the tests.

Everything here is built with the ``cryptography`` package: a CA, host and user
certificates, and RFC 3820 proxy certificates as DIRAC and the grid middleware
use them (``X509_USER_PROXY`` files holding proxy cert, proxy key, user cert).
It also writes CA directories laid out like ``/etc/grid-security/certificates``
(OpenSSL ``<subject hash>.N`` symlinks) so that ``capath=`` trust stores work.

None of this is meant to protect anything real: keys are unencrypted and the CA
key is never written to disk.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from diracsh import files

if sys.platform != "win32":
    import fcntl

__all__ = [
    "ID_PPL_INHERIT_ALL",
    "ID_PPL_LIMITED",
    "PROXY_CERT_INFO_OID",
    "DemoPKI",
    "Issued",
    "dn_string",
    "ensure_demo_pki",
    "issue_host",
    "issue_user",
    "make_ca",
    "make_proxy",
    "proxy_file_bytes",
    "proxy_policy_language",
    "subject_hash",
    "write_ca_dir",
    "write_private",
]

#: RFC 3820 proxyCertInfo extension (id-pe-proxyCertInfo).
PROXY_CERT_INFO_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
#: RFC 3820 policy language: the proxy inherits all rights of its issuer.
ID_PPL_INHERIT_ALL = "1.3.6.1.5.5.7.21.1"
#: Globus "limited proxy" policy language (may not be used to submit jobs).
ID_PPL_LIMITED = "1.3.6.1.4.1.3536.1.1.1.9"

_SIGNATURE_HASH = hashes.SHA256()
# Back-date new certificates a little so that a peer whose clock is slightly
# behind does not reject them as "not yet valid".
_CLOCK_SKEW = timedelta(minutes=5)
_DEMO_HOST_NAMES = ("localhost", "127.0.0.1", "::1")
_DEMO_PROXY_HOURS = 12.0
_PROXY_MIN_LEFT = timedelta(hours=1)
_CERT_MIN_LEFT = timedelta(days=1)
_CA_FILE_NAME = "diracsh-demo-CA"
_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL
)


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


# --------------------------------------------------------------------------
# Certificate issuing
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Proxy certificates (RFC 3820)
# --------------------------------------------------------------------------


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _der_oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        # base-128, most significant group first, high bit = "more follows"
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return _der_tlv(0x06, bytes(body))


def _proxy_cert_info(policy_language: str) -> bytes:
    # ProxyCertInfoExtension ::= SEQUENCE {
    #     pCPathLenConstraint INTEGER (0..MAX) OPTIONAL,   -- omitted: unlimited
    #     proxyPolicy SEQUENCE { policyLanguage OBJECT IDENTIFIER,
    #                            policy OCTET STRING OPTIONAL } }
    # cryptography has no class for it, hence the hand-made DER.
    policy = _der_tlv(0x30, _der_oid(policy_language))
    return _der_tlv(0x30, policy)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _proxy_validity(
    issuer: x509.Certificate, hours: float, not_before: datetime | None
) -> tuple[datetime, datetime]:
    if not_before is None:
        now = _now()
        start, end = now - _CLOCK_SKEW, now + timedelta(hours=hours)
    else:
        start = _as_utc(not_before)
        end = start + timedelta(hours=hours)
    # A proxy must never be valid outside its issuer's validity window.
    start = max(start, issuer.not_valid_before_utc)
    end = min(end, issuer.not_valid_after_utc)
    if end <= start:
        raise ValueError("the issuing certificate is not valid in that window")
    return start, end


def make_proxy(
    user: Issued,
    *,
    hours: float = 12,
    key_size: int = 2048,
    limited: bool = False,
    not_before: datetime | None = None,
) -> Issued:
    """Create an RFC 3820 proxy certificate signed with ``user``'s key.

    The subject is the user's subject plus ``CN=<number>`` (the number is also
    the serial), the critical proxyCertInfo extension names the policy
    language id-ppl-inheritAll, or the Globus limited-proxy language when
    ``limited``. Validity runs ``hours`` from ``not_before`` (default: now,
    back-dated a few minutes for clock skew) and is clipped to the user's.

    ``user`` may itself be a proxy, which gives a proxy of a proxy.
    """
    if hours <= 0:
        raise ValueError("hours must be positive")
    start, end = _proxy_validity(user.cert, hours, not_before)
    key = _new_key(key_size)
    # Globus/DIRAC style: a random decimal CN that doubles as the serial.
    number = secrets.randbelow(10**10 - 1) + 1
    subject = x509.Name(
        [
            *user.cert.subject.rdns,
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COMMON_NAME, str(number))]
            ),
        ]
    )
    language = ID_PPL_LIMITED if limited else ID_PPL_INHERIT_ALL
    builder = (
        _base_builder(subject, user.cert.subject, key, start, end, serial=number)
        .add_extension(_authority_key_id(user.cert), critical=False)
        .add_extension(_key_usage(), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, _proxy_cert_info(language)),
            critical=True,
        )
    )
    # No basicConstraints (RFC 3820 forbids cA=TRUE) and no subjectAltName:
    # OpenSSL flags a proxy carrying SAN/IAN as invalid.
    return Issued(builder.sign(user.key, _SIGNATURE_HASH), key)


def proxy_file_bytes(proxy: Issued, user: Issued) -> bytes:
    """Return an ``X509_USER_PROXY`` file: proxy cert, proxy key, user cert.

    Python's ``ssl.SSLContext.load_cert_chain(path)`` and urllib3/requests'
    ``cert=path`` read this layout directly: the first certificate is the
    leaf, the key is found among the blocks, later certificates form the chain.
    """
    return proxy.cert_pem() + proxy.key_pem() + user.cert_pem()


def proxy_policy_language(cert: x509.Certificate) -> str | None:
    """Return the proxyCertInfo policy language OID, or None for non-proxies.

    OpenSSL verifies proxy chains but leaves the policy to the application,
    so a server wanting to refuse limited proxies has to look here.
    """
    try:
        ext = cert.extensions.get_extension_for_oid(PROXY_CERT_INFO_OID)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise ValueError("unexpected proxyCertInfo representation")
    (info,) = _der_items(value.value)
    fields = _der_items(info.content)
    (language, *_policy) = _der_items(fields[-1].content)
    return _oid_text(language.content)


def _oid_text(body: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


# --------------------------------------------------------------------------
# Names: OpenSSL subject hash and DIRAC's slash DN
# --------------------------------------------------------------------------


class _Tlv(NamedTuple):
    tag: int
    content: bytes
    raw: bytes


def _der_items(data: bytes) -> list[_Tlv]:
    """Split concatenated DER elements (enough DER for names and extensions)."""
    items: list[_Tlv] = []
    pos = 0
    while pos < len(data):
        start, tag = pos, data[pos]
        if tag & 0x1F == 0x1F or pos + 1 >= len(data):
            raise ValueError("unsupported or truncated DER")
        first = data[pos + 1]
        pos += 2
        if first & 0x80:
            count = first & 0x7F
            if count == 0 or count > 4:
                raise ValueError("indefinite or oversized DER length")
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        else:
            length = first
        end = pos + length
        if end > len(data):
            raise ValueError("truncated DER")
        items.append(_Tlv(tag, data[pos:end], data[start:end]))
        pos = end
    return items


def _subject_der(cert: x509.Certificate) -> bytes:
    # Take the subject exactly as encoded in the certificate rather than a
    # re-encoding of cryptography's parsed Name, so string types survive.
    (tbs,) = _der_items(cert.tbs_certificate_bytes)
    fields = _der_items(tbs.content)
    offset = 1 if fields[0].tag == 0xA0 else 0  # optional [0] version
    # serialNumber, signature, issuer, validity, subject
    return fields[offset + 4].raw


# String types OpenSSL converts to lower-cased, space-folded UTF8String
# (ASN1_MASK_CANON in crypto/x509/x_name.c) and how to read each as text.
_CANON_DECODERS: dict[int, Callable[[bytes], str]] = {
    0x0C: lambda b: b.decode("utf-8"),  # UTF8String
    0x13: lambda b: b.decode("latin-1"),  # PrintableString
    0x14: lambda b: b.decode("latin-1"),  # T61String (OpenSSL: one byte/char)
    0x16: lambda b: b.decode("latin-1"),  # IA5String
    0x1A: lambda b: b.decode("latin-1"),  # VisibleString
    0x1C: lambda b: b.decode("utf-32-be"),  # UniversalString
    0x1E: lambda b: b.decode("utf-16-be"),  # BMPString
}
_ASCII_SPACE = b" \t\n\v\f\r"
_ASCII_SPACE_RUN = re.compile(rb"[ \t\n\v\f\r]+")


def _canonical_text(utf8: bytes) -> bytes:
    # Mirrors asn1_string_canon: strip ASCII whitespace at both ends, fold
    # inner runs to one space, lower-case ASCII only (bytes.lower does that).
    folded = _ASCII_SPACE_RUN.sub(b" ", utf8.strip(_ASCII_SPACE))
    return folded.lower()


def _canonical_atv(atv: _Tlv) -> bytes:
    oid, value = _der_items(atv.content)
    decode = _CANON_DECODERS.get(value.tag)
    if decode is not None:
        text = _canonical_text(decode(value.content).encode("utf-8"))
        value_der = _der_tlv(0x0C, text)
    else:
        value_der = value.raw  # e.g. NumericString: OpenSSL copies it as is
    return _der_tlv(0x30, oid.raw + value_der)


def _canonical_name(name_der: bytes) -> bytes:
    (name,) = _der_items(name_der)
    rdns = []
    for rdn in _der_items(name.content):
        # DER SET OF: OpenSSL sorts the members by their encodings.
        members = sorted(_canonical_atv(atv) for atv in _der_items(rdn.content))
        rdns.append(_der_tlv(0x31, b"".join(members)))
    # No outer SEQUENCE header: OpenSSL hashes only the concatenated RDNs.
    return b"".join(rdns)


def subject_hash(cert: x509.Certificate) -> str:
    """Return OpenSSL's ``X509_NAME_hash`` of the subject (``-subject_hash``).

    That is the first four bytes, little-endian, of SHA-1 over the canonical
    name encoding, as 8 lowercase hex digits: the ``<hash>.0`` file name that
    ``capath`` / ``-CApath`` look up.
    """
    digest = hashlib.sha1(_canonical_name(_subject_der(cert))).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


# Short names as OpenSSL's X509_NAME_oneline prints them (which is what DIRAC
# stores via M2Crypto); anything else is shown as its dotted OID.
_SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.17": "postalCode",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}


def dn_string(name: x509.Name) -> str:
    """Return DIRAC's slash form of ``name``: ``/O=diracsh/OU=users/CN=demo user``.

    Attributes appear in encoding order (not RFC 4514's reversed order);
    members of a multi-valued RDN each get their own ``/``, like OpenSSL's
    ``X509_NAME_oneline``.
    """
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _SHORT_NAMES.get(attr.oid.dotted_string, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            parts.append(f"/{key}={value}")
    return "".join(parts)


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def write_private(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 (see diracsh.files)."""
    files.write_private(path, data)


def _write_public(path: Path, data: bytes) -> None:
    # Leave identical files alone so that repeated calls keep their mtime.
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    files.atomic_write(path, data, 0o644)


def _ca_file_name(name: str, index: int) -> str:
    return f"{name}.pem" if index == 0 else f"{name}-{index + 1}.pem"


def _atomic_symlink(target: str, link: Path) -> None:
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(8)}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _drop_stale_links(directory: Path, wanted: dict[str, str]) -> None:
    """Remove hash links to our files whose hash no longer matches them."""
    for entry in directory.iterdir():
        if not (_HASH_LINK.match(entry.name) and entry.is_symlink()):
            continue
        target = os.readlink(entry)
        if target in wanted and not entry.name.startswith(wanted[target] + "."):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _link_hash(directory: Path, target: str, digest: str) -> None:
    # OpenSSL tries <hash>.0, .1, ... and stops at the first missing one, so
    # take the lowest slot that is free (or a dangling link) on a collision.
    index = 0
    while True:
        link = directory / f"{digest}.{index}"
        if link.is_symlink() and os.readlink(link) == target:
            return
        if not link.exists():
            _atomic_symlink(target, link)
            return
        index += 1


def write_ca_dir(
    directory: Path,
    cas: Sequence[Issued | x509.Certificate],
    *,
    hash_links: bool = True,
    name: str = _CA_FILE_NAME,
) -> Path:
    """Write CA certificates as a ``capath`` directory and return it.

    Files are ``<name>.pem``, ``<name>-2.pem``, ...; with ``hash_links`` each
    gets a relative symlink ``<subject hash>.N`` as in
    ``/etc/grid-security/certificates``. Calling again with the same CAs
    changes nothing; links left pointing at a rewritten file are dropped.
    """
    directory = Path(directory)
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    certs = [ca.cert if isinstance(ca, Issued) else ca for ca in cas]
    files = {_ca_file_name(name, i): cert for i, cert in enumerate(certs)}
    for file_name, cert in files.items():
        _write_public(
            directory / file_name, cert.public_bytes(serialization.Encoding.PEM)
        )
    if hash_links:
        hashes_by_file = {f: subject_hash(c) for f, c in files.items()}
        _drop_stale_links(directory, hashes_by_file)
        for file_name, digest in hashes_by_file.items():
            _link_hash(directory, file_name, digest)
    return directory


# --------------------------------------------------------------------------
# The demo PKI on disk
# --------------------------------------------------------------------------


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
            key = serialization.load_der_private_key(der, None)
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


def _load_credentials(layout: _Layout) -> _Credentials | None:
    """Return the stored CA/host/users, or None if anything needs redoing."""
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
    return _Credentials(ca, loaded["host"], loaded["user"], loaded["admin"])


def _store_issued(layout: _Layout, role: str, issued: Issued) -> None:
    cert_name, key_name = _ROLE_FILES[role]
    _private_dir(layout.state_dir / role)
    # Key first: a reader that sees the new cert then also finds its key.
    write_private(layout.part(role, key_name), issued.key_pem())
    files.atomic_write(layout.part(role, cert_name), issued.cert_pem(), 0o644)


def _create_credentials(layout: _Layout) -> _Credentials:
    ca = make_ca()
    creds = _Credentials(
        ca=ca.cert,
        host=issue_host(ca, _DEMO_HOST_NAMES),
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


def ensure_demo_pki(state_dir: Path) -> DemoPKI:
    """Create the demo PKI under ``state_dir`` on first use, reuse it after.

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
        creds = _load_credentials(layout)
        if creds is None:
            creds = _create_credentials(layout)
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
