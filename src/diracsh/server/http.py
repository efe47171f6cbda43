"""Serving kit services over HTTPS the way DIRAC 9's TornadoService does.

One POST route per service, ``/<System>/<Component>``. The answers:

* 200 with the JSON result, ``S_OK`` and ``S_ERROR`` alike (gzip if accepted);
* 200 ``application/octet-stream`` with the raw value for ``rawContent``;
* 400 without ``method``; 404 for an unknown path; 405 for other verbs;
* 401 without an acceptable credential, or when ``auth_`` refuses;
* 501 for an unknown method; 500 when the method raises (the traceback goes
  to the ``diracsh.server`` log, never to the client).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
from cryptography import x509

from diracsh import jencode
from diracsh.client.identity import identity_of_chain
from diracsh.server.service import AnswerStatus, Service

__all__ = ["Server", "server_ssl_context"]

log = logging.getLogger("diracsh.server")

Registry = Mapping[str, Mapping[str, Any]]
# Bind addresses meaning "every interface"; such a server is reached on 127.0.0.1.
_ANY_ADDRESS = ("", "0.0.0.0")


def server_ssl_context(
    cert: str | Path, key: str | Path, ca_location: str | Path | None
) -> ssl.SSLContext:
    """TLS for a kit server: client certificates optional, RFC 3820 proxies allowed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    if ca_location is not None:
        ca = Path(ca_location)
        if ca.is_dir():
            context.load_verify_locations(capath=str(ca))
        else:
            context.load_verify_locations(cafile=str(ca))
    # Optional: bearer-token clients connect without a certificate.
    context.verify_mode = ssl.CERT_OPTIONAL
    context.verify_flags |= ssl.VERIFY_ALLOW_PROXY_CERTS
    return context


class Server:
    """Serves several kit services on one port, in a background thread or in front.

    :param registry: what the server knows about users, by DN: ``username``,
        ``group`` and ``properties`` (like DIRAC's Registry). A caller not in
        it is ``anonymous``/``visitor`` and may call only ``all`` methods, or
        those listing its DN.
    :param tokens: accepted bearer tokens, each mapped to a subject name.
    """

    def __init__(
        self,
        services: Sequence[Service],
        *,
        cert: str | Path,
        key: str | Path,
        ca_location: str | Path | None,
        host: str = "127.0.0.1",
        port: int = 0,
        registry: Registry | None = None,
        tokens: Mapping[str, str] | None = None,
        workers: int = 16,
    ) -> None:
        for service in services:
            service.validate()
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is not between 0 and 65535")
        self.services = {service.name: service for service in services}
        self.host = host
        self.registry = dict(registry or {})
        self.tokens = dict(tokens or {})
        self._ssl = server_ssl_context(cert, key, ca_location)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="diracsh-rpc")
        self._sockets = tornado.netutil.bind_sockets(port, host, family=socket.AF_INET)
        self.port = int(self._sockets[0].getsockname()[1])
        for name, service in self.services.items():
            service.url = self.url(name)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._failure: BaseException | None = None  # why the serving thread died

    def url(self, service: str) -> str:
        """The URL of *service*; on a server bound to every address, via 127.0.0.1."""
        host = "127.0.0.1" if self.host in _ANY_ADDRESS else self.host
        return f"https://{host}:{self.port}/{service}"

    # -- running -----------------------------------------------------------

    def start(self) -> Server:
        """Serve in a daemon thread; returns once the server accepts connections.

        Raises what stopped the serving thread from starting, and RuntimeError
        for a server already started or stopped (make a new one).
        """
        if self._thread is not None or self._stopped.is_set():
            raise RuntimeError("a server starts once: make a new Server to serve again")
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run_quietly, args=(ready,), name="diracsh-server", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._failure is not None:
            raise self._failure
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (or Ctrl-C)."""
        self._run(threading.Event())

    def stop(self) -> None:
        for service in self.services.values():
            service.stopping.set()
        if self._loop is None:  # never served: free the port now
            for sock in self._sockets:
                sock.close()
        loop = self._loop
        if loop is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run_quietly(self, ready: threading.Event) -> None:
        try:
            self._run(ready)
        except BaseException:
            if self._failure is None:
                raise  # not a failure to start: the thread's own report
            # else start() raises it in the caller's thread

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            server = tornado.httpserver.HTTPServer(
                self.application(),
                ssl_options=self._ssl,
                decompress_request=True,
                max_body_size=100 * 1024 * 1024,
            )
            server.add_sockets(self._sockets)
        except BaseException as exc:  # start() raises it instead of waiting
            self._failure = exc
            self._stopped.set()
            loop.close()
            ready.set()
            raise
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            self._stopped.set()
            server.stop()
            loop.run_until_complete(server.close_all_connections())
            loop.close()

    def application(self) -> tornado.web.Application:
        routes: list[Any] = [
            (f"/{re.escape(name)}", RPCHandler, {"service": service, "server": self})
            for name, service in self.services.items()
        ]
        return tornado.web.Application(routes, compress_response=True)

    def run_method(self, job: Callable[[], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, job)

    # -- identity ----------------------------------------------------------

    def authenticate(self, request: Any) -> dict[str, Any] | None:
        """The caller's credentials dict (DIRAC's shape), or None if anonymous."""
        credentials = self._from_certificate(request) or self._from_token(request)
        if credentials is None:
            return None
        known = self.registry.get(credentials["DN"], {})
        credentials["username"] = known.get("username", "anonymous")
        credentials["group"] = known.get("group", "visitor")
        credentials["properties"] = list(known.get("properties", []))
        credentials["validDN"] = bool(known)
        credentials["validGroup"] = bool(known)
        return credentials

    def _from_certificate(self, request: Any) -> dict[str, Any] | None:
        stream = getattr(request.connection, "stream", None)
        sock = getattr(stream, "socket", None)
        if not isinstance(sock, ssl.SSLSocket):
            return None
        chain = _peer_chain(sock)
        if not chain:
            return None
        identity = identity_of_chain(chain)
        dn = identity.dn
        if identity.is_proxy and len(chain) == 1:
            dn = _owner_dn(identity.subject)
        return {
            "DN": dn,
            "subject": identity.subject,
            "issuer": identity.issuer,
            "isProxy": identity.is_proxy,
            "isLimitedProxy": identity.is_limited,
            "secondsLeft": identity.seconds_left,
            **({"identity": dn} if identity.is_proxy else {}),
        }

    def _from_token(self, request: Any) -> dict[str, Any] | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            return None
        subject = self.tokens[token.strip()]
        return {"DN": f"/O=DIRAC/CN={subject}", "ID": subject, "isProxy": False}


def _peer_chain(sock: ssl.SSLSocket) -> list[x509.Certificate]:
    # The verified chain is public from Python 3.13; 3.10 to 3.12 have it on the
    # private _sslobj. Without it, only the leaf: a proxy's owner is then its
    # subject without the proxy CNs.
    get_chain = getattr(sock, "get_verified_chain", None) or getattr(
        getattr(sock, "_sslobj", None), "get_verified_chain", None
    )
    if get_chain is not None:
        try:
            pems = [c.public_bytes() for c in get_chain()]
            return [
                x509.load_pem_x509_certificate(
                    p if isinstance(p, bytes) else p.encode()
                )
                for p in pems
            ]
        except (ssl.SSLError, ValueError, TypeError):
            pass
    der = sock.getpeercert(binary_form=True)
    return [x509.load_der_x509_certificate(der)] if der else []


class RPCHandler(tornado.web.RequestHandler):
    """One DIRAC RPC: form fields in, result out."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, service: Service, server: Server) -> None:
        self.service = service
        self.server = server

    async def post(self) -> None:
        method = self.get_argument("method")  # missing -> 400, as in DIRAC
        if self.service.lookup(method) is None:
            raise tornado.web.HTTPError(501, f"{method} is not implemented")
        # As in DIRAC, a caller without any credential gets 401, even for "all".
        credentials = self.server.authenticate(self.request)
        if credentials is None:
            raise tornado.web.HTTPError(401, "no credential")
        if not self.service.authorize(method, credentials):
            raise tornado.web.HTTPError(401, f"{method} refused")

        try:
            args = jencode.loads(self.get_body_argument("args", "[]"))
        except jencode.DecodeError as exc:
            log.warning("%s: cannot decode args: %s", method, exc)
            raise tornado.web.HTTPError(500) from exc
        if not isinstance(args, list):
            raise tornado.web.HTTPError(500, "args is not a JSON array")

        started = dt.datetime.now()
        try:
            result = await self.server.run_method(
                lambda: self.service.call(method, args, credentials)
            )
        except AnswerStatus as answer:
            raise tornado.web.HTTPError(answer.status, answer.reason) from None
        except Exception:
            log.exception("%s.%s raised", self.service.name, method)
            raise tornado.web.HTTPError(500) from None
        log.info(
            "%s.%s from %s (%.1f ms)",
            self.service.name,
            method,
            (credentials or {}).get("DN", "anonymous"),
            (dt.datetime.now() - started).total_seconds() * 1000,
        )
        self._reply(result)

    def _reply(self, result: Any) -> None:
        if isinstance(result, dict):
            result.pop("ExecInfo", None)
            result.pop("CallStack", None)
        if result is None:
            self.finish()
        elif self.get_argument("rawContent", "") and not isinstance(result, dict):
            self.set_header("Content-Type", "application/octet-stream")
            self.finish(result if isinstance(result, bytes) else str(result).encode())
        elif isinstance(result, str | bytes):
            # As DIRAC: text or bytes go out as they are (tornado's text/html),
            # which its client, and ours, then report as a non-JSON answer.
            self.finish(result)
        else:
            try:
                body = jencode.encode_unchecked(result)
            except Exception:  # a set, an object: the method's bug, logged here
                log.exception("%s answered what JSON cannot carry", self.service.name)
                raise tornado.web.HTTPError(500) from None
            self.set_header("Content-Type", "application/json")
            self.finish(body)

    def get(self) -> None:  # pragma: no cover - SUPPORTED_METHODS answers 405
        raise tornado.web.HTTPError(405)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado's own HTML page, as DIRAC's server sends; never a traceback.
        self.finish(
            f"<html><title>{status_code}: {self._reason}</title>"
            f"<body>{status_code}: {self._reason}</body></html>"
        )


def _owner_dn(subject: str) -> str:
    """For a proxy seen without its chain: the subject minus the proxy CNs."""
    parts = subject.split("/")
    while parts and _is_proxy_cn(parts[-1]):
        parts.pop()
    return "/".join(parts)


def _is_proxy_cn(part: str) -> bool:
    if not part.startswith("CN="):
        return False
    value = part[3:]
    return value.isdigit() or value in ("proxy", "limited proxy")
