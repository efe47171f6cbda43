"""Test parts: a PKI with every credential kind, a kit server, a raw TLS server."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from diracsh.server import Server, Service
from diracsh.server.demo import demo_services
from diracsh.server.pki import (
    Issued,
    dn_string,
    issue_host,
    issue_user,
    make_ca,
    make_proxy,
    proxy_file_bytes,
    write_ca_dir,
    write_private,
)

TOKEN = "test-token-0123456789abcdef"
PASSPHRASE = "correct horse"


@dataclass(frozen=True)
class KitPKI:
    root: Path
    ca: Issued
    ca_dir: Path
    host_cert: Path
    host_key: Path
    nosan_cert: Path
    nosan_key: Path
    user_cert: Path
    user_key: Path
    encrypted_key: Path
    proxy: Path
    small_proxy: Path
    expired_proxy: Path
    future_proxy: Path
    user_dn: str
    admin_proxy: Path
    admin_dn: str
    client_host_cert: Path
    client_host_key: Path
    client_host_dn: str
    # Signed by the CA but unknown to the kit server's registry.
    stranger_cert: Path
    stranger_key: Path
    stranger_dn: str


def _write_pair(directory: Path, name: str, issued: Issued) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert = directory / f"{name}cert.pem"
    key = directory / f"{name}key.pem"
    cert.write_bytes(issued.cert_pem())
    write_private(key, issued.key_pem())
    return cert, key


def _revalidated(proxy: Issued, user: Issued, start: float, end: float) -> Issued:
    """The same proxy, re-signed valid from *start* to *end* hours from now."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(proxy.cert.subject)
        .issuer_name(proxy.cert.issuer)
        .public_key(proxy.key.public_key())
        .serial_number(proxy.cert.serial_number)
        .not_valid_before(now + dt.timedelta(hours=start))
        .not_valid_after(now + dt.timedelta(hours=end))
    )
    for extension in proxy.cert.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return Issued(builder.sign(user.key, hashes.SHA256()), proxy.key)


def build_pki(root: Path) -> KitPKI:
    ca = make_ca("diracsh test CA")
    ca_dir = write_ca_dir(root / "ca", [ca])
    host_cert, host_key = _write_pair(root / "host", "host", issue_host(ca))
    nosan_cert, nosan_key = _write_pair(
        root / "nosan", "host", issue_host(ca, san=False)
    )
    user = issue_user(ca, "test user")
    user_cert, user_key = _write_pair(root / "user", "user", user)
    encrypted_key = root / "user" / "userkey-encrypted.pem"
    write_private(
        encrypted_key,
        user.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        ),
    )
    proxy = root / "user" / "proxy.pem"
    write_private(proxy, proxy_file_bytes(make_proxy(user), user))
    small_proxy = root / "user" / "proxy-1024.pem"
    write_private(small_proxy, proxy_file_bytes(make_proxy(user, key_size=1024), user))
    expired_proxy = root / "user" / "proxy-expired.pem"
    write_private(
        expired_proxy,
        proxy_file_bytes(_revalidated(make_proxy(user), user, -3, -2), user),
    )
    future_proxy = root / "user" / "proxy-future.pem"
    write_private(
        future_proxy,
        proxy_file_bytes(_revalidated(make_proxy(user), user, 2, 14), user),
    )
    admin = issue_user(ca, "test admin")
    admin_proxy = root / "admin" / "proxy.pem"
    admin_proxy.parent.mkdir(parents=True, exist_ok=True)
    write_private(admin_proxy, proxy_file_bytes(make_proxy(admin), admin))
    client_host = issue_host(ca, ["worker.example.org"])
    client_host_cert, client_host_key = _write_pair(
        root / "client-host", "host", client_host
    )
    stranger = issue_user(ca, "unregistered user")
    stranger_cert, stranger_key = _write_pair(root / "stranger", "user", stranger)
    return KitPKI(
        root,
        ca,
        ca_dir,
        host_cert,
        host_key,
        nosan_cert,
        nosan_key,
        user_cert,
        user_key,
        encrypted_key,
        proxy,
        small_proxy,
        expired_proxy,
        future_proxy,
        dn_string(user.cert.subject),
        admin_proxy,
        dn_string(admin.cert.subject),
        client_host_cert,
        client_host_key,
        dn_string(client_host.cert.subject),
        stranger_cert,
        stranger_key,
        dn_string(stranger.cert.subject),
    )


def kit_server(
    pki: KitPKI,
    cert: Path | None = None,
    key: Path | None = None,
    services: Sequence[Service] = (),
) -> Server:
    """The demo services, and *services*, on a server trusting *pki*'s CA."""
    registry = {
        pki.user_dn: {
            "username": "tester",
            "group": "test_user",
            "properties": ["NormalUser"],
        },
        pki.admin_dn: {
            "username": "boss",
            "group": "test_admin",
            "properties": ["JobAdministrator"],
        },
        pki.client_host_dn: {
            "username": "worker.example.org",
            "group": "hosts",
            "properties": ["TrustedHost"],
        },
        "/O=DIRAC/CN=token-user": {
            "username": "tok",
            "group": "test_user",
            "properties": ["NormalUser"],
        },
    }
    return Server(
        [*demo_services(), *services],
        cert=cert or pki.host_cert,
        key=key or pki.host_key,
        ca_location=pki.ca_dir,
        registry=registry,
        tokens={TOKEN: "token-user"},
    )


Responder = Callable[[bytes], bytes]


@contextmanager
def raw_server(pki: KitPKI, respond: Responder) -> Iterator[str]:
    """A TLS server that answers every request with ``respond(request_bytes)``.

    For wire cases a real service cannot produce (a short body, odd types).
    Yields the base URL ``https://127.0.0.1:PORT``.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.host_cert, pki.host_key)
    context.load_verify_locations(capath=str(pki.ca_dir))
    context.verify_mode = ssl.CERT_OPTIONAL
    context.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    request = _read_request(tls)
                    tls.sendall(respond(request))
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _read_request(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        body += tls.recv(65536)
    return head + b"\r\n\r\n" + body


def http_response(
    status: str, body: bytes, content_type: str | None, length: int | None = None
) -> bytes:
    headers = [f"HTTP/1.1 {status}"]
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    headers.append(f"Content-Length: {len(body) if length is None else length}")
    headers.append("Connection: close")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


@contextmanager
def serving(args: list[str], home: Path) -> Iterator[list[str]]:
    """``diracsh serve ARGS`` in its own process; yields what it printed.

    Yields once the server prints ``serving until Ctrl-C``; on exit sends
    Ctrl-C (SIGINT) and checks that it ended at once (a call still running
    included) with status 0 and nothing on stderr.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X509", "DIRAC"))}
    env["DIRACSH_HOME"] = str(home)
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "diracsh", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    try:
        lines: list[str] = []
        while not lines or lines[-1] != "serving until Ctrl-C":
            line = process.stdout.readline()
            assert line, f"serve ended early: {lines}"
            lines.append(line.rstrip("\n"))
        yield lines
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
        process.stdout.close()
        stderr.seek(0)
        printed = stderr.read().decode()
        stderr.close()
    assert (code, printed) == (0, "")


def free_port() -> int:
    """A TCP port nobody listens on now (for a server started later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
