"""HTTPS transport: one ``requests.Session`` per client, TLS, failover, status mapping.

Every outcome of a remote call becomes a result dict here, in one place:

* HTTP 200 with a JSON object: that object, as the server sent it;
* 401 / 403: ``S_ERROR(EACCES, "No access to <url>")`` (as DIRAC's client);
* 501: ``S_ERROR(ENOSYS, "<method> is not implemented")`` (as DIRAC's client);
* any other status, a body that is not a JSON object, a refused or dropped
  connection, a TLS failure, a timeout: ``S_ERROR`` with a message naming the
  URL, the HTTP status, the content type and the start of the body.

A connection that cannot be made (refused, TLS handshake, connect timeout)
moves on to the service's next URL and bans the failed one for later calls.
A read timeout does not: the server may be running the call.
"""

from __future__ import annotations

import io
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, cast
from urllib.parse import urlencode

import requests
from requests.structures import CaseInsensitiveDict

from diracsh import jencode
from diracsh.client.credentials import Credential, CredentialError
from diracsh.client.tls import ContextAdapter
from diracsh.results import EACCES, ENOSYS, S_ERROR, S_OK

__all__ = ["Transport", "form_encode"]

log = logging.getLogger("diracsh")

_CHUNK = 1 << 20
# Tornado's max_body_size in DIRAC's HTTPS server: a bigger request is cut off
# mid-upload, which the client would only see as a TLS or connection error.
MAX_BODY = 100 * 1024 * 1024
_SNIPPET = 200


# What urlencode (quote_plus) writes for each ASCII character: itself for
# letters, digits and "_.-~", "+" for a space, %XX for everything else.
_FORM_TABLE = {
    code: (
        chr(code)
        if chr(code).isalnum() or chr(code) in "_.-~"
        else "+"
        if code == 0x20
        else f"%{code:02X}"
    )
    for code in range(128)
}


# The same for printable ASCII, as (character, replacement) pairs: "%" first
# and the space (to "+") last, so that no replacement is quoted again.
_FORM_REPLACEMENTS = [
    ("%", "%25"),
    *(
        (chr(code), _FORM_TABLE[code])
        for code in range(0x21, 0x7F)
        if _FORM_TABLE[code] != chr(code) and code != 0x25
    ),
    (" ", "+"),
]
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def form_encode(form: Mapping[str, str]) -> bytes:
    """The form body, byte for byte what ``urllib.parse.urlencode`` gives.

    JEncode text is printable ASCII (DIRAC writes non-ASCII as \\u escapes), so
    a few ``str.replace`` passes, each a C loop, replace urlencode's per-byte
    Python loop; other text goes through a translation table or urlencode.
    """
    return "&".join(
        f"{_quote(key)}={_quote(value)}" for key, value in form.items()
    ).encode("ascii")


def _quote(text: str) -> str:
    if not text.isascii():
        return urlencode({"": text})[1:]
    if _NOT_PRINTABLE.search(text):
        return text.translate(_FORM_TABLE)
    for character, replacement in _FORM_REPLACEMENTS:
        if character in text:
            text = text.replace(character, replacement)
    return text


class Transport:
    """Posts DIRAC forms to a service's URLs and turns every outcome into a result."""

    def __init__(
        self,
        urls: list[str],
        credential_factory: Callable[[], tuple[Credential, ssl.SSLContext]],
        *,
        timeout: float,
    ) -> None:
        self.urls = urls
        self.timeout = timeout
        self._factory = credential_factory
        self._session: requests.Session | None = None
        self._headers: dict[str, str] = {}
        self._banned: set[str] = set()
        self._lock = threading.Lock()
        self._outcome = threading.local()

    @property
    def last_status(self) -> str:
        """How this thread's last call ended: the HTTP status, "unreachable",
        "failed" (timeout, reset) or "not sent" (credentials); "" before any.
        For callers that tell "the service said no" from "never got there"."""
        return str(getattr(self._outcome, "status", ""))

    @last_status.setter
    def last_status(self, status: str) -> None:
        self._outcome.status = status

    # -- session -----------------------------------------------------------

    def _ensure_session(self) -> requests.Session:
        # Built on first use: constructing a client never reads files or
        # opens connections, so the shell's first prompt does not wait.
        with self._lock:
            if self._session is None:
                credential, context = self._factory()
                session = requests.Session()
                session.trust_env = False  # no netrc/proxy lookups on every call
                session.mount("https://", ContextAdapter(context))
                session.verify = context.verify_mode != ssl.CERT_NONE
                if credential.token:
                    self._headers["Authorization"] = f"Bearer {credential.token}"
                self._session = session
            return self._session

    def prepare(self) -> dict[str, Any] | None:
        """Build the session now; an S_ERROR naming the credential or CA problem."""
        return self._session_or_error()[1]

    def _session_or_error(
        self,
    ) -> tuple[requests.Session, None] | tuple[None, dict[str, Any]]:
        try:
            return self._ensure_session(), None
        except (CredentialError, ssl.SSLError, OSError) as exc:
            return None, S_ERROR(str(exc))
        except Exception as exc:  # e.g. proxyLocation=5: a result, not a raise
            return None, S_ERROR(_bad_options(exc))

    def close(self) -> None:
        if self._session is not None:
            self._session.close()

    # -- calls -------------------------------------------------------------

    def call(
        self,
        method: str,
        form: Mapping[str, str],
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        """Send one RPC and return its result dict (never raises).

        *progress(sent, total)* follows the upload of the request body.
        """
        return self._send(method, form, None, progress)

    def download(
        self,
        method: str,
        form: Mapping[str, str],
        sink: IO[bytes],
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        """Send a ``rawContent`` call and stream the raw answer into *sink*."""
        return self._send(method, form, (sink, progress))

    def _send(
        self,
        method: str,
        form: Mapping[str, str],
        stream: tuple[IO[bytes], Callable[[int, int | None], None] | None] | None,
        upload: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        """One call, and its one INFO line in the log, whatever happened."""
        started = time.perf_counter()
        result, url, status = self._exchange(method, form, stream, upload)
        self.last_status = status
        log.info(
            "%s %s -> %s %s (%.1f ms)",
            method,
            url,
            status,
            "OK" if result.get("OK") else "ERROR",
            (time.perf_counter() - started) * 1000,
        )
        return result

    def _exchange(
        self,
        method: str,
        form: Mapping[str, str],
        stream: tuple[IO[bytes], Callable[[int, int | None], None] | None] | None,
        upload: Callable[[int, int | None], None] | None,
    ) -> tuple[dict[str, Any], str, str]:
        """The result, the URL that answered (or was last tried) and the status."""
        session, problem = self._session_or_error()
        if session is None:
            assert problem is not None
            return problem, self.urls[0], "not sent"

        headers = dict(self._headers)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        if stream is not None:
            headers["Accept-Encoding"] = "identity"
        # Encoded here, not by requests: the same bytes as its urlencode, at a
        # fraction of the cost for big arguments (see form_encode).
        body = form_encode(form)
        if len(body) > MAX_BODY:
            mib = len(body) / (1 << 20)
            return (
                S_ERROR(
                    f"{method}: not sent, the request would be {mib:.0f} MiB and "
                    "DIRAC's HTTPS services refuse bodies over 100 MiB (a file "
                    "sent with sendFile or .put can be about 70 MiB at most)"
                ),
                self.urls[0],
                "not sent",
            )
        failure: Exception | None = None
        for url in self._candidates():
            try:
                response = session.send(
                    _prepared(session, url, body, headers, upload),
                    timeout=self.timeout,
                    # The body is read below, where its status is known.
                    stream=True,
                )
            except requests.ConnectionError as exc:
                # Refused, reset, TLS handshake or connect timeout: nothing ran.
                self._banned.add(url)
                failure = exc
                log.debug(
                    "%s %s unreachable, trying the next URL: %s", method, url, exc
                )
                continue
            except requests.RequestException as exc:
                return (
                    S_ERROR(_describe_exception(exc, url, self.timeout)),
                    url,
                    "failed",
                )

            with response:
                try:
                    if stream is None:
                        result = _interpret(response, method, url)
                    else:
                        result = _stream_into(response, method, url, *stream)
                except requests.RequestException as exc:
                    # The body broke off while an answer was being read.
                    what = f"answer cut short ({_innermost(exc)})"
                    result = S_ERROR(_http_failure(response, url, b"", what))
            return result, url, f"{response.status_code}"

        assert failure is not None
        message = _describe_exception(failure, self._last_tried, self.timeout)
        return S_ERROR(message), self._last_tried, "unreachable"

    def _candidates(self) -> list[str]:
        fresh = [url for url in self.urls if url not in self._banned]
        if not fresh:
            self._banned.clear()
            fresh = list(self.urls)
        self._last_tried = fresh[-1]
        return fresh


def _prepared(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    upload: Callable[[int, int | None], None] | None = None,
) -> requests.PreparedRequest:
    """The POST as ``session.post`` would prepare it, without its per-call merging.

    The body is already encoded and the session holds no auth, proxies or
    hooks (``trust_env`` is off), so only headers and cookies are left to
    merge: this saves about 0.4 ms of CPU per call.
    """
    request = requests.PreparedRequest()
    request.method = "POST"
    request.url = url
    request.headers = CaseInsensitiveDict(cast(Mapping[str, str], session.headers))
    request.headers.update(headers)
    request.headers["Content-Length"] = str(len(body))
    # requests streams a file-like body as it is read; typed as bytes only.
    request.body = body if upload is None else _Upload(body, upload)  # type: ignore[assignment]
    request.hooks = {"response": []}
    request._cookies = None  # type: ignore[attr-defined]
    if session.cookies:  # a load balancer's sticky cookie goes back, as with post
        request.prepare_cookies(session.cookies)
    return request


class _Upload(io.BytesIO):
    """A request body that reports how much of it was sent (``.put``'s bar)."""

    def __init__(
        self, data: bytes, progress: Callable[[int, int | None], None]
    ) -> None:
        super().__init__(data)
        self._total = len(data)
        self._progress = progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._progress(self.tell(), self._total)
        return chunk


def _interpret(response: requests.Response, method: str, url: str) -> dict[str, Any]:
    status = response.status_code
    if status in (401, 403):
        return S_ERROR(EACCES, f"No access to {url}")
    if status == 501:
        return S_ERROR(ENOSYS, f"{method} is not implemented")
    body = response.content
    if status != 200:
        return S_ERROR(_http_failure(response, url, body))
    try:
        result = jencode.loads(body)
    except jencode.DecodeError as exc:
        return S_ERROR(
            _http_failure(response, url, body, f"answer is not JSON ({exc})")
        )
    if not isinstance(result, dict):
        return S_ERROR(
            _http_failure(response, url, body, "answer is JSON but not a result dict")
        )
    return result


def _stream_into(
    response: requests.Response,
    method: str,
    url: str,
    sink: IO[bytes],
    progress: Callable[[int, int | None], None] | None,
) -> dict[str, Any]:
    status = response.status_code
    if not 200 <= status < 300:
        return _interpret(response, method, url)
    content_type = response.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        # The service answered a result instead of content: DIRAC's client
        # would write it into the file and report success.
        result = _interpret(response, method, url)
        if result.get("OK"):
            return S_ERROR(
                f"{method} at {url} answered a result dict instead of file content"
            )
        return result

    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    received = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            sink.write(chunk)
            received += len(chunk)
            if progress is not None:
                progress(received, expected)
    except requests.RequestException as exc:
        # What came off the socket; the part of it not yet handed out is lost.
        arrived = max(received, _bytes_read(response))
        of = f" of {expected}" if expected is not None else ""
        return S_ERROR(
            f"download from {url} cut short: short read of {arrived}{of} bytes, "
            f"the connection ended early ({_innermost(exc)})"
        )
    except (OSError, ValueError, TypeError) as exc:  # the sink: disk full, closed
        # (after RequestException, which is an OSError too)
        return S_ERROR(f"download from {url} stopped: cannot write it: {exc}")
    if expected is not None and received != expected:
        return S_ERROR(
            f"download from {url} cut short: short read of {received} of "
            f"{expected} bytes"
        )
    return S_OK(received)


def _bad_options(exc: Exception) -> str:
    return (
        f"cannot set up the client's credentials: {type(exc).__name__}: {exc} "
        "(check the types of proxyLocation, certFile, keyFile, caLocation, "
        "proxyString and proxyChain)"
    )


def _bytes_read(response: requests.Response) -> int:
    """Bytes of the body read from the connection so far (urllib3's count)."""
    try:
        return int(response.raw.tell())
    except (AttributeError, TypeError, ValueError, OSError):
        return 0


def _http_failure(
    response: requests.Response, url: str, body: bytes, what: str | None = None
) -> str:
    content_type = response.headers.get("Content-Type", "no content type")
    status = f"HTTP {response.status_code} {response.reason or ''}".strip()
    if what is None:
        what = "unexpected answer"
    text = body[:800].decode("utf-8", "replace")
    snippet = " ".join(text.split())[:_SNIPPET]
    shown = f": {snippet!r}" if snippet else ", empty body"
    return f"{what} from {url}: {status}, {content_type}{shown}"


def _describe_exception(exc: Exception, url: str, timeout: float) -> str:
    text = str(exc)
    if isinstance(exc, requests.Timeout):
        return (
            f"no answer from {url} within {timeout:g} s: raise the timeout "
            "(timeout=..., --timeout) if the service is slow"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS failure with {url}: {_tls_hint(text)}"
    if "Connection refused" in text:
        return f"cannot connect to {url}: connection refused (is the service running?)"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return f"cannot connect to {url}: unknown host name"
    if isinstance(exc, requests.ConnectionError):
        return f"connection to {url} failed: {_innermost(exc)}"
    return f"call to {url} failed: {text}"


def _tls_hint(text: str) -> str:
    if "mismatch, certificate is not valid" in text or "doesn't match" in text:
        return (
            "the server certificate does not name this host (no matching "
            f"subjectAltName); connect by a name it holds ({_innermost_text(text)})"
        )
    if "unable to get local issuer certificate" in text or "self-signed" in text:
        return (
            "the server certificate is not signed by a trusted CA: point "
            "X509_CERT_DIR or --ca-dir at the directory holding its CA (a "
            "directory with hash links finds a newly added CA file only after "
            "`openssl rehash DIR`)"
        )
    if "certificate has expired" in text:
        return "the server certificate has expired"
    if "tlsv13 alert certificate required" in text or "alert certificate" in text:
        return "the server wants a client certificate: give a proxy or cert"
    if "unknown ca" in text:
        return "the server does not trust the CA of your certificate"
    return _innermost_text(text)


def _innermost(exc: BaseException) -> str:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return _innermost_text(str(exc))


def _innermost_text(text: str) -> str:
    # urllib3 nests reasons as "...(Caused by X(Y('...')))"; keep the last part.
    if "(Caused by" in text:
        text = text.rsplit("(Caused by", 1)[1].rstrip(")")
    return text.strip()
