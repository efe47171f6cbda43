"""Long-running DIRAC reference worker, run with the DIRAC venv's python.

The project's tests run in the project venv and must never import DIRAC, so
they start this script with the interpreter of the separate DIRAC venv (made
by ``scripts/dirac-reference``) and talk to it over stdin/stdout.

Framing: every message, in both directions, is an 8-byte big-endian length
followed by that many bytes of pickle.  Requests are tuples::

    ("hello",)                                   -> {"dirac": ..., "python": ...}
    ("encode", value)                            -> DIRAC JEncode text
    ("decode", text)                             -> decoded value
    ("call", url, method, args, kwargs, env)     -> executeRPC result dict
    ("receiveFile", url, dest, args, kwargs, env) -> receiveFile result dict
    ("sendFile", url, path, fileID, kwargs, env) -> sendFile result dict
    ("constants",)                               -> TornadoClient's KW_*/VAL_* names

Replies are ``("ok", value)`` or ``("error", "TypeName: message")``.  Replies
are made "portable" first: anything that is not a builtin value (DIRAC
classes, exceptions, the traceback in ``ExecInfo``) is turned into a
``{"__foreign__": "module.Class", ...}`` dict, because the project venv has no
DIRAC to unpickle it with.

What DIRAC 9.1.22 needs to run with no dirac.cfg and no Configuration Service
(found by reading its import path and by trial):

* ``import DIRAC`` builds ``gConfig`` at import time and loads
  ``<DIRAC.rootPath>/etc/dirac.cfg``.  ``rootPath`` defaults to
  ``sys.base_prefix`` (the *base* interpreter, not the venv!), so a stray
  dirac.cfg there would leak in.  We point ``DIRAC_ROOT_PATH`` at an empty
  temporary directory: no local cfg means no ``/DIRAC/Configuration/Servers``,
  and with no servers the refresher never contacts a CS.  The same empty root
  also keeps DIRAC from finding host certs or CAs under ``<root>/etc``.
* ``DIRACSYSCONFIG`` is read only by ``LocalConfiguration`` (that is, by
  ``DIRAC.initialize()`` / ``Script.parseCommandLine()``), which we never
  call; we drop it anyway so a caller's value cannot matter.
* ``DIRAC_DISABLE_GCONFIG_REFRESH=yes`` makes any CS refresh that would still
  be attempted raise instead of silently going to the network.
* ``DIRAC_USE_JSON_ENCODE`` only selects the DISET (dips) encoding; Tornado
  always uses JEncode.  We set the default ("yes") explicitly for clarity.
* Nothing else is needed: full ``https://`` URLs bypass the CS lookup, the VO
  defaults to ``unknown``, and the credentials come from the environment
  (``X509_USER_PROXY``/``GRID_PROXY_FILE`` and ``X509_CERT_DIR``) or from the
  ``proxyLocation``/``skipCACheck`` kwargs.

Server verification with ``X509_CERT_DIR`` works, with one trap.  DIRAC sets
the directory as ``session.verify`` on its ``requests.Session``; requests hands
it to OpenSSL as a CA *path*, so it needs ``<subject_hash>.0`` links, exactly
like a grid CA dir.  The trap: ``Session.merge_environment_settings`` lets
``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) from the environment override
``session.verify``.  Many machines (this workplace's among them) export them
pointing at the system bundle, and DIRAC then silently verifies against that
bundle instead of ``X509_CERT_DIR`` ("CERTIFICATE_VERIFY_FAILED").  So the
worker drops both at startup; a caller may still pass them in a call's env.
The CA dir is read when the client is built, which is one reason the client
cache below is dropped whenever the environment changes.

Other DIRAC 9.1.22 behaviour worth knowing when comparing against it:

* A bare ``System/Component`` name fails ("URL for service ... not found"):
  there is no CS to resolve it.  Use full ``https://`` URLs.
* An init failure (e.g. "No CAs found!" when no CA dir exists) is stored and
  returned by every call of that client, before any network traffic.
* ``timeout`` is floored at 120 s (600 s when unset) and lands in the stub.
* ``clientSetup`` is sent as the string ``None`` (v9 dropped Setups).
* JSerializable classes of DIRAC subsystems (FTS3Job, ...) cannot be decoded
  here: their modules import packages (fts3, diracx, ...) we do not install.
* The only log line seen in normal use is DIRAC's "No proxy found" error,
  on stderr (see above).
"""

from __future__ import annotations

import os
import resource
import sys

# Keep the protocol streams away from DIRAC before anything else is imported:
# DIRAC's logger writes to stdout by default, and a stray print() or prompt
# must not corrupt the framing nor eat our input.  The protocol keeps private
# duplicates of fds 0 and 1; fd 1 then points at stderr and fd 0 at /dev/null.
_PROTO_IN = os.fdopen(os.dup(0), "rb")
_PROTO_OUT = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
_devnull = os.open(os.devnull, os.O_RDONLY)
os.dup2(_devnull, 0)
os.close(_devnull)

import datetime  # noqa: E402
import pickle  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

_HEADER = struct.Struct(">Q")
# Exact types that pickle identically in both venvs.
_SCALARS = (type(None), bool, int, float, str, bytes, datetime.datetime, datetime.date)

# An empty DIRAC root: see the module docstring.
_EMPTY_ROOT = tempfile.mkdtemp(prefix="diracsh-dirac-root-")
os.environ["DIRAC_ROOT_PATH"] = _EMPTY_ROOT
os.environ["DIRAC_DISABLE_GCONFIG_REFRESH"] = "yes"
os.environ["DIRAC_USE_JSON_ENCODE"] = "yes"
os.environ.pop("DIRACSYSCONFIG", None)
# They would override DIRAC's CA dir: see the module docstring.
for _name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(_name, None)

import DIRAC  # noqa: E402
from DIRAC.Core.Tornado.Client.TornadoClient import TornadoClient  # noqa: E402
from DIRAC.Core.Utilities.JEncode import decode, encode  # noqa: E402

# gConfig has read (no) dirac.cfg by now; later lookups under rootPath only
# test whether paths exist, which a missing root answers the same way as an
# empty one.  Removing it now means a killed worker leaves nothing behind.
shutil.rmtree(_EMPTY_ROOT, ignore_errors=True)


class Worker:
    """Executes requests; keeps one TornadoClient per (url, kwargs)."""

    def __init__(self) -> None:
        self._clients: dict[str, TornadoClient] = {}
        self._env: dict[str, str | None] = {}
        self._saved_env: dict[str, str | None] = {}

    def handle(self, request: tuple[Any, ...]) -> Any:
        ops: dict[str, Callable[..., Any]] = {
            "hello": self.hello,
            "encode": encode,
            "decode": lambda text: decode(text)[0],
            "call": self.call,
            "receiveFile": self.receive_file,
            "sendFile": self.send_file,
            "constants": constants,
            "bench_calls": self.bench_calls,
            "bench_codec": bench_codec,
            "bench_download": self.bench_download,
        }
        op, *args = request
        if op not in ops:
            raise ValueError(f"unknown operation {op!r}")
        return ops[op](*args)

    def hello(self) -> dict[str, str]:
        return {"dirac": DIRAC.version, "python": sys.version}

    def call(
        self,
        url: str,
        method: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        env: dict[str, str | None],
    ) -> Any:
        return self._client(url, kwargs, env).executeRPC(method, *args)

    def receive_file(
        self,
        url: str,
        dest: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        env: dict[str, str | None],
    ) -> Any:
        return self._client(url, kwargs, env).receiveFile(dest, *args)

    def send_file(
        self,
        url: str,
        path: str,
        file_id: Any,
        kwargs: dict[str, Any],
        env: dict[str, str | None],
    ) -> Any:
        return self._client(url, kwargs, env).sendFile(path, file_id)

    def bench_calls(
        self,
        url: str,
        method: str,
        args: tuple[Any, ...],
        count: int,
        fresh: bool,
        env: dict[str, str | None],
    ) -> list[float]:
        """Seconds per call: one client reused, or a new one per call (fresh)."""
        self._set_env(env)
        client = TornadoClient(url)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            if fresh:
                client = TornadoClient(url)
            result = client.executeRPC(method, *args)
            times.append(time.perf_counter() - started)
            if not result["OK"]:
                raise RuntimeError(result["Message"])
        return times

    def bench_download(
        self, url: str, dest: str, args: tuple[Any, ...], env: dict[str, str | None]
    ) -> dict[str, float]:
        """Seconds and peak-RSS growth (KiB) of one receiveFile."""
        self._set_env(env)
        client = TornadoClient(url)
        before = _rss_kib()
        started = time.perf_counter()
        result = client.receiveFile(dest, *args)
        seconds = time.perf_counter() - started
        if not result["OK"]:
            raise RuntimeError(result["Message"])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"seconds": seconds, "rss_growth_kib": max(0, peak - before)}

    def _client(
        self, url: str, kwargs: dict[str, Any], env: dict[str, str | None]
    ) -> TornadoClient:
        self._set_env(env)
        # repr, not hash(): kwargs may hold lists.  DIRAC adds keys (timeout,
        # useCertificates, ...) to its own copy, so the key stays stable.
        key = repr((url, sorted(kwargs.items())))
        if key not in self._clients:
            self._clients[key] = TornadoClient(url, **kwargs)
        return self._clients[key]

    def _set_env(self, env: dict[str, str | None]) -> None:
        """Make exactly `env` (over the startup environment) current.

        A value of None unsets the variable.  DIRAC reads the CA dir when it
        builds a client and the proxy path on each call, so a cached client
        built under another environment could silently mix the two: drop them.
        """
        if env == self._env:
            return
        for name, value in self._saved_env.items():
            _putenv(name, value)
        self._saved_env = {name: os.environ.get(name) for name in env}
        for name, value in env.items():
            _putenv(name, value)
        self._env = dict(env)
        self._clients.clear()


def constants() -> dict[str, str]:
    """TornadoClient's class constants: the keyword names DIRAC code uses."""
    return {
        name: getattr(TornadoClient, name)
        for name in dir(TornadoClient)
        if name.startswith(("KW_", "VAL_"))
    }


def bench_codec(value: Any, count: int) -> dict[str, list[float]]:
    """Seconds per JEncode encode and decode of `value`."""
    text = encode(value)
    timings: dict[str, list[float]] = {"encode": [], "decode": []}
    for _ in range(count):
        started = time.perf_counter()
        encode(value)
        timings["encode"].append(time.perf_counter() - started)
        started = time.perf_counter()
        decode(text)
        timings["decode"].append(time.perf_counter() - started)
    return timings


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _putenv(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def portable(value: Any) -> Any:
    """Rebuild `value` from builtin types only, so the project venv can load it."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if isinstance(value, dict):
        return {_portable_key(k): portable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        members = (_portable_key(v) for v in value)
        return frozenset(members) if isinstance(value, frozenset) else set(members)
    if isinstance(value, (list, tuple)):
        return (tuple if isinstance(value, tuple) else list)(map(portable, value))
    return _foreign(value)


def _portable_key(value: Any) -> Any:
    """Like portable(), for dict keys and set members, which must stay hashable."""
    converted = portable(value)
    try:
        hash(converted)
    except TypeError:
        return repr(value)
    return converted


def _foreign(value: Any) -> dict[str, Any]:
    kind = type(value)
    out: dict[str, Any] = {"__foreign__": f"{kind.__module__}.{kind.__qualname__}"}
    # JSerializable objects (e.g. FTS3Job) carry their wire attributes here.
    attrs = getattr(value, "_attrToSerialize", None)
    if isinstance(attrs, (list, tuple)):
        out.update({a: portable(getattr(value, a, None)) for a in attrs})
    else:
        out["repr"] = repr(value)
    return out


def _read_exact(size: int) -> bytes | None:
    """`size` bytes, or None on a clean end of input before the first byte."""
    data = _PROTO_IN.read(size)
    if not data and size:
        return None
    if len(data) != size:
        raise EOFError("truncated message on stdin")
    return data


def _read_frame() -> bytes | None:
    header = _read_exact(_HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    body = _read_exact(size)
    if body is None:
        raise EOFError("truncated message on stdin")
    return body


def _write_reply(reply: tuple[str, Any]) -> None:
    body = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    _PROTO_OUT.write(_HEADER.pack(len(body)) + body)
    _PROTO_OUT.flush()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _serve(worker: Worker) -> None:
    while True:
        try:
            frame = _read_frame()
        except EOFError as exc:
            # The stream is out of step now; nothing sane can follow.
            _write_reply(("error", _describe(exc)))
            return
        if frame is None:
            return
        try:
            result = worker.handle(pickle.loads(frame))
            reply: tuple[str, Any] = ("ok", portable(result))
        except Exception as exc:  # noqa: BLE001 - every failure goes to the caller
            reply = ("error", _describe(exc))
        _write_reply(reply)


def main() -> int:
    _serve(Worker())
    return 0


if __name__ == "__main__":
    sys.exit(main())
