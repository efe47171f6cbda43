"""Project-side handle on the DIRAC reference worker (see worker.py).

DIRAC is never imported into the project venv: `DiracReference` starts
``worker.py`` with the DIRAC venv's python and exchanges length-prefixed
pickles with it.  Only builtin values cross the pipe.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any, TypeVar

__all__ = ["DiracRefError", "DiracReference", "dirac_python", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("worker.py")
VENV_ENV_VAR = "DIRACSH_DIRAC_VENV"
DEFAULT_VENV = REPO_ROOT / ".venv-dirac"
# Written by scripts/dirac-reference once the venv is fully installed.
MARKER = ".diracsh-reference-complete"

_HEADER = struct.Struct(">Q")
_T = TypeVar("_T")
# DIRAC's own default RPC timeout is 600 s (and never below 120 s), so a
# reply can legitimately take that long; only give up well after it.
DEFAULT_REPLY_TIMEOUT = 700.0
# Variables that steer DIRAC or Python; the worker must not inherit ours.
_SCRUBBED_PREFIXES = ("X509_", "DIRAC", "BEARER_TOKEN", "PYTHON")
_SCRUBBED_NAMES = {"GRID_PROXY_FILE", "VIRTUAL_ENV"}


class DiracRefError(Exception):
    """DIRAC (or the worker) failed; ``remote`` holds its "Type: message" text."""

    def __init__(self, remote: str) -> None:
        super().__init__(remote)
        self.remote = remote


def dirac_python() -> Path | None:
    """The DIRAC venv's python, or None when that venv is not (fully) set up."""
    venv = Path(os.environ.get(VENV_ENV_VAR) or DEFAULT_VENV)
    python = venv / "bin" / "python"
    if python.exists() and (venv / MARKER).exists():
        return python
    return None


class DiracReference:
    """One long-running worker process; not thread-safe (one request at a time)."""

    def __init__(
        self,
        python: str | os.PathLike[str],
        reply_timeout: float = DEFAULT_REPLY_TIMEOUT,
    ) -> None:
        self.reply_timeout = reply_timeout
        # A file, not a pipe: nobody drains stderr while we wait for a reply,
        # and DIRAC logs there freely.  Its tail explains a crashed worker.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            # -I: ignore PYTHON* variables and the user site, so nothing of
            # the project venv leaks into the DIRAC interpreter.
            [os.fspath(python), "-I", os.fspath(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=_worker_environment(),
        )
        self.info: dict[str, str] = self._typed(dict, "hello")

    def encode(self, value: Any) -> str:
        """DIRAC's JEncode text for `value`."""
        return self._typed(str, "encode", value)

    def decode(self, text: str) -> Any:
        """DIRAC's JEncode decoding of `text` (the value only, not the length)."""
        return self._request("decode", text)

    def call(
        self,
        url: str,
        method: str,
        *args: Any,
        kwargs: dict[str, Any] | None = None,
        env: dict[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """``TornadoClient(url, **kwargs).executeRPC(method, *args)`` under `env`.

        `env` is applied over the worker's clean environment (None unsets a
        variable); e.g. ``{"X509_CERT_DIR": ..., "X509_USER_PROXY": ...}``.
        """
        return self._typed(dict, "call", url, method, args, kwargs or {}, env or {})

    def receive_file(
        self,
        url: str,
        dest: str | os.PathLike[str],
        *args: Any,
        kwargs: dict[str, Any] | None = None,
        env: dict[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """``TornadoClient.receiveFile(dest, *args)``: writes `dest` itself."""
        return self._typed(
            dict, "receiveFile", url, os.fspath(dest), args, kwargs or {}, env or {}
        )

    def send_file(
        self,
        url: str,
        path: str | os.PathLike[str],
        file_id: Any,
        kwargs: dict[str, Any] | None = None,
        env: dict[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """``TornadoClient.sendFile(path, file_id)``."""
        return self._typed(
            dict, "sendFile", url, os.fspath(path), file_id, kwargs or {}, env or {}
        )

    def run(self, *request: Any) -> Any:
        """Any worker operation, e.g. ``run("bench_calls", ...)`` (see worker.py)."""
        return self._request(*request)

    def close(self) -> None:
        """Stop the worker (closing its stdin ends its loop)."""
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def __enter__(self) -> DiracReference:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _typed(self, kind: type[_T], *request: Any) -> _T:
        value = self._request(*request)
        if not isinstance(value, kind):
            raise DiracRefError(f"TypeError: worker sent {type(value).__name__}")
        return value

    def _request(self, *request: Any) -> Any:
        if self._proc.poll() is not None:
            raise DiracRefError(self._death_notice())
        body = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(_HEADER.pack(len(body)) + body)
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise DiracRefError(self._death_notice()) from None
        status, value = pickle.loads(self._read_frame())
        if status != "ok":
            raise DiracRefError(value)
        return value

    def _read_frame(self) -> bytes:
        deadline = time.monotonic() + self.reply_timeout
        (size,) = _HEADER.unpack(self._read_exact(_HEADER.size, deadline))
        return self._read_exact(size, deadline)

    def _read_exact(self, size: int, deadline: float) -> bytes:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        chunks: list[bytes] = []
        missing = size
        while missing:
            # os.read on the raw fd: select() cannot see data that a
            # buffered reader has already pulled into its buffer.
            remaining = max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], remaining)[0]:
                self._proc.kill()
                raise DiracRefError(
                    f"TimeoutError: no reply within {self.reply_timeout} s"
                )
            chunk = os.read(fd, missing)
            if not chunk:
                self._proc.wait()
                raise DiracRefError(self._death_notice())
            chunks.append(chunk)
            missing -= len(chunk)
        return b"".join(chunks)

    def _death_notice(self) -> str:
        self._stderr.seek(0)
        tail = self._stderr.read()[-4000:].decode(errors="replace").strip()
        return f"WorkerDied: exit code {self._proc.poll()}; stderr:\n{tail}"


def _worker_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name not in _SCRUBBED_NAMES and not name.startswith(_SCRUBBED_PREFIXES)
    }
