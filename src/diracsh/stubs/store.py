"""The cassette file: reading, writing atomically with mode 0600, appending under
a lock; and the :class:`Recorder` that appends each call as it completes."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from diracsh import files, jencode
from diracsh.stubs.entry import CassetteError, Entry
from diracsh.stubs.redaction import entry_from_result

if sys.platform != "win32":
    import fcntl

FORMAT_KEY = "diracsh_cassette"
FORMAT_VERSION = 1


def dumps(entries: Sequence[Entry]) -> str:
    """The cassette text: pretty-printed JSON, values with DIRAC's markers."""
    document = {
        FORMAT_KEY: FORMAT_VERSION,
        "entries": [
            {
                "stub": [[e.service, e.kwargs], e.method, e.args],
                "result": e.result,
                "time": e.time,
                "recorded": e.recorded,
            }
            for e in entries
        ],
    }
    try:
        # jencode writes the markers; re-reading as plain JSON keeps them as dicts.
        plain = json.loads(jencode.encode(document))
    except jencode.EncodeError as exc:
        raise CassetteError(f"cannot store the cassette: {exc}") from exc
    return json.dumps(plain, indent=2, ensure_ascii=False) + "\n"


def loads(text: str | bytes, where: str = "cassette") -> list[Entry]:
    """The entries of a cassette's text; :class:`CassetteError` says what is wrong."""
    try:
        document = jencode.loads(text)
    except jencode.DecodeError as exc:
        raise CassetteError(f"{where} is not a cassette: {exc}") from exc
    if not isinstance(document, dict) or FORMAT_KEY not in document:
        raise CassetteError(
            f"{where} is not a diracsh cassette (no {FORMAT_KEY!r} key): "
            "record one with .record FILE"
        )
    if document[FORMAT_KEY] != FORMAT_VERSION:
        raise CassetteError(
            f"{where} is cassette version {document[FORMAT_KEY]!r}; this diracsh "
            f"reads version {FORMAT_VERSION}: upgrade diracsh"
        )
    raw = document.get("entries")
    if not isinstance(raw, list):
        raise CassetteError(f"{where}: 'entries' must be a list")
    return [_entry(item, f"{where} entry {n}") for n, item in enumerate(raw, 1)]


def _entry(item: Any, where: str) -> Entry:
    try:
        (service, kwargs), method, args = item["stub"]
        result, seconds = item["result"], float(item.get("time", 0.0))
    except (TypeError, ValueError, KeyError) as exc:
        raise CassetteError(
            f"{where} is not {{'stub': [[service, kwargs], method, args], "
            f"'result': {{...}}, 'time': seconds}} ({exc})"
        ) from None
    if not (
        isinstance(service, str)
        and isinstance(method, str)
        and isinstance(kwargs, dict)
        and isinstance(args, list)
        and isinstance(result, dict)
    ):
        raise CassetteError(
            f"{where}: service and method must be strings, kwargs and result "
            "objects, args a list"
        )
    if not _is_result(result):
        raise CassetteError(
            f"{where}: result is not a DIRAC result: it needs 'OK': true with a "
            "'Value', or 'OK': false with a 'Message' string"
        )
    return Entry(
        service, kwargs, method, args, result, seconds, str(item.get("recorded", ""))
    )


def _is_result(result: dict[str, Any]) -> bool:
    if result.get("OK") is True:
        return "Value" in result
    return result.get("OK") is False and isinstance(result.get("Message"), str)


def load(path: str | os.PathLike[str]) -> list[Entry]:
    """Read a cassette file."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise CassetteError(f"cannot read cassette {path}: {exc.strerror}") from exc
    return loads(text, str(path))


def save(path: str | os.PathLike[str], entries: Sequence[Entry]) -> None:
    """Write a cassette atomically, mode 0600."""
    _write_private(Path(path), dumps(entries))


def append(path: str | os.PathLike[str], entries: Sequence[Entry]) -> int:
    """Add *entries* to a cassette (created if missing); returns the new count.

    The whole file is rewritten atomically under a lock on its directory: a
    reader never sees half a file, and two writers lose no entry. That costs
    a rewrite per call, which is fine for cassettes a person records.
    """
    target = Path(path)
    with _locked(target.parent):
        existing = load(target) if target.exists() else []
        combined = [*existing, *entries]
        save(target, combined)
    return len(combined)


def _write_private(path: Path, text: str) -> None:
    try:
        files.write_private(path, text)
    except OSError as exc:
        if not os.access(path.parent, os.W_OK):
            where = f"into {path.parent}"
        else:
            where = str(path)
        raise CassetteError(f"cannot write {where}: {exc.strerror}") from exc


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    if sys.platform == "win32":
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError as exc:
        raise CassetteError(f"cannot open {directory}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class Recorder:
    """Appends every call it is given to a cassette, as each one completes.

    An existing cassette is appended to; any other existing file is refused
    rather than overwritten. A new cassette is written at once (empty), so a
    path that cannot be written fails here and not after the first call.
    """

    def __init__(
        self, path: str | os.PathLike[str], secrets: Iterable[str] = ()
    ) -> None:
        self.path = Path(path)
        self.secrets = list(secrets)
        if self.path.exists():
            self.count = len(load(self.path))
        else:
            save(self.path, [])
            self.count = 0
        self.added = 0

    def record(self, result: Mapping[str, Any], seconds: float) -> Entry:
        """Store a result of ``executeRPC``; returns what was written."""
        entry = entry_from_result(result, seconds, self.secrets)
        self.count = append(self.path, [entry])
        self.added += 1
        return entry
