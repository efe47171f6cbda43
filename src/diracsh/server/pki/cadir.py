"""Files: private files (mode 0600) and CA directories laid out for ``capath``.

:func:`write_private` writes a file atomically with mode 0600.
:func:`write_ca_dir` writes CA certificates like
``/etc/grid-security/certificates``, each with its OpenSSL ``<subject hash>.N``
symlink, so that ``capath=`` trust stores find them; calling it again with the
same CAs changes nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from diracsh import files
from diracsh.server.pki.certs import Issued
from diracsh.server.pki.names import subject_hash

_CA_FILE_NAME = "diracsh-demo-CA"
_HASH_LINK = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")


def write_private(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 (see diracsh.files)."""
    files.write_private(path, data)


def _write_public(path: Path, data: bytes) -> None:
    # Leave identical files alone so that repeated calls keep their mtime.
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    files.atomic_write(path, data, 0o644)


def _ca_file_name(name: str, index: int) -> str:
    return f"{name}.pem" if index == 0 else f"{name}-{index + 1}.pem"


def _atomic_symlink(target: str, link: Path) -> None:
    tmp = link.with_name(f".{link.name}.{secrets.token_hex(8)}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _drop_stale_links(directory: Path, wanted: dict[str, str]) -> None:
    """Remove hash links to our files whose hash no longer matches them."""
    for entry in directory.iterdir():
        if not (_HASH_LINK.match(entry.name) and entry.is_symlink()):
            continue
        target = os.readlink(entry)
        if target in wanted and not entry.name.startswith(wanted[target] + "."):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _link_hash(directory: Path, target: str, digest: str) -> None:
    # OpenSSL tries <hash>.0, .1, ... and stops at the first missing one, so
    # take the lowest slot that is free (or a dangling link) on a collision.
    index = 0
    while True:
        link = directory / f"{digest}.{index}"
        if link.is_symlink() and os.readlink(link) == target:
            return
        if not link.exists():
            _atomic_symlink(target, link)
            return
        index += 1


def write_ca_dir(
    directory: Path,
    cas: Sequence[Issued | x509.Certificate],
    *,
    hash_links: bool = True,
    name: str = _CA_FILE_NAME,
) -> Path:
    """Write CA certificates as a ``capath`` directory and return it.

    Files are ``<name>.pem``, ``<name>-2.pem``, ...; with ``hash_links`` each
    gets a relative symlink ``<subject hash>.N`` as in
    ``/etc/grid-security/certificates``. Calling again with the same CAs
    changes nothing; links left pointing at a rewritten file are dropped.
    """
    directory = Path(directory)
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    certs = [ca.cert if isinstance(ca, Issued) else ca for ca in cas]
    files = {_ca_file_name(name, i): cert for i, cert in enumerate(certs)}
    for file_name, cert in files.items():
        _write_public(
            directory / file_name, cert.public_bytes(serialization.Encoding.PEM)
        )
    if hash_links:
        hashes_by_file = {f: subject_hash(c) for f, c in files.items()}
        _drop_stale_links(directory, hashes_by_file)
        for file_name, digest in hashes_by_file.items():
            _link_hash(directory, file_name, digest)
    return directory
