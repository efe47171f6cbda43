"""Where diracsh keeps its files (platformdirs), created private (0700 / 0600).

``DIRACSH_HOME`` puts everything under one directory instead (tests, sandboxes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Paths", "paths", "private_dir"]


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
