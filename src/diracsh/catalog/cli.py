"""``diracsh catalog [PATH] [SERVICE]``: build a catalog, summarise it or show
one service's methods."""

from __future__ import annotations

import argparse
import difflib
import sys
import time
from pathlib import Path

from diracsh.catalog.cache import build_catalog, installed_sources
from diracsh.catalog.model import Catalog, _logical
from diracsh.methods import signature


def _catalog_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diracsh catalog",
        description="Build (and cache) the method catalog of DIRAC handler sources; "
        "summarise it, or show one service's methods.",
    )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="PATH|SERVICE",
        help="a DIRAC source tree or package directory (default: the installed "
        "DIRAC), then System/Component",
    )
    parser.add_argument("--refresh", action="store_true", help="scan again, no cache")
    return parser


def main_catalog(argv: list[str]) -> int:
    """``diracsh catalog [PATH] [SERVICE]``: exit 0 shown, 1 unknown service,
    2 usage, 3 no sources."""
    try:
        args = _catalog_parser().parse_args(argv)
        path, service = _split_targets(args.targets)
    except SystemExit as exc:
        return int(exc.code or 0)
    except ValueError as exc:
        _emit(f"diracsh catalog: {exc}", error=True)
        return 2

    sources = [path] if path is not None else installed_sources()
    if not sources:
        _emit(
            "diracsh catalog: no DIRAC sources found: install DIRAC in this "
            "environment, set DIRACSH_DIRAC_SOURCES, or give a PATH",
            error=True,
        )
        return 3
    started = time.monotonic()
    try:
        catalog = build_catalog(sources, refresh=args.refresh)
    except OSError as exc:
        _emit(f"diracsh catalog: {exc}", error=True)
        return 3
    how = "cached" if catalog.from_cache else "scanned"
    took = time.monotonic() - started
    _emit(f"# {', '.join(catalog.sources)} ({how}, {took:.2f} s)", error=True)
    if service is None:
        _print_summary(catalog)
        return 0
    return _print_service(catalog, service)


def _split_targets(targets: list[str]) -> tuple[Path | None, str | None]:
    if len(targets) > 2:
        raise ValueError("give at most a PATH and a SERVICE")
    if len(targets) == 2:
        return Path(targets[0]).expanduser(), targets[1]
    if not targets:
        return None, None
    target = targets[0]
    if Path(target).expanduser().is_dir() or target.startswith((".", "/", "~")):
        return Path(target).expanduser(), None
    return None, target


def _print_summary(catalog: Catalog) -> None:
    handlers = catalog.handlers.values()
    services = catalog.services()
    https = sum(1 for h in handlers if h.https)
    total = sum(len(catalog.methods(name)) for name in services)
    direct = sum(h.direct for h in handlers)
    _emit(
        f"{len(catalog.handlers)} handler modules with {direct} export_ methods "
        "defined in them directly"
    )
    _emit(
        f"{len(services)} services ({https} with an HTTPS handler), {total} methods "
        "counting mixins, bases and built-ins"
    )
    for path, reason in catalog.skipped.items():
        _emit(f"skipped {path}: {reason}")
    width = max((len(name) for name in services), default=0)
    for name in services:
        handler = catalog.lookup(name)
        assert handler is not None
        kind = "https" if handler.https else "dips only"
        count = len(catalog.methods(name))
        _emit(f"{name:<{width}}  {count:>3} methods  {kind:<9}  {handler.handler}")


def _print_service(catalog: Catalog, service: str) -> int:
    handler = catalog.lookup(service)
    if handler is None:
        close = difflib.get_close_matches(service, catalog.services(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        _emit(f"diracsh catalog: no handler for {service}{hint}", error=True)
        return 1
    methods = catalog.methods(service)
    kind = "" if handler.https else "; no HTTPS handler: DIRAC serves it over dips://"
    _emit(
        f"{_logical(handler.service)}: {handler.handler} in {handler.file}, "
        f"{len(methods)} methods{kind}"
    )
    for name, info in methods.items():
        _emit(signature(name, info))
        if info.get("doc"):
            _emit(f"    {info['doc']}")
        if info.get("auth"):
            _emit(f"    who may call: {', '.join(info['auth'])}")
    return 0


def _emit(line: str, *, error: bool = False) -> None:
    print(line, file=sys.stderr if error else sys.stdout)  # noqa: T201 - CLI front end
