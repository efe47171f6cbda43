"""Where diracsh keeps its files (platformdirs, created 0700 / 0600) and its config.

``DIRACSH_HOME`` puts everything under one directory instead (tests, sandboxes).

The config is a commented TOML file in the user config dir, written on first
use: aliases, credential paths (never secrets), the CA directory, the DIRAC
cfg files to resolve service names with, colours and the editing mode. A
broken file gives one warning and the defaults.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Config", "ConfigError", "Paths", "load_config", "paths", "private_dir"]


@dataclass(frozen=True)
class Paths:
    data: Path  # history, demo state
    config: Path  # config.toml
    cache: Path  # catalogs, configuration cache
    log: Path  # diracsh.log

    @property
    def history(self) -> Path:
        return self.data / "history"

    @property
    def demo_state(self) -> Path:
        return self.data / "demo"

    @property
    def log_file(self) -> Path:
        return self.log / "diracsh.log"

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"


def paths() -> Paths:
    """The user directories (not created: see :func:`private_dir`)."""
    home = os.environ.get("DIRACSH_HOME")
    if home:
        root = Path(home)
        return Paths(root / "data", root / "config", root / "cache", root / "log")
    import platformdirs

    return Paths(
        Path(platformdirs.user_data_dir("diracsh")),
        Path(platformdirs.user_config_dir("diracsh")),
        Path(platformdirs.user_cache_dir("diracsh")),
        Path(platformdirs.user_log_dir("diracsh")),
    )


def private_dir(path: Path) -> Path:
    """Create *path* (and parents) and make it 0700; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


DEFAULT_CONFIG = """\
# diracsh configuration. Every setting is optional; remove the leading "# " to
# use one. Paths may start with ~. Never put a passphrase or a token here:
# diracsh refuses to read secrets from this file (use BEARER_TOKEN_FILE).

[credentials]
# Used when no --proxy/--cert/--token flag is given; otherwise DIRAC's
# environment decides (X509_USER_PROXY, /tmp/x509up_u<uid>, BEARER_TOKEN...).
# proxy = "/tmp/x509up_u1000"
# cert = "~/.globus/usercert.pem"
# key = "~/.globus/userkey.pem"
# ca_dir = "/etc/grid-security/certificates"
# timeout = 600

[dirac]
# The DIRAC cfg files that System/Component names are resolved with, instead of
# DIRAC's search ($DIRACSYSCONFIG, ~/.dirac.cfg, <prefix>/etc/dirac.cfg); one
# path or a list, the last winning. DIRACSH_DIRAC_CFG replaces this setting.
# cfg = "~/dirac/etc/dirac.cfg"

[aliases]
# Names for services: `diracsh jobs`, `.connect jobs`, then `jobs.ping()`.
# jobs = "https://dirac.example.org:8443/WorkloadManagement/JobMonitoring"

[shell]
# editing_mode = "emacs"    # or "vi"
# color = true              # false: plain output even on a terminal
# style = "default"         # a pygments style name for results, e.g. "monokai"

# Files: history in the user data dir, logs (diracsh.log) in the user log dir;
# on Linux ~/.local/share/diracsh and ~/.local/state/diracsh/log.
"""

_SECRET_KEYS = {"token", "password", "passphrase", "secret", "access_token"}
_CREDENTIAL_KEYS = {"proxy", "cert", "key", "ca_dir", "timeout"}


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Config:
    credentials: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    editing_mode: str = "emacs"
    color: bool = True
    style: str = "default"
    dirac_cfg: tuple[str, ...] = ()  # [dirac] cfg, ~ expanded

    def client_options(self) -> dict[str, Any]:
        """The credential settings as TornadoClient keywords."""
        names = {
            "proxy": "proxyLocation",
            "cert": "certFile",
            "key": "keyFile",
            "ca_dir": "caLocation",
            "timeout": "timeout",
        }
        return {names[k]: v for k, v in self.credentials.items() if k in names}


def load_config(path: Path | None = None, *, create: bool = False) -> Config:
    """Read the config file (writing the commented default first if *create*)."""
    path = path or paths().config_file
    if not path.exists():
        if create:
            _write_default(path)
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return _parse(data, path)


def _write_default(path: Path) -> None:
    try:
        private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return  # a read-only home, or another shell wrote it first
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(DEFAULT_CONFIG)


def _parse(data: dict[str, Any], path: Path) -> Config:
    credentials = _table(data, "credentials", path)
    secrets = sorted(_SECRET_KEYS & {k.lower() for k in credentials})
    if secrets:
        raise ConfigError(
            f"{path} holds {', '.join(secrets)}: secrets do not belong in the config "
            "file; remove them and use BEARER_TOKEN_FILE or a proxy"
        )
    unknown = sorted(set(credentials) - _CREDENTIAL_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown [credentials] settings {unknown}")
    for key, value in credentials.items():
        wanted = (int, float) if key == "timeout" else str
        if not isinstance(value, wanted) or isinstance(value, bool):
            kind = "a number of seconds" if key == "timeout" else "a path in quotes"
            raise ConfigError(f"{path}: [credentials] {key} must be {kind}")
    expanded = {
        k: v if k == "timeout" else os.path.expanduser(v)
        for k, v in credentials.items()
    }

    aliases = _table(data, "aliases", path)
    for name, target in aliases.items():
        if not isinstance(target, str):
            raise ConfigError(
                f"{path}: [aliases] {name} must be a URL or System/Component in quotes"
            )
    shell = _table(data, "shell", path)
    mode = str(shell.get("editing_mode", "emacs"))
    if mode not in ("emacs", "vi"):
        raise ConfigError(f'{path}: editing_mode must be "emacs" or "vi", not {mode!r}')
    return Config(
        expanded,
        aliases,
        mode,
        bool(shell.get("color", True)),
        str(shell.get("style", "default")),
        _dirac_cfg(_table(data, "dirac", path), path),
    )


def _dirac_cfg(dirac: dict[str, Any], path: Path) -> tuple[str, ...]:
    unknown = sorted(set(dirac) - {"cfg"})
    if unknown:
        raise ConfigError(f"{path}: unknown [dirac] settings {unknown}")
    files = dirac.get("cfg", [])
    files = [files] if isinstance(files, str) else files
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ConfigError(f"{path}: [dirac] cfg must be a path or a list of paths")
    return tuple(os.path.expanduser(f) for f in files)


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return table
