"""Resolving ``System/Component`` to the service's URLs, as DIRAC does.

For service ``S/C`` in a configuration (see :mod:`diracsh.client.dirac_config`):

1. the URL option is ``/Systems/S/<Instance>/URLs/C``, the instance read from
   ``/DIRAC/Setups/<Setup>/S`` and the setup from ``/DIRAC/Setup`` (DIRAC 8's
   layout), else ``/Systems/S/URLs/C`` (DIRAC 9's);
2. its value is a comma list; ``$MAINSERVERS$`` stands for each host of the
   Operations option ``MainServers``; a missing port becomes ``:443`` for
   https, a missing path ``/S/C``; duplicates are dropped;
3. ``FailoverURLs/C`` of the same section is appended;
4. URLs matching ``/DIRAC/PreferredURLPatterns`` come first; like DIRAC,
   :func:`resolve_service_urls` shuffles the URLs of each preference rank
   (of the main list and of the failover list apart) so that clients spread
   over the servers; listings keep the configuration's order;
5. only https URLs are usable: diracsh does not speak DIRAC's dips://.
"""

from __future__ import annotations

import argparse
import fnmatch
import logging
import random
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from diracsh.client.dirac_config import (
    ConfigError,
    DiracConfig,
    current_config,
    load_config,
    refresh_due,
)

__all__ = [
    "configured_urls",
    "known_services",
    "main_services",
    "resolve_service_urls",
]

log = logging.getLogger("diracsh")

MAINSERVERS = "$MAINSERVERS$"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def split_name(name: str) -> tuple[str, str]:
    system, _, component = name.partition("/")
    if not system or not component or "/" in component:
        raise LookupError(
            f"{name!r} is neither an https:// URL nor a System/Component name"
        )
    return system, component


def resolve_service_urls(
    name: str,
    config: DiracConfig | None = None,
    *,
    client_options: Mapping[str, Any] | None = None,
    shuffle: bool = True,
) -> list[str]:
    """The https URLs of service *name* (``System/Component``), failover last.

    Within each preference rank the order is random, as DIRAC's, unless
    *shuffle* is False.

    *config* defaults to :func:`current_config`, which reaches the
    Configuration Server with the credentials in *client_options*
    (TornadoClient keywords) or the environment's. Raises LookupError, with
    what to do, when the service has no https URL.
    """
    system, component = split_name(name)
    try:
        config = config or current_config(client_options)
    except ConfigError as exc:
        raise LookupError(f"{exc}, or give the service's full https:// URL") from exc

    groups = _url_groups(config, system, component)
    if shuffle:
        for group in groups:
            random.shuffle(group)
    urls = [url for group in groups for url in group]
    if not urls:
        raise LookupError(
            f"{name} is not in the DIRAC configuration (no {system}/URLs/{component} "
            f"under /Systems; read {config.describe()}); check the name with "
            "'diracsh services', or give the service's full https:// URL"
        )
    usable = [url for url in urls if url.startswith("https://")]
    if not usable:
        raise LookupError(
            f"{name} has only non-https URLs ({', '.join(urls)}): diracsh speaks "
            "DIRAC's HTTPS protocol only; give the URL of its Tornado (https) "
            "service if it has one"
        )
    return usable


def configured_urls(config: DiracConfig, system: str, component: str) -> list[str]:
    """Every URL of ``system/component`` in *config*, whatever the scheme.

    In the configuration's order, preferred URLs first and failover URLs last.
    Raises LookupError for a URL that cannot be completed.
    """
    return [url for group in _url_groups(config, system, component) for url in group]


def _url_groups(config: DiracConfig, system: str, component: str) -> list[list[str]]:
    """The URLs in groups DIRAC shuffles apart: main then failover, by rank."""
    section = _urls_section(config, system, component)
    if section is None:
        return []
    groups: list[list[str]] = []
    seen: set[str] = set()
    for kind in ("URLs", "FailoverURLs"):
        listed = config.option_list(f"{section}/{kind}/{component}")
        urls = [
            _complete(url, system, component)
            for entry in listed
            for url in _expand(entry, config, f"{section}/{kind}/{component}")
        ]
        for group in _by_preference(urls, config):
            fresh = [url for url in dict.fromkeys(group) if url not in seen]
            seen.update(fresh)
            if fresh:
                groups.append(fresh)
    return groups


def _urls_section(config: DiracConfig, system: str, component: str) -> str | None:
    """The section whose ``URLs`` lists the component: with instance, then without."""
    candidates = [f"/Systems/{system}"]
    instance = _instance(config, system)
    if instance:
        candidates.insert(0, f"/Systems/{system}/{instance}")
    for section in candidates:
        for kind in ("URLs", "FailoverURLs"):
            if config.option(f"{section}/{kind}/{component}") is not None:
                return section
    return None


def _instance(config: DiracConfig, system: str) -> str | None:
    setup = config.option("/DIRAC/Setup")
    return config.option(f"/DIRAC/Setups/{setup}/{system}") if setup else None


def _expand(url: str, config: DiracConfig, where: str) -> list[str]:
    if MAINSERVERS not in url:
        return [url]
    hosts = _main_servers(config)
    if not hosts:
        raise LookupError(
            f"{where} uses {MAINSERVERS} but no MainServers option is set "
            "(looked in /Operations/Defaults and the VO's Operations section)"
        )
    return [url.replace(MAINSERVERS, host) for host in hosts]


def _main_servers(config: DiracConfig) -> list[str]:
    """``MainServers`` from Operations: the most specific section that sets it."""
    setup = config.option("/DIRAC/Setup")
    vo = config.option("/DIRAC/VirtualOrganization")
    sections = ["Defaults"]
    if setup:
        sections.append(setup)
    if vo:
        sections += [f"{vo}/Defaults", f"{vo}/{setup}" if setup else "", vo]
    found: list[str] = []
    for section in filter(None, sections):
        found = config.option_list(f"/Operations/{section}/MainServers") or found
    return found


def _complete(url: str, system: str, component: str) -> str:
    """Add the default port and the ``/System/Component`` path when missing."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as exc:
        raise LookupError(f"bad port in {url!r} for {system}/{component}") from exc
    if not parts.scheme or not parts.hostname:
        raise LookupError(f"{url!r}, listed for {system}/{component}, is not a URL")
    netloc = parts.netloc
    if port is None and parts.scheme in _DEFAULT_PORTS:
        netloc += f":{_DEFAULT_PORTS[parts.scheme]}"
    path = parts.path if parts.path.strip("/") else f"/{system}/{component}"
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def _by_preference(urls: list[str], config: DiracConfig) -> list[list[str]]:
    """*urls* in groups by the first ``PreferredURLPatterns`` entry they match."""
    patterns = []
    for text in config.option_list("/DIRAC/PreferredURLPatterns"):
        try:
            patterns.append(re.compile(text))
        except re.error as exc:
            log.warning("ignoring PreferredURLPatterns entry %r: %s", text, exc)
    groups: list[list[str]] = [[] for _ in range(len(patterns) + 1)]
    for url in urls:
        matching = (i for i, pattern in enumerate(patterns) if pattern.match(url))
        groups[next(matching, len(patterns))].append(url)
    return groups


def known_services(
    config: DiracConfig | None = None,
    *,
    https_only: bool = False,
    client_options: Mapping[str, Any] | None = None,
    problems: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """Every ``System/Component`` with URLs in the configuration, sorted by name.

    With *https_only*, only the https URLs, and only services that have one
    (what ``.connect`` can complete). A service whose URLs cannot be worked
    out is listed with none, and why in *problems* (and the log). *config* defaults to
    :func:`current_config`, reached with *client_options* as in
    :func:`resolve_service_urls`.
    """
    config = config or current_config(client_options)
    services: dict[str, list[str]] = {}
    for system in config.sections("/Systems"):
        for component in _components(config, system):
            try:
                urls = configured_urls(config, system, component)
            except LookupError as exc:
                log.warning("%s/%s: %s", system, component, exc)
                if problems is not None:
                    problems[f"{system}/{component}"] = str(exc)
                urls = []
            if https_only:
                urls = [url for url in urls if url.startswith("https://")]
                if not urls:
                    continue
            services[f"{system}/{component}"] = urls
    return dict(sorted(services.items(), key=lambda item: item[0].lower()))


def _components(config: DiracConfig, system: str) -> list[str]:
    sections = [f"/Systems/{system}"]
    instance = _instance(config, system)
    if instance:
        sections.append(f"/Systems/{system}/{instance}")
    names = [
        n
        for s in sections
        for k in ("URLs", "FailoverURLs")
        for n in config.options(f"{s}/{k}")
    ]
    return list(dict.fromkeys(names))


# -- diracsh services [PATTERN] ------------------------------------------------


def _services_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diracsh services",
        description="List the services the DIRAC configuration knows, with URLs.",
    )
    parser.add_argument(
        "pattern",
        nargs="?",
        default="*",
        help="System/Component glob or substring (case-insensitive)",
    )
    parser.add_argument(
        "--dirac-cfg", metavar="FILE", action="append", help="read this dirac.cfg"
    )
    network = parser.add_mutually_exclusive_group()
    network.add_argument(
        "--refresh", action="store_true", help="ask the Configuration Server now"
    )
    network.add_argument(
        "--offline", action="store_true", help="never contact a server: cache only"
    )
    parser.add_argument("--proxy", metavar="FILE", help="X.509 proxy file")
    parser.add_argument("--ca-dir", metavar="DIR", help="CA directory or file")
    return parser


def main_services(argv: list[str]) -> int:
    """``diracsh services [PATTERN]``: exit 0 listed, 1 none matched, 2 usage,
    3 no configuration."""
    try:
        args = _services_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)

    options = {"proxyLocation": args.proxy, "caLocation": args.ca_dir}
    given = {k: v for k, v in options.items() if v}
    files = _files(args.dirac_cfg)
    try:
        config = load_config(
            files, network=not args.offline, refresh=args.refresh, client_options=given
        )
        if not (args.offline or args.refresh) and refresh_due(config):
            # A one-shot listing has no later moment to refresh in: do it now.
            config = load_config(files, refresh=True, client_options=given)
    except ConfigError as exc:
        _emit(f"diracsh services: {exc}", error=True)
        return 3
    _emit(f"# {config.describe()}", error=True)

    problems: dict[str, str] = {}
    services = _matching(known_services(config, problems=problems), args.pattern)
    if not services:
        _emit(f"diracsh services: no service matches {args.pattern!r}", error=True)
        return 1
    width = max(len(name) for name in services)
    for name, urls in services.items():
        _emit(service_line(name, urls, width, problems.get(name)))
    return 0


def service_line(
    name: str, urls: list[str], width: int, problem: str | None = None
) -> str:
    """One listed service: its name, its URLs, and whether diracsh can call it."""
    if problem is not None:
        return f"{name:<{width}}  (no usable URL: {problem})"
    https = any(url.startswith("https://") for url in urls)
    note = "" if https else "  (no https URL: diracsh cannot call it)"
    return f"{name:<{width}}  {', '.join(urls) or '(no usable URL)'}{note}"


def _emit(line: str, *, error: bool = False) -> None:
    print(line, file=sys.stderr if error else sys.stdout)  # noqa: T201 - CLI front end


def _files(given: list[str] | None) -> list[Path] | None:
    return [Path(name) for name in given] if given else None


def _matching(services: dict[str, list[str]], pattern: str) -> dict[str, list[str]]:
    if not any(c in pattern for c in "*?["):
        pattern = f"*{pattern}*"
    pattern = pattern.lower()
    return {n: u for n, u in services.items() if fnmatch.fnmatch(n.lower(), pattern)}
