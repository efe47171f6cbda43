"""Resolving System/Component from DIRAC cfg files and a real Configuration Server."""

from __future__ import annotations

import base64
import io
import json
import shutil
import stat
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diracsh import TornadoClient
from diracsh.client import dirac_config
from diracsh.client.dirac_config import (
    DiracConfig,
    current_config,
    load_config,
    local_cfg_files,
    refresh_in_background,
)
from diracsh.client.resolve import (
    known_services,
    main_services,
    resolve_service_urls,
)
from diracsh.results import S_OK
from diracsh.server import Server, Service
from diracsh.server.demo import demo_services
from diracsh.shell.render import Printer
from diracsh.shell.session import Shell
from tests.kit import KitPKI, build_pki, http_response, raw_server

DATA = Path(__file__).parent / "data"
SETUPS_CFG = DATA / "dirac-setups.cfg"
V9_CFG = DATA / "dirac-v9.cfg"


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(dirac_config.ENV_CFG, raising=False)
    dirac_config.forget()
    yield
    dirac_config.forget()


def config_of(path: Path) -> DiracConfig:
    return load_config([path], network=False)


# -- the two layouts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "urls"),
    [
        pytest.param(
            "WorkloadManagement/JobMonitoring",
            [
                "https://wms1.example.org:8443/WorkloadManagement/TornadoJobMonitoring",
                "https://wms2.example.org:443/WorkloadManagement/TornadoJobMonitoring",
                "https://failover.example.org:8443/WorkloadManagement/TornadoJobMonitoring",
            ],
            id="list-missing-port-failover-deduplicated",
        ),
        pytest.param(
            "WorkloadManagement/JobManager",
            ["https://wms1.example.org:443/WorkloadManagement/JobManager"],
            id="no-port-no-path",
        ),
        pytest.param(
            "WorkloadManagement/SandboxStore",
            ["https://wms1.example.org:8443/WorkloadManagement/TornadoSandboxStore"],
            id="dips-dropped-https-kept",
        ),
        pytest.param(
            "Framework/Notification",
            [
                "https://main1.example.org:8443/Framework/TornadoNotification",
                "https://main2.example.org:8443/Framework/TornadoNotification",
            ],
            id="mainservers",
        ),
        pytest.param(
            "Framework/ProxyManager",
            [
                "https://main1.example.org:443/Framework/ProxyManager",
                "https://main2.example.org:443/Framework/ProxyManager",
            ],
            id="mainservers-no-port-no-path",
        ),
        pytest.param(
            "DataManagement/FileCatalog",
            ["https://dms.example.org:8443/DataManagement/TornadoFileCatalog"],
            id="system-without-instance-uses-new-layout",
        ),
    ],
)
def test_setups_layout(name: str, urls: list[str]) -> None:
    assert resolve_service_urls(name, config_of(SETUPS_CFG), shuffle=False) == urls


def test_setup_option_picks_the_instance(tmp_path: Path) -> None:
    override = tmp_path / "setup.cfg"
    override.write_text("DIRAC\n{\n  Setup = Certification\n}\n")
    config = load_config([SETUPS_CFG, override])
    assert resolve_service_urls("WorkloadManagement/JobMonitoring", config) == [
        "https://cert-wms.example.org:8443/WorkloadManagement/TornadoJobMonitoring"
    ]


@pytest.mark.parametrize(
    ("name", "urls"),
    [
        pytest.param(
            "Framework/Notification",
            [
                "https://vo-main1.example.org:8443/Framework/TornadoNotification",
                "https://vo-main2.example.org:8443/Framework/TornadoNotification",
                "https://backup.example.org:8443/Framework/TornadoNotification",
            ],
            id="vo-mainservers-then-failover",
        ),
        pytest.param(
            "WorkloadManagement/JobMonitoring",
            ["https://wms.example.org:8443/WorkloadManagement/TornadoJobMonitoring"],
            id="repeated-and-empty-items",
        ),
        pytest.param(
            "WorkloadManagement/JobManager",
            [
                "https://wms.cern.ch:8443/WorkloadManagement/TornadoJobManager",
                "https://wms.example.org:8443/WorkloadManagement/TornadoJobManager",
            ],
            id="preferred-url-pattern-first",
        ),
        pytest.param(
            "Framework/ProxyManager",
            [
                "https://fw1.example.org:443/Framework/TornadoProxyManager",
                "https://fw2.example.org:8443/Framework/ProxyManager",
            ],
            id="list-missing-port-missing-path",
        ),
    ],
)
def test_v9_layout(name: str, urls: list[str]) -> None:
    assert resolve_service_urls(name, config_of(V9_CFG), shuffle=False) == urls


def test_urls_are_shuffled_within_a_rank_failover_and_preferred_stay_put() -> None:
    config = config_of(V9_CFG)
    main = [
        "https://vo-main1.example.org:8443/Framework/TornadoNotification",
        "https://vo-main2.example.org:8443/Framework/TornadoNotification",
    ]
    backup = "https://backup.example.org:8443/Framework/TornadoNotification"
    seen = set()
    for _ in range(200):  # the chance of one order 200 times is 2**-199
        urls = resolve_service_urls("Framework/Notification", config)
        assert sorted(urls[:2]) == main and urls[2] == backup
        seen.add(urls[0])
    assert seen == set(main)

    preferred = "https://wms.cern.ch:8443/WorkloadManagement/TornadoJobManager"
    for _ in range(50):
        urls = resolve_service_urls("WorkloadManagement/JobManager", config)
        assert urls[0] == preferred and len(urls) == 2


def test_dips_only_service_says_diracsh_cannot_call_it() -> None:
    with pytest.raises(LookupError) as failure:
        resolve_service_urls("WorkloadManagement/Matcher", config_of(SETUPS_CFG))
    message = str(failure.value)
    assert "dips://wms1.example.org:9170/WorkloadManagement/Matcher" in message
    assert "HTTPS protocol only" in message


def test_unknown_service_names_what_was_read_and_what_to_do() -> None:
    with pytest.raises(LookupError) as failure:
        resolve_service_urls("Foo/Bar", config_of(V9_CFG))
    message = str(failure.value)
    assert "Foo/Bar is not in the DIRAC configuration" in message
    assert str(V9_CFG) in message
    assert "diracsh services" in message and "https://" in message


def test_mainservers_without_the_option_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "x.cfg"
    cfg.write_text("Systems\n{\nX\n{\nURLs\n{\nY = https://$MAINSERVERS$:8443\n}\n}\n}")
    with pytest.raises(LookupError, match=r"MainServers option is set"):
        resolve_service_urls("X/Y", config_of(cfg))


@pytest.mark.parametrize("name", ["Framework", "a/b/c", "/Notification", ""])
def test_not_a_service_name(name: str) -> None:
    with pytest.raises(LookupError, match="neither an https:// URL nor"):
        resolve_service_urls(name, config_of(V9_CFG))


def test_known_services_lists_both_layouts_with_urls() -> None:
    services = known_services(config_of(SETUPS_CFG))
    assert list(services) == [
        "DataManagement/FileCatalog",
        "Framework/Notification",
        "Framework/ProxyManager",
        "WorkloadManagement/JobManager",
        "WorkloadManagement/JobMonitoring",
        "WorkloadManagement/Matcher",
        "WorkloadManagement/SandboxStore",
    ]
    assert services["WorkloadManagement/Matcher"] == [
        "dips://wms1.example.org:9170/WorkloadManagement/Matcher"
    ]
    https = known_services(config_of(SETUPS_CFG), https_only=True)
    assert "WorkloadManagement/Matcher" not in https
    assert https["WorkloadManagement/SandboxStore"] == [
        "https://wms1.example.org:8443/WorkloadManagement/TornadoSandboxStore"
    ]


# -- which local files ---------------------------------------------------------


def test_local_files_in_dirac_order_and_priority(tmp_path: Path) -> None:
    root = tmp_path / "root"
    files = {
        "default": root / "etc" / "dirac.cfg",
        "first": tmp_path / "first.cfg",
        "second": tmp_path / "second.cfg",
        "home": tmp_path / "home" / ".dirac.cfg",
    }
    for label, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"DIRAC\n{{\nFrom{label} = yes\nWho = {label}\n}}\n")
    env = {
        "DIRAC_ROOT_PATH": str(root),
        "DIRACSYSCONFIG": f"{files['first']}, {files['second']}",
        "HOME": str(files["home"].parent),
    }

    found = local_cfg_files(env)

    assert found == [files["default"], files["second"], files["first"], files["home"]]
    config = load_config(found)
    assert config.option("/DIRAC/Who") == "home"
    assert config.option("/DIRAC/Fromdefault") == "yes"
    env.pop("HOME")
    env["HOME"] = str(tmp_path / "nobody")
    assert load_config(local_cfg_files(env)).option("/DIRAC/Who") == "first"


def test_diracsh_dirac_cfg_replaces_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRACSYSCONFIG", str(SETUPS_CFG))
    monkeypatch.setenv(dirac_config.ENV_CFG, str(V9_CFG))
    assert local_cfg_files() == [V9_CFG]


def test_dirac_cfg_from_the_diracsh_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = dirac_config.paths().config_file
    settings.parent.mkdir(parents=True)
    settings.write_text(f'[dirac]\ncfg = ["{SETUPS_CFG}", "{V9_CFG}"]\n')
    monkeypatch.setenv("DIRACSYSCONFIG", str(SETUPS_CFG))

    assert local_cfg_files() == [SETUPS_CFG, V9_CFG]
    # both files are read: the setup file's instance URL, the v9 file's VO
    # MainServers (the later file wins over the setup file's defaults)
    assert resolve_service_urls("Framework/Notification", shuffle=False) == [
        "https://vo-main1.example.org:8443/Framework/TornadoNotification",
        "https://vo-main2.example.org:8443/Framework/TornadoNotification",
    ]
    services = known_services()
    assert "WorkloadManagement/Matcher" in services  # the setup file only
    assert "Framework/BundleDelivery" in services  # the v9 file only

    monkeypatch.setenv(dirac_config.ENV_CFG, str(V9_CFG))  # the variable wins
    assert local_cfg_files() == [V9_CFG]
    monkeypatch.delenv(dirac_config.ENV_CFG)

    settings.write_text(f'[dirac]\ncfg = "{tmp_path / "gone.cfg"}"\n')
    with pytest.raises(LookupError) as failure:
        resolve_service_urls("Framework/Notification")
    assert str(failure.value).startswith(
        f"[dirac] cfg in {settings} names {tmp_path / 'gone.cfg'}, which is not a file"
    )

    settings.write_text("[dirac\n")  # broken: ignored, as the shell does
    assert local_cfg_files() == [SETUPS_CFG]


def test_missing_diracsh_dirac_cfg_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(dirac_config.ENV_CFG, str(tmp_path / "nope.cfg"))
    with pytest.raises(LookupError, match=r"nope.cfg, which is not a file"):
        resolve_service_urls("Framework/Notification")


def test_no_configuration_at_all(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DIRAC_ROOT_PATH", str(tmp_path))
    monkeypatch.delenv("DIRACOS", raising=False)
    if any(f.name == "dirac.cfg" for f in local_cfg_files()):
        pytest.skip("this Python's prefix has an etc/dirac.cfg")
    result = TornadoClient("Framework/Notification").ping()
    assert result["OK"] is False
    assert "no DIRAC configuration found" in result["Message"]
    assert "DIRACSH_DIRAC_CFG" in result["Message"]


# -- against real servers ------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> KitPKI:
    return build_pki(tmp_path_factory.mktemp("pki"))


class ConfigurationServer(Service):
    """Answers getCompressedDataIfNewer like DIRAC's Configuration/Server."""

    name = "Configuration/Server"

    def __init__(self) -> None:
        super().__init__()
        self.version = "0"  # DIRAC's version of data that has none
        self.text = ""
        self.asked: list[str] = []
        self.gate = threading.Event()
        self.gate.set()

    def publish(self, text: str, version: str) -> None:
        self.text = (
            f"{text}\nDIRAC\n{{\nConfiguration\n{{\nVersion = {version}\n}}\n}}\n"
        )
        self.version = version

    def export_getCompressedDataIfNewer(self, clientVersion: str) -> dict[str, Any]:  # noqa: N802, N803
        self.asked.append(clientVersion)
        self.gate.wait(20)
        answer: dict[str, Any] = {"newestVersion": self.version}
        if clientVersion < self.version:
            packed = zlib.compress(self.text.encode(), 9)
            answer["data"] = base64.b64encode(packed).decode("ascii")
        return S_OK(answer)


REMOTE = """
Systems
{
  EXTRA
  Demo
  {
    URLs
    {
      Jobs = https://127.0.0.1:PORT
    }
  }
  WorkloadManagement
  {
    URLs
    {
      JobMonitoring = https://remote-wms.example.org:8443/WorkloadManagement/TornadoJobMonitoring
    }
  }
}
"""


def remote_text(server: Server, extra: str = "") -> str:
    return REMOTE.replace("PORT", str(server.port)).replace("EXTRA", extra)


@pytest.fixture
def cs(
    pki: KitPKI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Server, ConfigurationServer]]:
    service = ConfigurationServer()
    server = Server(
        [service, *demo_services()],
        cert=pki.host_cert,
        key=pki.host_key,
        ca_location=pki.ca_dir,
        registry={
            pki.user_dn: {"username": "tester", "group": "user", "properties": []}
        },
    )
    with server:
        service.publish(remote_text(server), "2024-05-01 10:00:00")
        local = tmp_path / "dirac.cfg"
        local.write_text(
            "DIRAC\n{\nConfiguration\n{\n"
            f"Servers = {server.url('Configuration/Server')}\n}}\n}}\n"
            "Systems\n{\nWorkloadManagement\n{\nURLs\n{\n"
            "JobMonitoring = https://local-wms.example.org:8443/WM/JobMonitoring\n"
            "}\n}\n}\n"
        )
        # The client finds its credentials where DIRAC's would.
        monkeypatch.setenv("X509_USER_PROXY", str(pki.proxy))
        monkeypatch.setenv("X509_CERT_DIR", str(pki.ca_dir))
        monkeypatch.setenv(dirac_config.ENV_CFG, str(local))
        yield server, service


def test_remote_data_resolves_and_local_options_win(
    cs: tuple[Server, ConfigurationServer],
) -> None:
    server, service = cs

    client = TornadoClient("Demo/Jobs")
    assert client.ping()["OK"] is True
    assert client.getDestinationService() == server.url("Demo/Jobs")
    assert resolve_service_urls("WorkloadManagement/JobMonitoring") == [
        "https://local-wms.example.org:8443/WM/JobMonitoring"
    ]
    assert service.asked == [""]
    config = current_config()
    assert config.remote is not None and config.remote.version == "2024-05-01 10:00:00"


def test_cache_keeps_version_and_serves_when_the_server_is_down(
    cs: tuple[Server, ConfigurationServer],
) -> None:
    server, service = cs
    urls = resolve_service_urls("Demo/Jobs")
    (cache,) = (dirac_config.paths().cache / "configuration").glob("*.json")
    stored = json.loads(cache.read_text())
    assert stored["version"] == "2024-05-01 10:00:00"
    assert stored["servers"] == [server.url("Configuration/Server")]
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700

    server.stop()
    dirac_config.forget()

    assert resolve_service_urls("Demo/Jobs") == urls
    assert main_services(["--refresh", "Demo"]) == 0
    assert service.asked == [""]


def test_data_without_a_version_is_still_read(
    cs: tuple[Server, ConfigurationServer],
) -> None:
    server, service = cs
    service.text, service.version = remote_text(server), "0"

    assert resolve_service_urls("Demo/Jobs") == [server.url("Demo/Jobs")]
    remote = current_config().remote
    assert remote is not None and remote.version == "0"


def test_callers_credentials_reach_the_configuration_server(
    cs: tuple[Server, ConfigurationServer], pki: KitPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = cs
    monkeypatch.setenv("X509_USER_PROXY", str(pki.root / "no-such-proxy.pem"))
    options = {"proxyLocation": str(pki.proxy), "caLocation": str(pki.ca_dir)}

    urls = resolve_service_urls("Demo/Jobs", client_options={**options, "timeout": 1})

    assert urls == [server.url("Demo/Jobs")]


def test_shell_reaches_the_configuration_server_with_its_credentials(
    cs: tuple[Server, ConfigurationServer], pki: KitPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = cs
    monkeypatch.setenv("X509_USER_PROXY", str(pki.root / "no-such-proxy.pem"))
    out = io.StringIO()
    shell = Shell(Printer(out, color=False))
    shell.defaults = {"proxyLocation": str(pki.proxy), "caLocation": str(pki.ca_dir)}

    deadline = time.monotonic() + 20
    while "Demo/Jobs" not in shell.connect_targets():  # loaded in the background
        assert time.monotonic() < deadline, "configured services never loaded"
        time.sleep(0.05)

    shutil.rmtree(dirac_config.paths().cache / "configuration")
    dirac_config.forget()
    shell.execute(".services --all")
    assert f"{'Demo/Jobs':<40} {server.url('Demo/Jobs')}" in out.getvalue().splitlines()


def test_without_credentials_the_message_says_why(
    cs: tuple[Server, ConfigurationServer], pki: KitPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X509_USER_PROXY", str(pki.root / "no-such-proxy.pem"))
    with pytest.raises(LookupError) as failure:
        resolve_service_urls("Demo/Jobs")
    message = str(failure.value)
    assert "Configuration Server not read: https://127.0.0.1:" in message
    assert "No proxy found: give one with --proxy, set X509_USER_PROXY" in message


def test_server_down_and_no_cache_uses_local_cfg_and_says_why(
    cs: tuple[Server, ConfigurationServer], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _ = cs
    server.stop()

    with pytest.raises(LookupError, match="Demo/Jobs is not in the DIRAC config"):
        resolve_service_urls("Demo/Jobs")
    assert current_config().remote_error is not None
    assert main_services([]) == 0
    out, err = capsys.readouterr()
    assert "Configuration Server not read" in err
    assert "https://local-wms.example.org:8443/WM/JobMonitoring" in out


def test_background_refresh_never_blocks_a_lookup(
    cs: tuple[Server, ConfigurationServer],
) -> None:
    server, service = cs
    resolve_service_urls("Demo/Jobs")
    cache = next((dirac_config.paths().cache / "configuration").glob("*.json"))
    stored = json.loads(cache.read_text())
    stored["checked"] -= 3600  # older than RefreshTime (300 s)
    cache.write_text(json.dumps(stored))
    framework = "Framework\n{\nURLs\n{\nNotification = https://fw.example.org\n}\n}"
    service.publish(remote_text(server, framework), "2024-06-01 08:30:00.250000")
    service.gate.clear()  # the server now takes its time

    with pytest.raises(LookupError):
        resolve_service_urls("Framework/Notification")

    # The lookup has answered from the cache while its refresh still waits.
    thread = refresh_in_background(current_config())
    assert thread is not None and thread.is_alive()
    service.gate.set()
    thread.join(10)

    assert resolve_service_urls("Framework/Notification") == [
        "https://fw.example.org:443/Framework/Notification"
    ]
    assert service.asked == ["", "2024-05-01 10:00:00"]
    remote = current_config().remote
    assert remote is not None and remote.version == "2024-06-01 08:30:00.250000"


def make_stale() -> None:
    """Age the one cached copy past RefreshTime (300 s)."""
    cache = next((dirac_config.paths().cache / "configuration").glob("*.json"))
    stored = json.loads(cache.read_text())
    stored["checked"] -= 3600
    cache.write_text(json.dumps(stored))


def cached_version() -> str:
    cache = next((dirac_config.paths().cache / "configuration").glob("*.json"))
    return str(json.loads(cache.read_text())["version"])


def test_a_short_lived_process_lets_its_refresh_finish(
    cs: tuple[Server, ConfigurationServer],
) -> None:
    server, service = cs
    resolve_service_urls("Demo/Jobs")
    make_stale()
    service.publish(remote_text(server), "2024-07-01 00:00:00")

    # One lookup, as a script or `diracsh call` makes, then the process ends.
    script = "from diracsh import TornadoClient; TornadoClient('Demo/Jobs')"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    assert service.asked == ["", "2024-05-01 10:00:00"]
    assert cached_version() == "2024-07-01 00:00:00"


def test_services_command_refreshes_a_stale_cache(
    cs: tuple[Server, ConfigurationServer], capsys: pytest.CaptureFixture[str]
) -> None:
    server, service = cs
    resolve_service_urls("Demo/Jobs")
    framework = "Framework\n{\nURLs\n{\nNotification = https://fw.example.org\n}\n}"
    service.publish(remote_text(server, framework), "2024-07-01 00:00:00")
    assert main_services(["Framework"]) == 1  # the cache is fresh: not asked
    capsys.readouterr()
    make_stale()
    assert main_services(["--offline", "Framework"]) == 1

    assert main_services(["Framework"]) == 0

    assert (
        "https://fw.example.org:443/Framework/Notification" in capsys.readouterr().out
    )
    assert service.asked == ["", "2024-05-01 10:00:00"]


def test_servers_listed_by_the_server_are_asked_when_the_local_one_is_down(
    cs: tuple[Server, ConfigurationServer], pki: KitPKI
) -> None:
    first, service = cs
    standby = ConfigurationServer()
    with Server(
        [standby],
        cert=pki.host_cert,
        key=pki.host_key,
        ca_location=pki.ca_dir,
        registry={pki.user_dn: {"username": "t", "group": "user", "properties": []}},
    ) as second:
        servers = f"{first.url('Configuration/Server')}, "
        servers += second.url("Configuration/Server")
        service.text = (
            remote_text(first) + "DIRAC\n{\nConfiguration\n{\n"
            f"Servers = {servers}\nVersion = 1\n}}\n}}\n"
        )
        service.version = "1"
        framework = "Framework\n{\nURLs\n{\nNotification = https://fw.example.org\n}\n}"
        standby.publish(remote_text(first, framework), "2")
        resolve_service_urls("Demo/Jobs")
        first.stop()

        assert main_services(["--refresh", "Framework/Notification"]) == 0

    assert standby.asked == ["1"]
    assert cached_version() == "2"


# -- diracsh services ------------------------------------------------------------


def test_services_command_lists_matching_services(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_services(["--dirac-cfg", str(SETUPS_CFG), "workload*mon*"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "WorkloadManagement/JobMonitoring  "
        "https://wms1.example.org:8443/WorkloadManagement/TornadoJobMonitoring, "
        "https://wms2.example.org:443/WorkloadManagement/TornadoJobMonitoring, "
        "https://failover.example.org:8443/WorkloadManagement/TornadoJobMonitoring"
    ]
    assert err == f"# {SETUPS_CFG}\n"

    monkeypatch.setenv(dirac_config.ENV_CFG, str(SETUPS_CFG))
    assert main_services(["matcher"]) == 0
    assert "(no https URL: diracsh cannot call it)" in capsys.readouterr().out
    assert main_services(["NoSuchThing"]) == 1
    assert "no service matches 'NoSuchThing'" in capsys.readouterr().err
    assert main_services(["--bogus"]) == 2


def test_services_command_without_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(dirac_config.ENV_CFG, str(tmp_path / "missing.cfg"))
    assert main_services([]) == 3
    assert "missing.cfg, which is not a file" in capsys.readouterr().err


def test_a_resolved_client_sends_the_configured_vo_and_setup_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pki = build_pki(tmp_path / "pki")
    bodies: list[bytes] = []

    def respond(request: bytes) -> bytes:
        bodies.append(request.split(b"\r\n\r\n", 1)[1])
        return http_response("200 OK", b'{"OK": true, "Value": 1}', "application/json")

    with raw_server(pki, respond) as base:
        cfg = tmp_path / "dirac.cfg"
        cfg.write_text(
            "DIRAC\n{\n  VirtualOrganization = myvo\n}\n"
            f"Systems\n{{\n  Framework\n  {{\n    URLs\n    {{\n"
            f"      Notification = {base}/Framework/Notification\n    }}\n  }}\n}}\n"
        )
        monkeypatch.setenv(dirac_config.ENV_CFG, str(cfg))
        options = {"proxyLocation": str(pki.proxy), "caLocation": str(pki.ca_dir)}
        TornadoClient("Framework/Notification", setup="Prod", **options).ping()
        TornadoClient("Framework/Notification", VO="other", **options).ping()
    assert bodies == [
        b"method=ping&args=%5B%5D&clientVO=myvo&clientSetup=None",
        b"method=ping&args=%5B%5D&clientVO=other&clientSetup=None",
    ]


def test_a_service_with_only_failover_urls_resolves_to_them(tmp_path: Path) -> None:
    cfg = tmp_path / "x.cfg"
    cfg.write_text(
        "Systems\n{\n  Framework\n  {\n    FailoverURLs\n    {\n"
        "      Notification = https://fo.example.org\n    }\n  }\n}\n"
    )
    expected = ["https://fo.example.org:443/Framework/Notification"]
    assert resolve_service_urls("Framework/Notification", config_of(cfg)) == expected
    assert known_services(config_of(cfg)) == {"Framework/Notification": expected}


def test_services_command_says_why_a_service_has_no_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "x.cfg"
    cfg.write_text(
        "Operations\n{\n  Defaults\n  {\n    MainServers = m1, m2:9000\n  }\n}\n"
        "Systems\n{\n  WorkloadManagement\n  {\n    URLs\n    {\n"
        "      JobManager = https://$MAINSERVERS$:8443\n    }\n  }\n}\n"
    )
    assert main_services(["--dirac-cfg", str(cfg)]) == 0
    assert capsys.readouterr().out == (
        "WorkloadManagement/JobManager  (no usable URL: bad port in "
        "'https://m2:9000:8443' for WorkloadManagement/JobManager)\n"
    )
