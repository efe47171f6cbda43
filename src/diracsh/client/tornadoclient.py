"""``TornadoClient``: a drop-in for DIRAC 9's HTTPS RPC client.

>>> client = TornadoClient("https://localhost:8443/Framework/Notification")
>>> client.ping()  # doctest: +SKIP
{'OK': True, 'Value': {...}, 'rpcStub': (('https://...', {...}), 'ping', [])}

Differences from DIRAC's client, on purpose: a failed URL's retry result is
returned (DIRAC throws it away); ``receiveFile`` streams to a temporary file
and reports an error body as an error (DIRAC writes it into the file and
reports success); a ``proxyString`` never stays on disk; the timeout you give
is the timeout used (DIRAC raises anything under 120 s to 120 s); a remote call
never raises.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from diracsh import jencode
from diracsh.client.credentials import (
    Credential,
    CredentialError,
    conflicting_options,
    find_credential,
    use_access_token,
)
from diracsh.results import S_ERROR

if TYPE_CHECKING:
    import ssl

    from diracsh.client.transport import Transport

__all__ = ["TornadoClient", "executeRPCStub"]

log = logging.getLogger("diracsh")

DEFAULT_TIMEOUT = 600
# Keyword arguments that hold secrets or live objects: never copied into a stub.
_NOT_IN_STUB = frozenset(
    {"useCertificates", "proxyString", "proxyChain", "accessToken", "passwordCallback"}
)


class TornadoClient:
    """Calls a DIRAC HTTPS service; any unknown attribute is a remote method.

    :param serviceName: ``https://host:port/System/Component``, a list of such
        URLs separated by commas, or ``System/Component`` (resolved through the
        DIRAC configuration).
    :param kwargs: DIRAC's keywords (``timeout``, ``proxyLocation``,
        ``useCertificates``, ``useAccessToken``, ``skipCACheck``, ``VO``,
        ``delegatedDN``, ``delegatedGroup``, ``extraCredentials``, ...) and
        diracsh's own: ``certFile``/``keyFile`` (a user certificate and key),
        ``caLocation`` (a CA file or directory), ``accessToken`` (a token
        string), ``passwordCallback`` (asked once for an encrypted key).
    """

    VAL_EXTRA_CREDENTIALS_HOST = "hosts"
    KW_USE_ACCESS_TOKEN = "useAccessToken"
    KW_USE_CERTIFICATES = "useCertificates"
    KW_EXTRA_CREDENTIALS = "extraCredentials"
    KW_TIMEOUT = "timeout"
    KW_SETUP = "setup"
    KW_VO = "VO"
    KW_DELEGATED_DN = "delegatedDN"
    KW_DELEGATED_GROUP = "delegatedGroup"
    KW_IGNORE_GATEWAYS = "ignoreGateways"
    KW_PROXY_LOCATION = "proxyLocation"
    KW_PROXY_STRING = "proxyString"
    KW_PROXY_CHAIN = "proxyChain"
    KW_SKIP_CA_CHECK = "skipCACheck"
    KW_KEEP_ALIVE_LAPSE = "keepAliveLapse"

    def __init__(self, serviceName: str, **kwargs: Any) -> None:  # noqa: N803
        if not isinstance(serviceName, str):
            raise TypeError(
                f"the service name must be a str, not {type(serviceName).__name__}"
            )
        self._destination = serviceName
        self._kwargs = dict(kwargs)
        # As in DIRAC, no timeout (or 0) means the default of 600 s.
        self._kwargs[self.KW_TIMEOUT] = self._kwargs.get(self.KW_TIMEOUT) or (
            DEFAULT_TIMEOUT
        )
        self._kwargs[self.KW_USE_ACCESS_TOKEN] = bool(
            kwargs.get("accessToken") or use_access_token(self._kwargs, os.environ)
        )
        self._init_error: dict[str, Any] | None = None
        self._credential: Credential | None = None
        self._extra_form = self._fixed_fields()
        conflict = conflicting_options(kwargs)  # as given, before any default
        if conflict is not None:
            self._init_error = S_ERROR(f"Cannot make a client: {conflict}")

        self._urls = self._resolve(serviceName)
        self._transport_made: Transport | None = None
        if self._init_error is None:
            self._init_error = _bad_timeout(self._kwargs[self.KW_TIMEOUT])

    # -- set-up ------------------------------------------------------------

    def _resolve(self, name: str) -> list[str]:
        if name.startswith("https://"):
            urls = [url.strip() for url in name.split(",") if url.strip()]
            for url in urls:
                problem = _bad_url(url)
                if problem is not None:
                    self._init_error = S_ERROR(f"Cannot use {url}: {problem}")
                    return []
            return urls
        if "://" in name:
            scheme = name.split("://", 1)[0]
            self._init_error = S_ERROR(
                f"Cannot use {name}: diracsh speaks DIRAC's HTTPS protocol only, "
                f"not {scheme}:// (use the service's https:// URL)"
            )
            return []
        from diracsh.client.resolve import resolve_service_urls

        try:
            urls = resolve_service_urls(name, client_options=self._kwargs)
        except LookupError as exc:
            self._init_error = S_ERROR(f"Cannot get URL for {name}: {exc}")
            return []
        if not self._kwargs.get(self.KW_VO):
            # As DIRAC: the configuration's VO when none is given.
            from diracsh.client.dirac_config import current_config

            vo = current_config(self._kwargs).option("/DIRAC/VirtualOrganization")
            self._extra_form["clientVO"] = vo or "unknown"
        return urls

    def _fixed_fields(self) -> dict[str, str]:
        """The form fields sent with every call, after ``method`` and ``args``."""
        fields: dict[str, str] = {}
        # DIRAC's precedence: a host certificate says "hosts", an explicit
        # extraCredentials (even empty) replaces that, a delegation wins over both.
        extra: Any = ""
        if self._kwargs.get(self.KW_USE_CERTIFICATES):
            if not self._kwargs.get(self.KW_PROXY_LOCATION):
                extra = self.VAL_EXTRA_CREDENTIALS_HOST
        if self.KW_EXTRA_CREDENTIALS in self._kwargs:
            extra = self._kwargs[self.KW_EXTRA_CREDENTIALS]
        if self._kwargs.get(self.KW_DELEGATED_DN):
            group = self._kwargs.get(self.KW_DELEGATED_GROUP)
            if not group:
                # DIRAC looks the DN's default group up in its Registry, which
                # diracsh does not read: ask for it rather than send [DN, None].
                self._init_error = S_ERROR(
                    "delegatedDN needs a delegatedGroup too: name the DIRAC group "
                    "to act as"
                )
            extra = [self._kwargs[self.KW_DELEGATED_DN], group]
        if extra:
            try:
                fields["extraCredentials"] = jencode.encode(extra)
            except jencode.EncodeError as exc:
                self._init_error = S_ERROR(f"extraCredentials cannot be sent: {exc}")
        fields["clientVO"] = str(self._kwargs.get(self.KW_VO) or "unknown")
        # DIRAC 9 has no setups any more: it sends "None" whatever setup= says.
        fields["clientSetup"] = "None"
        return fields

    @property
    def _transport(self) -> Transport:
        # Made on first use: importing requests and building TLS waits until a
        # call is made, so creating clients (and the shell's start) stays cheap.
        if self._transport_made is None:
            from diracsh.client.transport import Transport

            timeout = float(self._kwargs[self.KW_TIMEOUT])
            self._transport_made = Transport(
                self._urls, self._build_tls, timeout=timeout
            )
        return self._transport_made

    def _build_tls(self) -> tuple[Credential, ssl.SSLContext]:
        from diracsh.client.tls import build_ssl_context, quiet_unverified_warning

        kwargs = self._kwargs
        if kwargs.get(self.KW_PROXY_CHAIN) and not kwargs.get(self.KW_PROXY_STRING):
            chain = kwargs[self.KW_PROXY_CHAIN]
            kwargs = {**kwargs, self.KW_PROXY_STRING: _chain_text(chain)}
        credential = find_credential(kwargs)
        self._credential = credential
        skip = bool(kwargs.get(self.KW_SKIP_CA_CHECK))
        if skip:
            log.warning("server certificate NOT verified for %s", self._destination)
            quiet_unverified_warning(self._urls)
        password: Callable[[str], str | bytes] | None = kwargs.get("passwordCallback")
        context = build_ssl_context(
            credential, kwargs.get("caLocation"), verify=not skip, password=password
        )
        return credential, context

    # -- DIRAC's interface -------------------------------------------------

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name.startswith("_"):
            raise AttributeError(name)

        def remote(*args: Any, **kwargs: Any) -> dict[str, Any]:
            return self.executeRPC(name, *args, **kwargs)

        remote.__name__ = name
        return remote

    def executeRPC(self, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:  # noqa: N802
        """Call *method* on the service with positional *args*; never raises."""
        if kwargs:
            result = self._not_sent(
                method,
                S_ERROR(
                    f"{method}() got keyword arguments {sorted(kwargs)}: DIRAC RPC "
                    "is positional only, pass them in order"
                ),
            )
        else:
            result = self._call(method, args)
        result["rpcStub"] = (self._getBaseStub(), method, list(args))
        return result

    def _call(
        self,
        method: str,
        args: tuple[Any, ...],
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        if self._init_error is not None:
            return self._not_sent(method, dict(self._init_error))
        if not isinstance(method, str) or not method:
            problem = f"the method name must be a non-empty str, not {method!r}"
            return self._not_sent(str(method), S_ERROR(problem))
        try:
            encoded = encode_args(args)
        except jencode.EncodeError as exc:
            return self._not_sent(method, S_ERROR(f"{method}: nothing sent, {exc}"))
        form = {"method": method, "args": encoded, **self._extra_form}
        return self._transport.call(method, form, progress)

    def receiveFile(
        self, destFile: str | os.PathLike[str] | IO[bytes], *args: Any
    ) -> dict[str, Any]:  # noqa: N802, N803, E501
        """Call ``streamToClient(*args)`` and store the raw answer in *destFile*.

        A path is written through a temporary file beside it, renamed into
        place only when the whole content arrived; on any error the
        destination is left as it was. Memory use does not grow with size.
        """
        return self.receive_file(destFile, *args)

    def receive_file(
        self,
        dest: str | os.PathLike[str] | IO[bytes],
        *args: Any,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        """:meth:`receiveFile` with an optional ``progress(done, total)`` callback."""
        method = "streamToClient"
        if self._init_error is not None:
            return self._not_sent(method, dict(self._init_error))
        try:
            encoded = encode_args(args)
        except jencode.EncodeError as exc:
            return self._not_sent(method, S_ERROR(f"{method}: nothing sent, {exc}"))
        form = {
            "method": "streamToClient",
            "args": encoded,
            **self._extra_form,
            "rawContent": "True",
        }
        if isinstance(dest, bytes):
            dest = os.fsdecode(dest)
        if not isinstance(dest, str | os.PathLike):
            if isinstance(dest, io.TextIOBase) or not callable(
                getattr(dest, "write", None)
            ):
                problem = (
                    "receiveFile needs a file name or a file object opened for "
                    f"binary writing ('wb'), not {type(dest).__name__}"
                )
                return self._not_sent(method, S_ERROR(problem))
            return self._transport.download("streamToClient", form, dest, progress)
        if not os.fspath(dest):
            problem = "receiveFile needs a destination file name"
            return self._not_sent(method, S_ERROR(problem))
        # Through a symlink to the file it names, as open() would write.
        target = Path(os.path.realpath(dest))
        if target.is_dir():
            problem = f"{dest} is a directory: give the name of the file to write"
            return self._not_sent(method, S_ERROR(problem))
        if target.exists() and not target.is_file():
            # A device or a pipe (/dev/null, a FIFO): written in place; a
            # temporary file renamed onto it would replace the device itself.
            return self._download_into_special(target, form, progress)
        if target.exists() and not os.access(target, os.W_OK):
            problem = f"cannot write {dest}: permission denied"
            return self._not_sent(method, S_ERROR(problem))
        return self._download_to_path(target, form, progress)

    def _download_into_special(
        self,
        target: Path,
        form: dict[str, str],
        progress: Callable[[int, int | None], None] | None,
    ) -> dict[str, Any]:
        try:
            with open(target, "wb") as sink:
                return self._transport.download("streamToClient", form, sink, progress)
        except OSError as exc:
            return S_ERROR(f"cannot write {target}: {exc.strerror or exc}")

    def _download_to_path(
        self,
        dest: Path,
        form: dict[str, str],
        progress: Callable[[int, int | None], None] | None,
    ) -> dict[str, Any]:
        import tempfile

        try:
            fd, tmp_name = tempfile.mkstemp(
                prefix=f".{dest.name}.", suffix=".part", dir=dest.parent or "."
            )
        except OSError as exc:
            problem = f"cannot write into {dest.parent}: {exc.strerror}"
            return self._not_sent("streamToClient", S_ERROR(problem))
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as sink:
                result = self._transport.download(
                    "streamToClient", form, sink, progress
                )
            if result["OK"]:
                os.chmod(tmp, _new_file_mode(dest))
                os.replace(tmp, dest)
                return result
        except OSError as exc:  # a full disk, a lost permission: still a result
            tmp.unlink(missing_ok=True)
            return S_ERROR(f"cannot write {dest}: {exc.strerror or exc}")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        tmp.unlink(missing_ok=True)
        return result

    def sendFile(self, filename: str | os.PathLike[str], fileID: Any) -> dict[str, Any]:  # noqa: N802, N803
        """Send a file's bytes with ``streamFromClient(fileID, "", size, data)``.

        As in DIRAC, the whole file travels inside one request (base64 in the
        arguments), so it is held in memory; DIRAC servers refuse bodies over
        100 MiB.
        """
        return self.send_file(filename, fileID)

    def send_file(
        self,
        filename: str | os.PathLike[str],
        fileID: Any,  # noqa: N803
        *,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> dict[str, Any]:
        """:meth:`sendFile` with an optional ``progress(sent, total)`` callback."""
        try:
            data = Path(filename).read_bytes()
        except OSError as exc:
            problem = f"cannot read {filename}: {exc.strerror}"
            return self._not_sent("streamFromClient", S_ERROR(problem))
        args = (fileID, "", len(data), data)
        result = self._call("streamFromClient", args, progress)
        result["rpcStub"] = (self._getBaseStub(), "streamFromClient", list(args))
        return result

    def _not_sent(self, method: str, result: dict[str, Any]) -> dict[str, Any]:
        """A call stopped before sending still gets its one INFO line in the log."""
        where = self.getDestinationService() or self._destination
        log.info("%s %s -> not sent ERROR", method, where)
        if self._transport_made is not None:
            self._transport_made.last_status = ""
        return result

    def getServiceName(self) -> str:  # noqa: N802
        """``System/Component`` (the path of the service's URL)."""
        if self._urls:
            return urlsplit(self._urls[0]).path.lstrip("/")
        return self._destination

    def getDestinationService(self) -> str:  # noqa: N802
        """The URL the client calls (the first of the service's URLs)."""
        return self._urls[0] if self._urls else ""

    def _getBaseStub(self) -> tuple[str, dict[str, Any]]:  # noqa: N802
        """``(serviceName, kwargs)`` of the stub, without secrets or live objects."""
        kwargs = {
            key: value
            for key, value in self._kwargs.items()
            if key not in _NOT_IN_STUB and not callable(value)
        }
        return (self._destination, kwargs)

    # -- diracsh extras ----------------------------------------------------

    def _startup_problem(self) -> dict[str, Any] | None:
        """An S_ERROR if calls cannot even start (bad URL, credentials, CAs)."""
        if self._init_error is not None:
            return dict(self._init_error)
        return self._transport.prepare()

    def _last_status(self) -> str:
        """How the last call ended: its HTTP status, "unreachable", "failed"
        (timeout, reset), "not sent", or "" when it was refused before sending."""
        return self._transport_made.last_status if self._transport_made else ""

    def _close(self) -> None:
        if self._transport_made is not None:
            self._transport_made.close()

    def __repr__(self) -> str:
        return f"<TornadoClient {self._destination}>"


def _new_file_mode(dest: Path) -> int:
    """The mode the file would get if written directly: kept, or from the umask."""
    try:
        return dest.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0o022)  # reading the umask means setting it: put it back
        os.umask(mask)
        return 0o666 & ~mask


def _bad_url(url: str) -> str | None:
    """Why *url* cannot be called, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if not parts.hostname:
        return "no host name in the URL"
    if not parts.path.strip("/"):
        return "no service path: write https://host:port/System/Component"
    return None


def _bad_timeout(timeout: Any) -> dict[str, Any] | None:
    """An S_ERROR for a timeout that is not a positive number of seconds."""
    ok = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    if ok and 0 < timeout <= 10**6:
        return None
    return S_ERROR(
        f"timeout must be a number of seconds between 0 and 1000000, not {timeout!r}"
    )


def encode_args(args: tuple[Any, ...] | list[Any]) -> str:
    """The ``args`` field: a JSON array, each argument checked where it sits."""
    for index, arg in enumerate(args, start=1):
        jencode.check(arg, f"argument {index}")
    return jencode.encode_unchecked(list(args))


def _chain_text(chain: Any) -> str:
    # DIRAC's X509Chain; we only need its PEM text.
    dumped = chain.dumpAllToString()
    if isinstance(dumped, dict):
        if not dumped.get("OK"):
            raise CredentialError(
                f"cannot read the proxy chain: {dumped.get('Message')}"
            )
        dumped = dumped["Value"]
    return dumped.decode() if isinstance(dumped, bytes) else str(dumped)


def executeRPCStub(rpcStub: Any) -> dict[str, Any]:  # noqa: N802, N803
    """Replay a stub ``((serviceName, kwargs), method, args)``; lists work too.

    A stub read back from JSON is made of lists; both shapes replay the same.
    """
    try:
        (service, kwargs), method, args = rpcStub
    except (TypeError, ValueError):
        return S_ERROR(
            "not a stub: expected ((serviceName, kwargs), method, args), "
            f"got {rpcStub!r:.100}"
        )
    if not isinstance(service, str) or not isinstance(method, str):
        return S_ERROR(
            f"not a stub: service and method must be strings in {rpcStub!r:.100}"
        )
    if service.startswith("dips://"):
        return S_ERROR(
            f"cannot replay {method} on {service}: it is a DISET (dips://) stub, "
            "and diracsh speaks HTTPS only"
        )
    kwargs = kwargs or {}
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        return S_ERROR(
            f"not a stub: its keywords are not a dict of names: {kwargs!r:.100}"
        )
    if not isinstance(args or [], list | tuple):
        return S_ERROR(f"not a stub: its arguments are not a list: {args!r:.100}")
    client = TornadoClient(service, **kwargs)
    return client.executeRPC(method, *(args or []))
