"""Names: OpenSSL's subject hash and DIRAC's slash DN, on a little DER reader.

:func:`subject_hash` gives the ``<hash>.0`` file name that ``capath``
directories use, computed from the subject exactly as encoded in the
certificate and canonicalised the way OpenSSL does; :func:`dn_string` gives
DIRAC's ``/O=.../CN=...`` form. The DER helpers here (split elements, write
one element) are just enough for names and the proxyCertInfo extension.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import NamedTuple

from cryptography import x509


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


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
