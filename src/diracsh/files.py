"""Writing files safely: atomically, private from the first byte.

Used for everything diracsh writes that may hold something private: keys and
proxies (the demo PKI), cassettes, caches of the configuration and catalog.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write", "write_private"]


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int) -> None:
    """Replace *path* with *data*, file mode exactly *mode*.

    The data goes to a temporary file beside *path* which then replaces it:
    readers see the old content or the new, never a part, and a failure
    leaves no temporary file behind.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    # O_EXCL: never reuse (or follow a symlink planted at) the temporary name;
    # the mode is set at creation so the data is never readable by others.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the umask may have removed bits
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_private(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Atomically write *data* (text as UTF-8) to *path* with mode 0600."""
    atomic_write(path, data.encode("utf-8") if isinstance(data, str) else data, 0o600)
