"""The DIRAC configuration that names are resolved with: local cfg files over
the Configuration Server's data.

Local files, lowest priority first, as DIRAC reads them:

* ``<prefix>/etc/dirac.cfg``, the first that exists with prefix
  ``$DIRAC_ROOT_PATH``, ``$DIRACOS``, then this Python's prefixes;
* the files in ``$DIRACSYSCONFIG`` (comma separated; the first listed wins);
* ``~/.dirac.cfg``.

``$DIRACSH_DIRAC_CFG`` (one path, or several separated by commas, the last
winning) replaces that search; so does ``cfg`` in the ``[dirac]`` table of
diracsh's config file, when that variable is not set.

The Configuration Server's data is read from the https URLs in
``/DIRAC/Configuration/Servers`` with ``getCompressedDataIfNewer`` (base64 of
zlib of cfg text), by diracsh's own client with the credentials it finds in
the environment. It is cached in diracsh's cache directory with its version.
Once the cache is older than ``/DIRAC/Configuration/RefreshTime`` (300 s) a
background thread asks the server again (leaving the process waits a few
seconds for it); a lookup never waits for the network when a cache exists, and
the cache keeps working offline. When the servers of the local files fail, the
https servers listed in the cached data are asked too. Local options win over
the server's.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import json
import logging
import os
import sys
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diraccfg import CFG

from diracsh import config as settings
from diracsh.config import paths, private_dir
from diracsh.files import write_private

__all__ = [
    "ENV_CFG",
    "ConfigError",
    "DiracConfig",
    "current_config",
    "fetch_remote",
    "load_config",
    "local_cfg_files",
    "refresh_in_background",
]

log = logging.getLogger("diracsh")

ENV_CFG = "DIRACSH_DIRAC_CFG"
SERVERS_OPTION = "/DIRAC/Configuration/Servers"
VERSION_OPTION = "/DIRAC/Configuration/Version"
REFRESH_OPTION = "/DIRAC/Configuration/RefreshTime"
DEFAULT_REFRESH_SECONDS = 300
# A first fetch blocks the lookup that needs it: keep it short.
FETCH_TIMEOUT = 30.0
# What a caller's client keywords may pass on to the Configuration Server's
# client: credentials and TLS, not a timeout, nor a passphrase prompt (a
# background refresh has nobody to ask).
_CLIENT_KEYS = frozenset(
    {
        "proxyLocation",
        "proxyString",
        "proxyChain",
        "useCertificates",
        "useAccessToken",
        "accessToken",
        "certFile",
        "keyFile",
        "caLocation",
        "skipCACheck",
        "VO",
    }
)


class ConfigError(LookupError):
    """A configuration cannot be read; the message says which and what to do.

    A LookupError: whoever resolves names catches one exception for both.
    """


@dataclass(frozen=True)
class RemoteData:
    """The Configuration Server's cfg text, its version and when it was checked."""

    version: str
    text: str
    checked: float  # time.time() of the last answer from a server


@dataclass(frozen=True)
class DiracConfig:
    """A merged DIRAC configuration and where it came from."""

    cfg: CFG
    local_files: tuple[Path, ...]
    servers: tuple[str, ...]  # the Configuration Servers' https URLs
    remote: RemoteData | None = None
    remote_error: str | None = None  # why the servers could not be read

    def option(self, path: str) -> str | None:
        value = self.cfg.getOption(path)
        return value.strip() if isinstance(value, str) else None

    def option_list(self, path: str) -> list[str]:
        """A comma-separated option, split and stripped, empty items dropped."""
        return split_list(self.option(path) or "")

    def options(self, path: str) -> list[str]:
        section = section_of(self.cfg, path)
        return section.listOptions() if section is not None else []

    def sections(self, path: str) -> list[str]:
        section = section_of(self.cfg, path)
        return section.listSections() if section is not None else []

    def describe(self) -> str:
        """Where the configuration came from, in one line for people."""
        parts = [", ".join(str(f) for f in self.local_files) or "no local cfg file"]
        if self.remote is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.remote.checked))
            parts.append(
                f"Configuration Server data version {self.remote.version} "
                f"(checked {when})"
            )
        if self.remote_error:
            parts.append(f"Configuration Server not read: {self.remote_error}")
        return "; ".join(parts)


def split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def section_of(cfg: CFG, path: str) -> CFG | None:
    found = cfg.getRecursive(path) if path.strip("/") else {"value": cfg}
    value = found["value"] if found else None
    return value if isinstance(value, CFG) else None


# -- local files -----------------------------------------------------------


def local_cfg_files(env: Mapping[str, str] | None = None) -> list[Path]:
    """The local cfg files to read, lowest priority first.

    With ``$DIRACSH_DIRAC_CFG`` set, exactly those files, else those of
    ``[dirac] cfg`` in diracsh's config file (ConfigError if one is missing);
    otherwise the ones of DIRAC's search that exist.
    """
    env = os.environ if env is None else env
    explicit = split_list(env.get(ENV_CFG, ""))
    named, who = [Path(p).expanduser() for p in explicit], f"{ENV_CFG} names"
    if not named:
        named, who = _configured_files()
    if named:
        for path in named:
            if not path.is_file():
                raise ConfigError(
                    f"{who} {path}, which is not a file: point it at your dirac.cfg"
                )
        return named

    found: list[Path] = []
    for prefix in _prefixes(env):
        default = Path(prefix) / "etc" / "dirac.cfg"
        if default.is_file():
            found.append(default)
            break
    for name in reversed(split_list(env.get("DIRACSYSCONFIG", ""))):
        if Path(name).is_file():
            found.append(Path(name))
    home = Path(env.get("HOME") or Path.home()) / ".dirac.cfg"
    if home.is_file():
        found.append(home)
    return list(dict.fromkeys(found))


def _configured_files() -> tuple[list[Path], str]:
    """``[dirac] cfg`` of diracsh's config file, and how to name it in an error.

    A broken config file is logged and ignored, as the shell does with it.
    """
    path = paths().config_file
    try:
        files = settings.load_config(path).dirac_cfg
    except settings.ConfigError as exc:
        log.warning("not using [dirac] cfg: %s", exc)
        return [], ""
    return [Path(f) for f in files], f"[dirac] cfg in {path} names"


def _prefixes(env: Mapping[str, str]) -> list[str]:
    candidates = [env.get("DIRAC_ROOT_PATH"), env.get("DIRACOS")]
    candidates += [sys.prefix, sys.base_prefix]
    return list(dict.fromkeys(c for c in candidates if c))


def read_cfg_file(path: Path) -> CFG:
    try:
        return CFG().loadFromFile(str(path))
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as exc:
        # diraccfg raises KeyError for a section defined twice
        raise ConfigError(f"cannot read the DIRAC cfg file {path}: {exc}") from exc


def merge_local(files: Sequence[Path]) -> CFG:
    merged = CFG()
    for path in files:
        merged = merged.mergeWith(read_cfg_file(path))
    return merged


# -- the Configuration Server ------------------------------------------------


def https_servers(*cfgs: CFG) -> list[str]:
    """The Configuration Servers diracsh can read, local ones first."""
    urls: list[str] = []
    for cfg in cfgs:
        value = cfg.getOption(SERVERS_OPTION)
        urls += split_list(value) if isinstance(value, str) else []
    usable = [url for url in dict.fromkeys(urls) if url.startswith("https://")]
    if urls and not usable:
        log.warning(
            "the Configuration Servers %s are not https: using local cfg only", urls
        )
    return usable


def fetch_remote(
    servers: Sequence[str],
    version: str = "",
    client_options: Mapping[str, Any] | None = None,
) -> RemoteData | None:
    """Ask *servers* for data newer than *version*; None when there is none.

    Raises ConfigError when no server answers with usable data.
    """
    from diracsh.client.tornadoclient import TornadoClient

    options = {k: v for k, v in (client_options or {}).items() if k in _CLIENT_KEYS}
    client = TornadoClient(",".join(servers), timeout=FETCH_TIMEOUT, **options)
    try:
        result = client.getCompressedDataIfNewer(version)
    finally:
        client._close()
    if not result.get("OK"):
        raise ConfigError(result.get("Message") or "no answer")

    value = result.get("Value")
    if not isinstance(value, dict) or "newestVersion" not in value:
        raise ConfigError(f"unexpected answer from {servers[0]}: {value!r:.100}")
    if "data" not in value:
        return None
    return RemoteData(str(value["newestVersion"]), _decode(value["data"]), time.time())


def _decode(data: Any) -> str:
    try:
        text = zlib.decompress(base64.b64decode(data)).decode("utf-8")
        CFG().loadFromBuffer(text)  # refuse broken data before caching it
    except (binascii.Error, zlib.error, UnicodeError, ValueError, TypeError) as exc:
        raise ConfigError(f"the server's configuration data is damaged: {exc}") from exc
    except KeyError as exc:  # diraccfg's word for a section defined twice
        raise ConfigError(f"the server's configuration data is damaged: {exc}") from exc
    return text


# -- the cache -------------------------------------------------------------


def cache_file(servers: Sequence[str]) -> Path:
    """Where the data of these Configuration Servers is cached."""
    key = hashlib.sha256("\n".join(servers).encode()).hexdigest()[:16]
    return paths().cache / "configuration" / f"{key}.json"


def read_cache(path: Path) -> RemoteData | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        return RemoteData(str(stored["version"]), stored["data"], stored["checked"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable configuration cache %s: %s", path, exc)
        return None


def write_cache(path: Path, servers: Sequence[str], data: RemoteData) -> None:
    """Write atomically, 0600 in a 0700 directory."""
    private_dir(path.parent)
    stored = {
        "servers": list(servers),
        "version": data.version,
        "checked": data.checked,
        "data": data.text,
    }
    write_private(path, json.dumps(stored))


def update_cache(
    servers: Sequence[str],
    cached: RemoteData | None,
    client_options: Mapping[str, Any] | None = None,
) -> RemoteData:
    """Ask the servers for newer data and store what they say; ConfigError if down."""
    # DIRAC starts from "0"; "" is older than any version, "0" included, so a
    # server whose data has no version still sends it.
    version = cached.version if cached else ""
    newer = fetch_remote(_servers_to_ask(servers, cached), version, client_options)
    if newer is None:
        if cached is None:
            raise ConfigError("the server sent no data for version ''")
        newer = RemoteData(cached.version, cached.text, time.time())
    else:
        log.info("Configuration Server data version %s", newer.version)
    write_cache(cache_file(servers), servers, newer)
    return newer


def _servers_to_ask(servers: Sequence[str], cached: RemoteData | None) -> list[str]:
    """The local servers, then the https ones the server's own data lists.

    As DIRAC does: a client that knows only the master still reaches the
    other Configuration Servers when the master is down.
    """
    remote = _parse_cached(cached)
    listed = remote.getOption(SERVERS_OPTION) if remote is not None else None
    more = split_list(listed) if isinstance(listed, str) else []
    return list(
        dict.fromkeys([*servers, *(u for u in more if u.startswith("https://"))])
    )


# -- putting it together -----------------------------------------------------

# Background refreshes running, and when the servers last failed, by server list.
_refreshing: dict[tuple[str, ...], threading.Thread] = {}
_failed_at: dict[tuple[str, ...], float] = {}
_refresh_lock = threading.Lock()
# How long leaving waits for a refresh still running: a one-shot command or
# script (``diracsh call``, a drop-in TornadoClient) would otherwise end
# every refresh it starts, and its cache would never be renewed.
EXIT_WAIT_SECONDS = 5.0


def load_config(
    files: Sequence[Path] | None = None,
    *,
    network: bool = True,
    refresh: bool = False,
    client_options: Mapping[str, Any] | None = None,
) -> DiracConfig:
    """Read the local files and the Configuration Server's data (or its cache).

    Without a cache the server is asked now; with one, only with *refresh*
    (see :func:`refresh_in_background`). ``network=False`` never asks: the
    cache or the local files only.
    """
    files = local_cfg_files() if files is None else list(files)
    if not files:
        raise ConfigError(
            "no DIRAC configuration found (looked for $DIRACSYSCONFIG, ~/.dirac.cfg "
            f"and <prefix>/etc/dirac.cfg): set {ENV_CFG}=/path/to/dirac.cfg "
            f"or cfg in the [dirac] table of {paths().config_file}"
        )
    local = merge_local(files)
    servers = https_servers(local)
    if not servers:
        return DiracConfig(local, tuple(files), ())

    cached = read_cache(cache_file(servers))
    error = None
    if network and (cached is None or refresh):
        try:
            cached = update_cache(servers, cached, client_options)
        except ConfigError as exc:
            _failed_at[tuple(servers)] = time.time()
            error = f"{servers[0]}: {exc}"
            log.warning("cannot read the Configuration Server %s", error)
    remote_cfg = _parse_cached(cached)
    if remote_cfg is None:
        return DiracConfig(local, tuple(files), tuple(servers), None, error)
    merged = remote_cfg.mergeWith(local)  # local options win
    return DiracConfig(merged, tuple(files), tuple(servers), cached, error)


def _parse_cached(cached: RemoteData | None) -> CFG | None:
    if cached is None:
        return None
    try:
        return CFG().loadFromBuffer(cached.text)
    except (ValueError, KeyError) as exc:
        log.warning("ignoring damaged Configuration Server data in the cache: %s", exc)
        return None


def refresh_due(config: DiracConfig) -> bool:
    """Whether the cached server data is older than the configured refresh time."""
    if not config.servers:
        return False
    try:
        every = int(config.option(REFRESH_OPTION) or DEFAULT_REFRESH_SECONDS)
    except ValueError:
        every = DEFAULT_REFRESH_SECONDS
    last_answer = config.remote.checked if config.remote else 0.0
    last_try = max(last_answer, _failed_at.get(config.servers, 0.0))
    return time.time() - last_try >= every


def refresh_in_background(
    config: DiracConfig, client_options: Mapping[str, Any] | None = None
) -> threading.Thread | None:
    """Start one daemon thread that updates the cache of *config*'s servers.

    Returns the thread (already running for these servers, or new), or None
    when the configuration names no Configuration Server.
    """
    if not config.servers:
        return None
    key = config.servers
    with _refresh_lock:
        running = _refreshing.get(key)
        if running is not None and running.is_alive():
            return running
        thread = threading.Thread(
            target=_refresh,
            args=(key, config.remote, client_options),
            daemon=True,
            name="diracsh-configuration-refresh",
        )
        if not _refreshing:
            atexit.register(_finish_refreshes)
        _refreshing[key] = thread
        thread.start()
        return thread


def _finish_refreshes() -> None:
    """At exit, give running refreshes up to EXIT_WAIT_SECONDS to store their data."""
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    with _refresh_lock:
        running = [t for t in _refreshing.values() if t.is_alive()]
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))


def _refresh(
    servers: tuple[str, ...],
    cached: RemoteData | None,
    client_options: Mapping[str, Any] | None,
) -> None:
    try:
        update_cache(servers, cached, client_options)
    except ConfigError as exc:
        _failed_at[servers] = time.time()
        log.warning("Configuration Server refresh failed (%s): %s", servers[0], exc)
    except Exception:  # a background thread has nobody to report to but the log
        _failed_at[servers] = time.time()
        log.exception("Configuration Server refresh failed")


_current: tuple[object, DiracConfig] | None = None
_current_lock = threading.Lock()


def current_config(client_options: Mapping[str, Any] | None = None) -> DiracConfig:
    """The configuration now: re-read when a file or the cache changed.

    Starts a background refresh when the server data is due one.
    *client_options* (TornadoClient keywords; only credentials are used) are
    for reaching the Configuration Server, when it must be. Raises ConfigError
    when no local cfg file can be found or read.
    """
    global _current
    files = local_cfg_files()
    with _current_lock:
        if _current is None or _current[0] != _state_key(files):
            config = load_config(files, client_options=client_options)
            # Keyed after loading: a first fetch has just written the cache.
            _current = (_state_key(files), config)
        config = _current[1]
    if refresh_due(config):
        refresh_in_background(config, client_options)
    return config


def _state_key(files: Sequence[Path]) -> object:
    """Changes when a local file or a configuration cache file changes."""
    stamps = [(str(f), _mtime(f)) for f in files]
    directory = paths().cache / "configuration"
    caches = sorted((p.name, _mtime(p)) for p in directory.glob("*.json"))
    return (tuple(stamps), tuple(caches), os.environ.get(ENV_CFG))


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def forget() -> None:
    """Drop what :func:`current_config` remembers (tests, a changed environment)."""
    global _current
    with _current_lock:
        _current = None
    _failed_at.clear()
