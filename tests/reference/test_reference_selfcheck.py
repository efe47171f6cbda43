"""Self-check of the DIRAC reference worker: codec and a real HTTPS call.

Self-contained on purpose (no conftest fixtures): it proves the worker's
pipes, DIRAC's JEncode and TornadoClient's whole call path work, against a
throwaway ``http.server`` over TLS with a CA made here.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .client import DiracReference, DiracRefError, dirac_python

USER_CN = "diracsh selfcheck user"


# --- the reference worker ---------------------------------------------------


@pytest.fixture(scope="module")
def ref() -> Iterator[DiracReference]:
    python = dirac_python()
    if python is None:
        reason = "no DIRAC reference venv: run scripts/dirac-reference"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with DiracReference(python) as reference:
        yield reference


# --- a throwaway PKI ----------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca_dir: Path  # CA dir as grid tools expect it: ca.pem + <hash>.0 link
    host_cert: Path
    host_key: Path
    user_proxy: Path  # user cert + key in one PEM, used as X509_USER_PROXY


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "diracsh-selfcheck"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    """A cert for `key`, self-signed when `issuer` is None."""
    issuer_name, issuer_key = issuer or (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            False,
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _leaf_extensions(
    usage: x509.ObjectIdentifier,
) -> list[tuple[x509.ExtensionType, bool]]:
    key_usage = x509.KeyUsage(
        digital_signature=True,
        key_encipherment=True,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (key_usage, True),
        (x509.ExtendedKeyUsage([usage]), False),
    ]


def _ca_extensions() -> list[tuple[x509.ExtensionType, bool]]:
    key_usage = x509.KeyUsage(
        digital_signature=False,
        key_encipherment=False,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    return [
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (key_usage, True),
    ]


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _hash_link(ca_pem: Path) -> None:
    """Add the `<subject_hash>.0` link OpenSSL's CA-path lookup needs."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to hash the test CA"
    digest = subprocess.run(
        [openssl, "x509", "-subject_hash", "-noout", "-in", str(ca_pem)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (ca_pem.parent / f"{digest}.0").symlink_to(ca_pem.name)


def _write_private(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)  # grid tools refuse world-readable keys and proxies
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca_key = _new_key()
    ca_name = _name("diracsh selfcheck CA")
    ca = _issue(ca_name, ca_key, None, _ca_extensions())
    ca_dir = root / "certificates"
    ca_dir.mkdir()
    (ca_dir / "ca.pem").write_bytes(_pem(ca))
    _hash_link(ca_dir / "ca.pem")

    host_key = _new_key()
    host_exts = _leaf_extensions(ExtendedKeyUsageOID.SERVER_AUTH)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    host_exts.append((x509.SubjectAlternativeName(san), False))
    host = _issue(_name("localhost"), host_key, (ca_name, ca_key), host_exts)

    user_key = _new_key()
    user_exts = _leaf_extensions(ExtendedKeyUsageOID.CLIENT_AUTH)
    user = _issue(_name(USER_CN), user_key, (ca_name, ca_key), user_exts)
    return Pki(
        ca_dir=ca_dir,
        host_cert=_write_private(root / "hostcert.pem", _pem(host)),
        host_key=_write_private(root / "hostkey.pem", _key_pem(host_key)),
        user_proxy=_write_private(root / "user.pem", _pem(user) + _key_pem(user_key)),
    )


# --- a throwaway DIRAC-like HTTPS server ---------------------------------------


@dataclass
class Seen:
    """One request as the fake server received it."""

    path: str
    content_type: str
    fields: dict[str, str]
    peer_cn: str | None


@dataclass
class FakeService:
    url: str  # https://127.0.0.1:<port>
    seen: list[Seen] = field(default_factory=list)


class _EchoHandler(BaseHTTPRequestHandler):
    """Echoes the decoded args: as a result dict, or raw for rawContent."""

    server: _EchoServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        pairs = urllib.parse.parse_qsl(body, keep_blank_values=True)
        fields = dict(pairs)
        self.server.service.seen.append(
            Seen(self.path, self.headers.get("Content-Type", ""), fields, self._cn())
        )
        args = json.loads(fields.get("args", "[]"))
        if fields.get("rawContent"):
            self._reply("application/octet-stream", b"raw:" + json.dumps(args).encode())
        else:
            result = {"OK": True, "Value": args}
            self._reply("application/json", json.dumps(result).encode())

    def _cn(self) -> str | None:
        assert isinstance(self.connection, ssl.SSLSocket)
        cert: dict[str, Any] = dict(self.connection.getpeercert() or {})
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return None

    def _reply(self, content_type: str, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep the test output clean


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    service: FakeService


def _server_context(pki: Pki) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.host_cert, pki.host_key)
    context.load_verify_locations(capath=str(pki.ca_dir))
    # Like DIRAC's server: ask for a client cert, accept a call without one.
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


@pytest.fixture(scope="module")
def service(pki: Pki) -> Iterator[FakeService]:
    httpd = _EchoServer(("127.0.0.1", 0), _EchoHandler)
    httpd.socket = _server_context(pki).wrap_socket(httpd.socket, server_side=True)
    httpd.service = FakeService(f"https://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.service
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def env(pki: Pki) -> dict[str, str | None]:
    return {"X509_CERT_DIR": str(pki.ca_dir), "X509_USER_PROXY": str(pki.user_proxy)}


# --- codec --------------------------------------------------------------------

SAMPLE = {
    "a": [1, 2.5],
    "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
    "b": b"\x00\xff",
    1: "x",
}
# By hand, from the protocol notes section 3: json.dumps defaults (", " and
# ": ", insertion order), datetime as a "dt" marker with %Y-%m-%d %H:%M:%S,
# bytes as a "b64" marker (00 ff -> "AP8="), and the int key as "1".
SAMPLE_TEXT = (
    '{"a": [1, 2.5], '
    '"when": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}, '
    '"b": {"__dCls": "b64", "obj": "AP8="}, '
    '"1": "x"}'
)


def test_worker_runs_the_pinned_dirac(ref: DiracReference) -> None:
    assert ref.info["dirac"] == "9.1.22"


def test_encode_gives_the_exact_jencode_text(ref: DiracReference) -> None:
    assert ref.encode(SAMPLE) == SAMPLE_TEXT


def test_decode_round_trip(ref: DiracReference) -> None:
    expected = {
        "a": [1, 2.5],
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "b": b"\x00\xff",
        "1": "x",  # int keys come back as strings
    }
    assert ref.decode(SAMPLE_TEXT) == expected
    assert ref.decode(ref.encode(SAMPLE)) == expected


def test_decode_drops_microseconds_and_tuples(ref: DiracReference) -> None:
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678)
    decoded = ref.decode(ref.encode([(1, 2), when]))
    assert decoded == [[1, 2], when.replace(microsecond=0)]


def test_encode_error_carries_dirac_message(ref: DiracReference) -> None:
    with pytest.raises(DiracRefError) as excinfo:
        ref.encode({1, 2})
    assert excinfo.value.remote.startswith("TypeError: Object of type set is not")


def test_worker_survives_an_error(ref: DiracReference) -> None:
    with pytest.raises(DiracRefError):
        ref.decode("{not json")
    assert ref.decode("[1]") == [1]


# --- the call path ------------------------------------------------------------


def test_call_goes_through_end_to_end(
    ref: DiracReference, service: FakeService, env: dict[str, str | None]
) -> None:
    url = f"{service.url}/Test/Echo"
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    args = ("a b", when, b"\x00\xff", {"k": (1, 2)})
    result = ref.call(url, "echo", *args, kwargs={"timeout": 5}, env=env)

    assert result["OK"] is True, result
    assert result["Value"] == ["a b", when, b"\x00\xff", {"k": [1, 2]}]
    stub_target, stub_method, stub_args = result["rpcStub"]
    assert stub_target[0] == url
    assert stub_target[1]["timeout"] == 120  # DIRAC's floor, not our 5 s
    assert (stub_method, stub_args) == ("echo", list(args))

    seen = service.seen[-1]
    assert seen.path == "/Test/Echo"
    assert seen.content_type == "application/x-www-form-urlencoded"
    assert seen.fields["method"] == "echo"
    assert json.loads(seen.fields["args"])[0] == "a b"
    assert seen.fields["clientVO"] == "unknown"
    assert seen.fields["clientSetup"] == "None"  # DIRAC 9 dropped Setups
    assert seen.peer_cn == USER_CN  # the X509_USER_PROXY was presented


def test_call_fails_without_the_ca_link(
    ref: DiracReference,
    service: FakeService,
    env: dict[str, str | None],
    tmp_path: Path,
) -> None:
    # An empty CA dir: proves the server really is verified against
    # X509_CERT_DIR, and that a changed env is not served by a cached client.
    env = {**env, "X509_CERT_DIR": str(tmp_path)}
    result = ref.call(f"{service.url}/Test/Echo", "echo", 1, env=env)
    assert result["OK"] is False, result
    assert "CERTIFICATE_VERIFY_FAILED" in result["Message"]
    assert "rpcStub" in result


def test_receive_file_writes_the_raw_body(
    ref: DiracReference,
    service: FakeService,
    env: dict[str, str | None],
    tmp_path: Path,
) -> None:
    dest = tmp_path / "out.bin"
    result = ref.receive_file(f"{service.url}/Test/Files", dest, "name", env=env)
    assert result["OK"] is True, result
    assert dest.read_bytes() == b'raw:["name"]'
    seen = service.seen[-1]
    assert (seen.fields["method"], seen.fields["rawContent"]) == (
        "streamToClient",
        "True",
    )


def test_send_file_is_an_rpc_with_bytes(
    ref: DiracReference,
    service: FakeService,
    env: dict[str, str | None],
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.bin"
    source.write_bytes(b"\x00payload\xff")
    result = ref.send_file(f"{service.url}/Test/Files", source, "fid", env=env)
    assert result["OK"] is True, result
    assert result["Value"] == ["fid", "", 9, b"\x00payload\xff"]
    assert result["rpcStub"][1] == "streamFromClient"
    assert service.seen[-1].fields["method"] == "streamFromClient"
