"""Tests for diracsh.server.pki: real keys, real OpenSSL, real TLS on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from diracsh.server import pki

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl binary")
SRC_DIR = Path(pki.__file__).resolve().parents[3]


# ---------------------------------------------------------------- fixtures
# Key generation dominates run time, so one CA/host/user serves the module.


@pytest.fixture(scope="module")
def ca() -> pki.Issued:
    return pki.make_ca()


@pytest.fixture(scope="module")
def host(ca: pki.Issued) -> pki.Issued:
    return pki.issue_host(ca)


@pytest.fixture(scope="module")
def user(ca: pki.Issued) -> pki.Issued:
    return pki.issue_user(ca)


@pytest.fixture(scope="module")
def proxy(user: pki.Issued) -> pki.Issued:
    return pki.make_proxy(user)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="module")
def ca_dir(ca: pki.Issued, workdir: Path) -> Path:
    return pki.write_ca_dir(workdir / "certificates", [ca])


@pytest.fixture(scope="module")
def proxy_file(proxy: pki.Issued, user: pki.Issued, workdir: Path) -> Path:
    path = workdir / "x509up"
    pki.write_private(path, pki.proxy_file_bytes(proxy, user))
    return path


@pytest.fixture(scope="module")
def user_file(user: pki.Issued, workdir: Path) -> Path:
    path = workdir / "user.pem"
    pki.write_private(path, user.cert_pem() + user.key_pem())
    return path


@pytest.fixture(scope="module")
def host_file(host: pki.Issued, workdir: Path) -> Path:
    path = workdir / "host.pem"
    pki.write_private(path, host.cert_pem() + host.key_pem())
    return path


# ---------------------------------------------------------------- helpers


def openssl_subject_hash(cert: x509.Certificate) -> str:
    assert OPENSSL is not None
    pem = cert.public_bytes(serialization.Encoding.PEM)
    out = subprocess.run(
        [OPENSSL, "x509", "-subject_hash", "-noout"],
        input=pem,
        capture_output=True,
        check=True,
    )
    return out.stdout.decode().strip()


def cert_with_subject(ca: pki.Issued, subject: x509.Name) -> x509.Certificate:
    """A throwaway certificate whose only interesting part is its subject."""
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(ca.key.public_key())  # any key will do for hashing
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(ca.key, hashes.SHA256())
    )


def server_context(
    host_file: Path, ca_dir: Path, *, allow_proxies: bool = True
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(host_file)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(capath=str(ca_dir))
    if allow_proxies:
        ctx.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS
    return ctx


def client_context(ca_dir: Path, cert_file: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + hostnames
    ctx.load_verify_locations(capath=str(ca_dir))
    if cert_file is not None:
        ctx.load_cert_chain(cert_file)
    return ctx


@dataclass
class OneShotServer:
    """Accept one TLS connection on 127.0.0.1 and record what the server saw."""

    context: ssl.SSLContext
    http: bool = False
    peer: dict[str, Any] | None = None
    peer_der: bytes | None = None
    error: BaseException | None = None
    _sock: socket.socket = field(init=False)
    _thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(10)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def __enter__(self) -> OneShotServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join(10)
        self._sock.close()

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
            with conn:
                conn.settimeout(10)
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.peer = tls.getpeercert()
                    self.peer_der = tls.getpeercert(binary_form=True)
                    self._answer(tls)
        except (OSError, ssl.SSLError) as exc:
            self.error = exc

    def _answer(self, tls: ssl.SSLSocket) -> None:
        if not self.http:
            tls.sendall(b"ok")
            return
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = tls.recv(4096)
            if not chunk:
                return
            request += chunk
        body = repr(self.peer["subject"] if self.peer else None).encode()
        tls.sendall(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )


def handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str
) -> OneShotServer:
    """Run one handshake; return the server's record (peer or error)."""
    with OneShotServer(server_ctx) as server:
        try:
            with (
                socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
                client_ctx.wrap_socket(raw, server_hostname=hostname) as tls,
            ):
                # With TLS 1.3 the client learns about a rejected client
                # certificate only when it next reads (the server's alert).
                tls.recv(2)
        except (OSError, ssl.SSLError):
            pass
    return server


def common_names(peer: dict[str, Any]) -> list[str]:
    return [
        value for rdn in peer["subject"] for key, value in rdn if key == "commonName"
    ]


def write_proxy(path: Path, proxy: pki.Issued, user: pki.Issued) -> Path:
    pki.write_private(path, pki.proxy_file_bytes(proxy, user))
    return path


# ---------------------------------------------------------------- names


@needs_openssl
def test_subject_hash_matches_openssl_for_ca(ca: pki.Issued) -> None:
    assert pki.subject_hash(ca.cert) == openssl_subject_hash(ca.cert)


def _rdn(
    oid: x509.ObjectIdentifier, value: str, kind: _ASN1Type | None = None
) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName([x509.NameAttribute(oid, value, kind)])


ODD_NAMES = {
    "mixed case and spaces": x509.Name(
        [
            _rdn(NameOID.ORGANIZATION_NAME, "  DiracSH   Grid\tTest "),
            _rdn(NameOID.COMMON_NAME, "Demo    USER"),
        ]
    ),
    "printable and ia5": x509.Name(
        [
            _rdn(NameOID.COUNTRY_NAME, "CH"),
            _rdn(NameOID.ORGANIZATION_NAME, " CERN ", _ASN1Type.PrintableString),
            _rdn(NameOID.DOMAIN_COMPONENT, "Cern CH", _ASN1Type.IA5String),
        ]
    ),
    "bmp and t61": x509.Name(
        [
            _rdn(NameOID.ORGANIZATION_NAME, "Zürich  ÉTH", _ASN1Type.BMPString),
            _rdn(NameOID.COMMON_NAME, "Björn  X", _ASN1Type.T61String),
        ]
    ),
    "non-ascii utf8": x509.Name([_rdn(NameOID.COMMON_NAME, " Ünïcödé \n USER ")]),
    "multi-valued rdn": x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "Zed"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "A  b"),
                ]
            )
        ]
    ),
    "empty": x509.Name([]),
}


@needs_openssl
@pytest.mark.parametrize("label", sorted(ODD_NAMES))
def test_subject_hash_matches_openssl_for_odd_names(ca: pki.Issued, label: str) -> None:
    cert = cert_with_subject(ca, ODD_NAMES[label])
    assert pki.subject_hash(cert) == openssl_subject_hash(cert)


def test_subject_hash_ignores_case_and_spacing(ca: pki.Issued) -> None:
    # Holds without the openssl binary: this is why capath lookups are
    # robust to how a CA typed its own name.
    plain = x509.Name([_rdn(NameOID.COMMON_NAME, "demo ca")])
    fancy = x509.Name([_rdn(NameOID.COMMON_NAME, "  DEMO \t CA ", _ASN1Type.BMPString)])
    other = x509.Name([_rdn(NameOID.COMMON_NAME, "demo  ca!")])
    hashes = [pki.subject_hash(cert_with_subject(ca, n)) for n in (plain, fancy, other)]
    assert hashes[0] == hashes[1] != hashes[2]
    assert all(len(h) == 8 and h == h.lower() for h in hashes)


def test_dn_string(user: pki.Issued, proxy: pki.Issued) -> None:
    assert pki.dn_string(user.cert.subject) == "/O=diracsh/OU=users/CN=demo user"
    (serial_cn,) = proxy.cert.subject.rdns[-1]
    assert pki.dn_string(proxy.cert.subject) == (
        f"/O=diracsh/OU=users/CN=demo user/CN={serial_cn.value!s}"
    )
    grid = x509.Name(
        [
            _rdn(NameOID.DOMAIN_COMPONENT, "ch"),
            _rdn(NameOID.DOMAIN_COMPONENT, "cern"),
            _rdn(NameOID.EMAIL_ADDRESS, "a@b.c"),
            _rdn(x509.ObjectIdentifier("1.2.3.4"), "x"),
        ]
    )
    assert pki.dn_string(grid) == "/DC=ch/DC=cern/emailAddress=a@b.c/1.2.3.4=x"


# ---------------------------------------------------------------- certificates


def test_host_certificate(ca: pki.Issued, host: pki.Issued) -> None:
    cert = host.cert
    assert pki.dn_string(cert.subject) == "/O=diracsh/OU=hosts/CN=localhost"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_encipherment and not ku.key_cert_sign
    cert.verify_directly_issued_by(ca.cert)
    no_san = pki.issue_host(ca, ["example.org"], san=False, key_size=1024)
    with pytest.raises(x509.ExtensionNotFound):
        no_san.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_user_certificate_and_pem(user: pki.Issued) -> None:
    eku = user.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert user.key_pem().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert user.cert_pem().startswith(b"-----BEGIN CERTIFICATE-----")
    other = pki.issue_user(pki.make_ca(), "Someone", org="elsewhere", key_size=1024)
    assert pki.dn_string(other.cert.subject) == "/O=elsewhere/OU=users/CN=Someone"


def test_proxy_certificate_structure(user: pki.Issued, proxy: pki.Issued) -> None:
    cert = proxy.cert
    assert cert.issuer == user.cert.subject
    assert cert.subject.rdns[:-1] == user.cert.subject.rdns
    (last,) = cert.subject.rdns[-1]
    assert last.oid == NameOID.COMMON_NAME
    assert str(last.value).isdigit() and int(str(last.value)) == cert.serial_number > 0
    info = cert.extensions.get_extension_for_oid(pki.PROXY_CERT_INFO_OID)
    assert info.critical
    assert pki.proxy_policy_language(cert) == pki.ID_PPL_INHERIT_ALL
    assert pki.proxy_policy_language(user.cert) is None
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.BasicConstraints)
    cert.verify_directly_issued_by(user.cert)
    # 12 hours from now, back-dated 5 minutes for clock skew.
    assert proxy_lifetime(cert) == timedelta(hours=12, minutes=5)


def proxy_lifetime(cert: x509.Certificate) -> timedelta:
    return cert.not_valid_after_utc - cert.not_valid_before_utc


@needs_openssl
def test_openssl_decodes_proxy_cert_info(proxy: pki.Issued, workdir: Path) -> None:
    # Proves the hand-made DER is what OpenSSL expects, not just self-consistent.
    assert OPENSSL is not None
    text = subprocess.run(
        [OPENSSL, "x509", "-noout", "-text"],
        input=proxy.cert_pem(),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "Proxy Certificate Information: critical" in text
    assert "Policy Language: Inherit all" in text


def test_limited_proxy_and_validity_clipping(ca: pki.Issued) -> None:
    short_user = pki.issue_user(ca, "short lived", days=1, key_size=1024)
    limited = pki.make_proxy(short_user, hours=48, limited=True, key_size=1024)
    assert pki.proxy_policy_language(limited.cert) == pki.ID_PPL_LIMITED
    assert limited.cert.not_valid_after_utc == short_user.cert.not_valid_after_utc
    start = datetime.now(UTC) - timedelta(hours=11, minutes=30)
    late = pki.make_proxy(short_user, hours=12, not_before=start, key_size=1024)
    assert late.cert.not_valid_before_utc >= short_user.cert.not_valid_before_utc
    left = late.cert.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(minutes=25) < left < timedelta(minutes=31)
    with pytest.raises(ValueError):
        pki.make_proxy(short_user, not_before=start + timedelta(days=3))


# ---------------------------------------------------------------- files


def test_write_private_mode_and_atomic_replace(tmp_path: Path) -> None:
    target = tmp_path / "secret.pem"
    target.write_bytes(b"old")
    target.chmod(0o644)
    old_umask = os.umask(0)  # the most permissive umask must not leak through
    try:
        pki.write_private(target, b"new")
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret.pem"]  # no temp left


def test_write_ca_dir_links_and_idempotence(ca: pki.Issued, tmp_path: Path) -> None:
    twin = pki.make_ca()  # same subject, so the same hash: must become .1
    other = pki.make_ca("another CA")
    directory = pki.write_ca_dir(tmp_path / "certs", [ca, twin.cert, other])
    digest, other_digest = pki.subject_hash(ca.cert), pki.subject_hash(other.cert)
    expected_links = {
        f"{digest}.0": "diracsh-demo-CA.pem",
        f"{digest}.1": "diracsh-demo-CA-2.pem",
        f"{other_digest}.0": "diracsh-demo-CA-3.pem",
    }
    assert link_map(directory) == expected_links
    before = snapshot(directory)
    pki.write_ca_dir(directory, [ca, twin.cert, other])
    assert snapshot(directory) == before

    # Rewriting a file with a different CA must not leave its old link behind.
    pki.write_ca_dir(directory, [other])
    assert link_map(directory)[f"{other_digest}.0"] == "diracsh-demo-CA-3.pem"
    assert link_map(directory)[f"{other_digest}.1"] == "diracsh-demo-CA.pem"
    assert f"{digest}.0" not in link_map(directory)


def test_write_ca_dir_without_links(ca: pki.Issued, tmp_path: Path) -> None:
    directory = pki.write_ca_dir(tmp_path, [ca], hash_links=False, name="x")
    assert sorted(p.name for p in directory.iterdir()) == ["x.pem"]


def link_map(directory: Path) -> dict[str, str]:
    return {p.name: os.readlink(p) for p in directory.iterdir() if p.is_symlink()}


def snapshot(directory: Path) -> dict[str, tuple[int, str | None]]:
    return {
        p.name: (p.lstat().st_mtime_ns, os.readlink(p) if p.is_symlink() else None)
        for p in directory.iterdir()
    }


# ---------------------------------------------------------------- TLS


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_tls_proxy_client_is_verified(
    host_file: Path, ca_dir: Path, proxy_file: Path, hostname: str
) -> None:
    server = handshake(
        server_context(host_file, ca_dir),
        client_context(ca_dir, proxy_file),
        hostname,
    )
    assert server.error is None
    assert server.peer is not None
    # The peer is the proxy itself (user DN + numeric CN): the whole chain
    # proxy -> user -> CA verified, else CERT_OPTIONAL would have failed.
    names = common_names(server.peer)
    assert names[0] == "demo user" and names[1].isdigit() and len(names) == 2


def test_tls_plain_user_certificate(
    host_file: Path, ca_dir: Path, user_file: Path
) -> None:
    server = handshake(
        server_context(host_file, ca_dir),
        client_context(ca_dir, user_file),
        "localhost",
    )
    assert server.peer is not None
    assert common_names(server.peer) == ["demo user"]


def test_tls_refuses_proxy_from_foreign_ca(
    host_file: Path, ca_dir: Path, workdir: Path
) -> None:
    stranger = pki.issue_user(pki.make_ca("diracsh demo CA"))
    # Same CA name, different key: the hash link exists but the signature fails.
    path = write_proxy(workdir / "foreign", pki.make_proxy(stranger), stranger)
    server = handshake(
        server_context(host_file, ca_dir), client_context(ca_dir, path), "localhost"
    )
    assert server.peer is None
    assert isinstance(server.error, ssl.SSLCertVerificationError)
    # The twin CA found through the hash link is rejected (AKID/signature),
    # so OpenSSL reports the issuer as missing rather than a bad signature.
    assert server.error.verify_message == "unable to get local issuer certificate"


def test_tls_refuses_proxy_without_allow_flag(
    host_file: Path, ca_dir: Path, proxy_file: Path
) -> None:
    # OpenSSL rejects any chain containing a proxy unless
    # X509_V_FLAG_ALLOW_PROXY_CERTS is set; the plain user cert is fine.
    server = handshake(
        server_context(host_file, ca_dir, allow_proxies=False),
        client_context(ca_dir, proxy_file),
        "localhost",
    )
    assert isinstance(server.error, ssl.SSLCertVerificationError)
    assert server.error.verify_code == 40  # X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED
    assert "proxy certificates not allowed" in server.error.verify_message


def test_tls_strict_mode_accepts_our_chains(
    host_file: Path, ca_dir: Path, proxy_file: Path
) -> None:
    # Python >= 3.13 turns VERIFY_X509_STRICT on in create_default_context();
    # our certs carry the AKID/SKID/critical-constraints strict mode demands.
    server_ctx = server_context(host_file, ca_dir)
    server_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    client_ctx = client_context(ca_dir, proxy_file)
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    server = handshake(server_ctx, client_ctx, "localhost")
    assert server.error is None and server.peer is not None


def test_tls_limited_proxy_policy_is_left_to_the_application(
    user: pki.Issued, host_file: Path, ca_dir: Path, workdir: Path
) -> None:
    # OpenSSL does not interpret the policy language: a limited proxy verifies
    # like any other, so a server must check proxy_policy_language() itself.
    limited = pki.make_proxy(user, limited=True)
    path = write_proxy(workdir / "limited", limited, user)
    server = handshake(
        server_context(host_file, ca_dir), client_context(ca_dir, path), "localhost"
    )
    assert server.peer_der is not None
    seen = x509.load_der_x509_certificate(server.peer_der)
    assert seen == limited.cert
    assert pki.proxy_policy_language(seen) == pki.ID_PPL_LIMITED


def test_tls_proxy_of_a_proxy(
    user: pki.Issued, proxy: pki.Issued, host_file: Path, ca_dir: Path, workdir: Path
) -> None:
    second = pki.make_proxy(proxy, hours=1)
    path = workdir / "proxy2"
    pki.write_private(
        path, second.cert_pem() + second.key_pem() + proxy.cert_pem() + user.cert_pem()
    )
    server = handshake(
        server_context(host_file, ca_dir), client_context(ca_dir, path), "localhost"
    )
    assert server.peer is not None
    assert len(common_names(server.peer)) == 3


def test_tls_1024_bit_proxy_key(
    ca: pki.Issued, user: pki.Issued, host_file: Path, ca_dir: Path, workdir: Path
) -> None:
    """What a 1024-bit proxy key meets under Python's default security level.

    Python >= 3.10 sets its own cipher string with @SECLEVEL=2 (112-bit
    security, RSA >= 2048) whatever openssl.cnf says. So:
    1. the client cannot even load the chain: EE_KEY_TOO_SMALL;
    2. a client that lowers itself to SECLEVEL=1 loads it, but the default
       server rejects it during verification ("EE certificate key too weak");
    3. only when both sides drop to SECLEVEL=1 does the handshake succeed.
    Early DIRAC releases made 1024-bit proxies by default; those fail here.
    The check covers the whole chain: a 2048-bit proxy of a 1024-bit user
    certificate fails with CA_KEY_TOO_SMALL, the user cert being its issuer.
    """
    weak_user = pki.issue_user(ca, "weak user", key_size=1024)
    strong_proxy = pki.make_proxy(weak_user)
    weak_chain = write_proxy(workdir / "weak-user", strong_proxy, weak_user)
    with pytest.raises(ssl.SSLError, match="CA_KEY_TOO_SMALL"):
        client_context(ca_dir, weak_chain)

    weak = pki.make_proxy(user, key_size=1024)
    path = write_proxy(workdir / "weak", weak, user)
    assert client_context(ca_dir).security_level == 2

    with pytest.raises(ssl.SSLError, match="EE_KEY_TOO_SMALL"):
        client_context(ca_dir, path)

    lowered = client_context(ca_dir)
    lowered.set_ciphers("DEFAULT:@SECLEVEL=1")
    lowered.load_cert_chain(path)
    server = handshake(server_context(host_file, ca_dir), lowered, "localhost")
    assert isinstance(server.error, ssl.SSLCertVerificationError)
    assert server.error.verify_message == "EE certificate key too weak"

    lenient_server = server_context(host_file, ca_dir)
    lenient_server.set_ciphers("DEFAULT:@SECLEVEL=1")
    server = handshake(lenient_server, lowered, "localhost")
    assert server.peer is not None


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_requests_with_proxy_file(
    host_file: Path, ca_dir: Path, proxy_file: Path, hostname: str
) -> None:
    # urllib3 hands cert= to load_cert_chain and verify=<dir> to capath.
    with OneShotServer(server_context(host_file, ca_dir), http=True) as server:
        reply = requests.get(
            f"https://{hostname}:{server.port}/",
            cert=str(proxy_file),
            verify=str(ca_dir),
            timeout=10,
        )
    assert reply.status_code == 200
    assert server.peer is not None
    assert common_names(server.peer)[0] == "demo user"
    assert len(common_names(server.peer)) == 2


# ---------------------------------------------------------------- demo PKI


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> pki.DemoPKI:
    return pki.ensure_demo_pki(tmp_path_factory.mktemp("demo") / "state")


def demo_files(demo: pki.DemoPKI) -> list[Path]:
    return [
        demo.ca_cert,
        demo.host_cert,
        demo.host_key,
        demo.user_cert,
        demo.user_key,
        demo.proxy,
        demo.admin_cert,
        demo.admin_key,
        demo.admin_proxy,
        demo.state_dir / "token",
    ]


def mtimes(paths: list[Path]) -> list[int]:
    return [p.stat().st_mtime_ns for p in paths]


def test_demo_pki_is_reused(demo: pki.DemoPKI) -> None:
    before = mtimes(demo_files(demo))
    again = pki.ensure_demo_pki(demo.state_dir)
    assert again == demo
    assert mtimes(demo_files(again)) == before


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_demo_pki_layout_and_modes(demo: pki.DemoPKI) -> None:
    assert mode(demo.state_dir) == 0o700
    for private in (demo.host_key, demo.user_key, demo.admin_key, demo.proxy):
        assert mode(private) == 0o600
    assert mode(demo.admin_proxy) == mode(demo.state_dir / "token") == 0o600
    assert demo.user_dn == "/O=diracsh/OU=users/CN=demo user"
    assert demo.admin_dn == "/O=diracsh/OU=users/CN=demo admin"
    assert (demo.state_dir / "token").read_text().strip() == demo.token
    assert demo.host_cert == demo.state_dir / "host" / "hostcert.pem"
    assert demo.proxy == demo.state_dir / "user" / "proxy.pem"
    assert demo.admin_proxy == demo.state_dir / "admin" / "proxy.pem"
    ca = x509.load_pem_x509_certificate(demo.ca_cert.read_bytes())
    assert (demo.ca_dir / f"{pki.subject_hash(ca)}.0").resolve() == demo.ca_cert


def test_demo_pki_tightens_loosened_modes(demo: pki.DemoPKI) -> None:
    before = mtimes(demo_files(demo))
    demo.user_key.chmod(0o644)
    demo.state_dir.chmod(0o755)
    pki.ensure_demo_pki(demo.state_dir)
    assert mode(demo.user_key) == 0o600
    assert mode(demo.state_dir) == 0o700
    assert mtimes(demo_files(demo)) == before


def test_demo_pki_handshake(demo: pki.DemoPKI) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(demo.host_cert, demo.host_key)
    server_ctx.verify_mode = ssl.CERT_OPTIONAL
    server_ctx.load_verify_locations(capath=str(demo.ca_dir))
    server_ctx.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS
    for proxy_path, who in (
        (demo.proxy, "demo user"),
        (demo.admin_proxy, "demo admin"),
    ):
        server = handshake(server_ctx, client_context(demo.ca_dir, proxy_path), "::1")
        # "::1" is in the demo host cert's SAN; we still dial 127.0.0.1.
        assert server.peer is not None, server.error
        assert common_names(server.peer)[0] == who


def test_demo_pki_renews_expiring_proxy(demo: pki.DemoPKI) -> None:
    user = load_issued(demo.user_cert, demo.user_key)
    start = datetime.now(UTC) - timedelta(hours=11, minutes=30)
    dying = pki.make_proxy(user, hours=12, not_before=start, key_size=1024)
    pki.write_private(demo.proxy, pki.proxy_file_bytes(dying, user))
    others = [p for p in demo_files(demo) if p != demo.proxy]
    before = mtimes(others)

    pki.ensure_demo_pki(demo.state_dir)

    fresh = x509.load_pem_x509_certificate(demo.proxy.read_bytes())
    assert fresh != dying.cert
    assert fresh.not_valid_after_utc - datetime.now(UTC) > timedelta(hours=11)
    assert mtimes(others) == before
    assert stat.S_IMODE(demo.proxy.stat().st_mode) == 0o600


def test_demo_pki_regenerates_after_damage(tmp_path: Path) -> None:
    first = pki.ensure_demo_pki(tmp_path / "state")
    old_ca = first.ca_cert.read_bytes()
    first.host_cert.unlink()
    second = pki.ensure_demo_pki(tmp_path / "state")
    assert second.host_cert.exists()
    assert second.ca_cert.read_bytes() != old_ca
    ca = x509.load_pem_x509_certificate(second.ca_cert.read_bytes())
    for cert_path in (second.host_cert, second.user_cert, second.admin_cert):
        x509.load_pem_x509_certificate(
            cert_path.read_bytes()
        ).verify_directly_issued_by(ca)
    proxy = x509.load_pem_x509_certificates(second.proxy.read_bytes())
    assert proxy[1] == x509.load_pem_x509_certificate(second.user_cert.read_bytes())
    assert sorted(p.name for p in second.ca_dir.iterdir()) == sorted(
        ["diracsh-demo-CA.pem", f"{pki.subject_hash(ca)}.0"]
    )
    assert second.token == first.token  # the token is independent of the PKI


def test_demo_pki_concurrent_first_use(tmp_path: Path) -> None:
    state = tmp_path / "state"
    script = (
        "import sys; from pathlib import Path; from diracsh.server import pki; "
        "d = pki.ensure_demo_pki(Path(sys.argv[1])); "
        "print(d.ca_cert.read_bytes().hex(), d.token)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC_DIR), *sys.path])}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(state)],
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(3)
    ]
    outputs = {racer.communicate(timeout=120)[0] for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(outputs) == 1  # everybody saw the same CA and token
    assert not [p for p in state.rglob(".*.tmp")]


def load_issued(cert_path: Path, key_path: Path) -> pki.Issued:
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return pki.Issued(x509.load_pem_x509_certificate(cert_path.read_bytes()), key)


def san_names(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {
        *san.get_values_for_type(x509.DNSName),
        *(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
    }


def test_demo_host_certificate_covers_the_served_host(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = pki.ensure_demo_pki(state, hosts=["0.0.0.0"])
    assert san_names(first.host_cert) == {"localhost", "127.0.0.1", "::1"}
    old_ca = first.ca_cert.read_bytes()
    assert pki.ensure_demo_pki(state, hosts=["127.0.0.1", "LOCALHOST"]) == first
    assert first.ca_cert.read_bytes() == old_ca  # already covered: reused

    pki.ensure_demo_pki(state, hosts=["demo.example.org"])
    assert first.ca_cert.read_bytes() != old_ca  # no CA key is kept: a new PKI
    pki.ensure_demo_pki(state, hosts=["10.1.2.3"])
    assert san_names(first.host_cert) == {
        "localhost",
        "127.0.0.1",
        "::1",
        "demo.example.org",  # the names served before stay covered
        "10.1.2.3",
    }
    newest_ca = first.ca_cert.read_bytes()
    pki.ensure_demo_pki(state)
    pki.ensure_demo_pki(state, hosts=["Demo.Example.org."])
    assert first.ca_cert.read_bytes() == newest_ca
