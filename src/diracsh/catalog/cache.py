"""Where the DIRAC sources are, and their catalogs cached on disk.

A cached catalog is keyed by its source paths and checked against the
modification times and sizes of every file it was read from.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from diracsh.catalog.model import Catalog
from diracsh.catalog.scanner import handler_files, scan
from diracsh.config import paths, private_dir
from diracsh.files import write_private

log = logging.getLogger("diracsh")

ENV_SOURCES = "DIRACSH_DIRAC_SOURCES"
CACHE_FORMAT = 1


def installed_sources() -> list[Path]:
    """DIRAC and its extensions, from package metadata (nothing is imported).

    ``$DIRACSH_DIRAC_SOURCES`` replaces the search. DIRAC comes first, so an
    extension's handler overrides DIRAC's of the same name.
    """
    explicit = os.environ.get(ENV_SOURCES)
    if explicit:
        return [Path(p).expanduser() for p in explicit.split(os.pathsep) if p]
    from importlib.metadata import entry_points

    found: dict[str, Path] = {}
    for point in entry_points(group="dirac"):
        top = point.module.split(".")[0]
        if point.dist is None:
            continue
        location = Path(str(point.dist.locate_file(top)))
        if location.is_dir():
            found[top] = location
    order = sorted(found, key=lambda name: (name != "DIRAC", name))
    return [found[name] for name in order]


def _fingerprint(files: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(set(files)):
        try:
            stat = os.stat(name)
            digest.update(f"{name}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
        except OSError:
            digest.update(f"{name}\0gone\n".encode())
    return digest.hexdigest()


def _cache_path(sources: Sequence[Path]) -> Path:
    key = hashlib.sha256("\n".join(map(str, sources)).encode()).hexdigest()[:16]
    return paths().cache / "catalog" / f"{key}.json"


def build_catalog(sources: Sequence[Path], *, refresh: bool = False) -> Catalog:
    """The catalog of *sources*: from the cache when no file changed, else scanned."""
    sources = [Path(s).resolve() for s in sources]
    for source in sources:
        if not source.is_dir():
            raise FileNotFoundError(
                f"{source} is not a directory: give a DIRAC source tree or "
                "installed package, e.g. .../site-packages/DIRAC"
            )
    handlers = [str(p) for source in sources for p in handler_files(source)]
    cache = _cache_path(sources)
    if not refresh:
        cached = _read_cached(cache, handlers)
        if cached is not None:
            return cached

    extra = {p.name: p for p in installed_sources() if p.is_dir()}
    catalog = scan(sources, extra)
    _write_cached(cache, catalog, _fingerprint([*handlers, *catalog.files]))
    return catalog


def _read_cached(cache: Path, handlers: list[str]) -> Catalog | None:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("format") != CACHE_FORMAT:
            return None
        if data["fingerprint"] != _fingerprint([*handlers, *data["files"]]):
            return None
        return Catalog.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable catalog cache %s: %s", cache, exc)
        return None


def _write_cached(cache: Path, catalog: Catalog, fingerprint: str) -> None:
    data = {"format": CACHE_FORMAT, "fingerprint": fingerprint, **catalog.to_json()}
    try:
        private_dir(cache.parent)
        write_private(cache, json.dumps(data))
    except OSError as exc:
        log.warning("cannot cache the catalog in %s: %s", cache, exc)


_default: Catalog | None = None
_default_lock = threading.Lock()


def default_catalog() -> Catalog:
    """The catalog of the installed DIRAC sources, built once per process."""
    global _default
    with _default_lock:
        if _default is None:
            sources = [s for s in installed_sources() if s.is_dir()]
            try:
                _default = build_catalog(sources) if sources else Catalog([])
            except (OSError, RecursionError) as exc:
                log.warning("no catalog from %s: %s", sources, exc)
                _default = Catalog([str(s) for s in sources])
        return _default
