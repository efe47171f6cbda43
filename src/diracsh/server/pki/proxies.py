"""RFC 3820 proxy certificates, as DIRAC and the grid middleware use them.

:func:`make_proxy` signs a proxy with a user's (or another proxy's) key,
:func:`proxy_file_bytes` lays it out as an ``X509_USER_PROXY`` file (proxy
cert, proxy key, user cert) and :func:`proxy_policy_language` reads the
policy language back from the critical proxyCertInfo extension, whose DER is
written and read by hand because ``cryptography`` has no class for it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import NameOID

from diracsh.server.pki.certs import (
    _CLOCK_SKEW,
    _SIGNATURE_HASH,
    Issued,
    _authority_key_id,
    _base_builder,
    _key_usage,
    _new_key,
    _now,
)
from diracsh.server.pki.names import _der_items, _der_tlv

#: RFC 3820 proxyCertInfo extension (id-pe-proxyCertInfo).
PROXY_CERT_INFO_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
#: RFC 3820 policy language: the proxy inherits all rights of its issuer.
ID_PPL_INHERIT_ALL = "1.3.6.1.5.5.7.21.1"
#: Globus "limited proxy" policy language (may not be used to submit jobs).
ID_PPL_LIMITED = "1.3.6.1.4.1.3536.1.1.1.9"


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
