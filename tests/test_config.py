"""The config file: written commented on first use, read strictly, never secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from diracsh.config import DEFAULT_CONFIG, Config, ConfigError, load_config


def test_first_use_writes_the_commented_default_privately(tmp_path: Path) -> None:
    path = tmp_path / "config" / "config.toml"
    assert load_config(path, create=True) == Config()
    assert path.read_text() == DEFAULT_CONFIG
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_config(path) == Config()  # every line of the default is a comment


def test_settings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[credentials]\nproxy = "~/x509up"\nca_dir = "/grid/certs"\ntimeout = 30\n'
        '[aliases]\njobs = "https://h:8443/WorkloadManagement/JobMonitoring"\n'
        '[shell]\nediting_mode = "vi"\ncolor = false\nstyle = "monokai"\n'
    )
    config = load_config(path)
    assert config.client_options() == {
        "proxyLocation": str(Path("~/x509up").expanduser()),
        "caLocation": "/grid/certs",
        "timeout": 30,
    }
    assert config.aliases == {"jobs": "https://h:8443/WorkloadManagement/JobMonitoring"}
    assert (config.editing_mode, config.color, config.style) == ("vi", False, "monokai")


def test_dirac_cfg_is_one_path_or_a_list(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[dirac]\ncfg = "~/dirac.cfg"\n')
    assert load_config(path).dirac_cfg == (str(Path("~/dirac.cfg").expanduser()),)
    path.write_text('[dirac]\ncfg = ["/etc/a.cfg", "/etc/b.cfg"]\n')
    assert load_config(path).dirac_cfg == ("/etc/a.cfg", "/etc/b.cfg")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[credentials]\ntoken = "eyJ..."\n', "secrets do not belong"),
        (
            '[credentials]\nproxi = "/tmp/x"\n',
            "unknown [credentials] settings ['proxi']",
        ),
        ('[shell]\nediting_mode = "nano"\n', 'editing_mode must be "emacs" or "vi"'),
        ("[credentials\n", "cannot read"),
        ('aliases = "x"\n', "[aliases] must be a table"),
        ("[dirac]\ncfg = 3\n", "[dirac] cfg must be a path or a list of paths"),
        ('[dirac]\nconfig = "x"\n', "unknown [dirac] settings ['config']"),
        ("[credentials]\nproxy = 5\n", "[credentials] proxy must be a path in quotes"),
        (
            '[credentials]\ntimeout = "soon"\n',
            "[credentials] timeout must be a number of seconds",
        ),
        ("[aliases]\njobs = 5\n", "[aliases] jobs must be a URL or System/Component"),
    ],
    ids=[
        "token",
        "typo",
        "editing-mode",
        "bad-toml",
        "not-a-table",
        "dirac-cfg-type",
        "dirac-typo",
        "proxy-not-a-path",
        "timeout-not-a-number",
        "alias-not-a-string",
    ],
)
def test_bad_config_names_file_and_problem(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert fragment in str(refused.value)
    assert str(path) in str(refused.value)
