"""The shell in-process: config aliases, the catalog check, configured services."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from diracsh import catalog
from diracsh.results import S_OK
from diracsh.server import Service
from diracsh.shell.app import piped_loop
from diracsh.shell.completer import ShellCompleter
from diracsh.shell.render import Printer
from diracsh.shell.session import Shell
from diracsh.testing import DemoService
from tests.kit import KitPKI, kit_server

DATA = Path(__file__).parent / "data"


def make_shell(demo: DemoService) -> tuple[Shell, io.StringIO]:
    out = io.StringIO()
    shell = Shell(Printer(out, color=False))
    shell.defaults = {
        "proxyLocation": str(demo.pki.proxy),
        "caLocation": str(demo.pki.ca_dir),
    }
    return shell, out


def wait_for_methods(shell: Shell, alias: str) -> None:
    deadline = time.monotonic() + 20
    while shell.connections[alias].status.startswith("discovering"):
        assert time.monotonic() < deadline, "discovery did not finish"
        time.sleep(0.05)


def test_alias_from_the_config_connects_and_calls(diracsh_demo: DemoService) -> None:
    shell, out = make_shell(diracsh_demo)
    shell.aliases = {"jobs": diracsh_demo.url("Demo/Jobs")}
    shell.execute(".connect jobs")
    assert shell.current == "jobs"
    shell.execute("jobs.getJobStatus(12)")
    assert "{'OK': True, 'Value': {'12': 'Running'}}" in out.getvalue()


def test_wrong_argument_type_is_refused_before_sending(
    diracsh_demo: DemoService,
) -> None:
    shell, out = make_shell(diracsh_demo)
    shell.connect(diracsh_demo.url("Demo/Jobs"))
    wait_for_methods(shell, "Demo/Jobs")
    assert shell.connections["Demo/Jobs"].status.endswith("methods")
    shell.execute('getJobAttributes("12")')
    assert out.getvalue().strip() == (
        "getJobAttributes: not sent, Type mismatch in parameter 0 (starting with "
        "param 0) Received <class 'str'>, expected <class 'int'> "
        "(.check off sends it as is)"
    )


def test_a_piped_run_checks_and_helps_right_after_connect(
    diracsh_demo: DemoService,
) -> None:
    shell, out = make_shell(diracsh_demo)
    lines = [
        f".connect {diracsh_demo.url('Demo/Jobs')}",
        ".help getJobAttributes",
        'getJobAttributes("12")',
    ]
    assert piped_loop(shell, lines) == 1
    added, *printed = out.getvalue().splitlines()
    assert added.startswith("added Demo/Jobs -> ")
    assert printed == [
        "getJobAttributes(jobID: int, attrList=...)",
        "    All attributes of a job (or those named in attrList).",
        "    who may call: authenticated",
        "getJobAttributes: not sent, Type mismatch in parameter 0 (starting with "
        "param 0) Received <class 'str'>, expected <class 'int'> "
        "(.check off sends it as is)",
    ]


def test_check_off_sends_a_call_the_catalog_would_refuse(
    diracsh_demo: DemoService,
) -> None:
    shell, out = make_shell(diracsh_demo)
    shell.connect(diracsh_demo.url("Demo/Jobs"))
    wait_for_methods(shell, "Demo/Jobs")
    shell.execute(".check off")
    shell.execute('getJobAttributes("12")')  # the kit's own server check answers
    shell.execute(".check")
    lines = out.getvalue().splitlines()
    assert lines[0] == "calls are sent without checking their arguments"
    assert lines[1].startswith(
        "S_ERROR errno 0: Type mismatch in parameter 0 (starting with param 0) "
        "Received <class 'str'>, expected <class 'int'>  ("
    )
    assert lines[2:] == [".check on|off (now off)"]


def test_help_shows_signature_doc_and_auth(diracsh_demo: DemoService) -> None:
    shell, out = make_shell(diracsh_demo)
    shell.connect(diracsh_demo.url("Demo/Jobs"))
    wait_for_methods(shell, "Demo/Jobs")
    shell.execute(".help resetJobs")
    assert out.getvalue().splitlines() == [
        "resetJobs()",
        "    Forget every job; for JobAdministrator only (the demo user gets 401).",
        "    who may call: JobAdministrator",
    ]


class DiracLikeJobMonitoring(Service):
    """Served as DIRAC serves it over HTTPS: no listMethods (a 501)."""

    name = "WorkloadManagement/TornadoJobMonitoring"

    def lookup(self, method: str) -> Callable[..., Any] | None:
        return None if method == "listMethods" else super().lookup(method)

    def export_getJobsStatus(self, jobIDs: Any) -> dict[str, Any]:  # noqa: N802, N803
        return S_OK({str(jobIDs): {"Status": "Running"}})


def test_dirac_service_without_listing_uses_the_dirac_catalog(
    pki: KitPKI, dirac_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIRACSH_DIRAC_SOURCES", str(dirac_source))
    monkeypatch.setattr(catalog.cache, "_default", None)
    out = io.StringIO()
    shell = Shell(Printer(out, color=False))
    shell.defaults = {"proxyLocation": str(pki.proxy), "caLocation": str(pki.ca_dir)}
    with kit_server(pki, services=[DiracLikeJobMonitoring()]) as server:
        shell.connect(server.url(DiracLikeJobMonitoring.name), "jm")
        wait_for_methods(shell, "jm")
        assert shell.connections["jm"].status == "19 methods from the catalog"

        document = Document("getJobsS", len("getJobsS"))
        offered = ShellCompleter(shell).get_completions(document, CompleteEvent(True))
        assert [c.text for c in offered] == [
            "getJobsSites(",
            "getJobsStates(",
            "getJobsStatus(",
            "getJobsSummary(",
        ]
        shell.execute(".help getJobAttributes")
        shell.execute('getJobAttributes("12")')
        shell.execute("getJobAttributes()")
        shell.execute("getJobsStatus(12)")

    *lines, sent = out.getvalue().splitlines()
    assert lines == [
        "getJobAttributes(jobID: int, attrList=...)",
        "    :param int jobID: one single Job ID",
        "getJobAttributes: not sent, Type mismatch in parameter 0 (starting with "
        "param 0) Received <class 'str'>, expected <class 'int'> "
        "(.check off sends it as is)",
        "getJobAttributes: not sent, Function getJobAttributes expects at least 1 "
        "arguments (.check off sends it as is)",
    ]
    assert sent.startswith("{'OK': True, 'Value': {'12': {'Status': 'Running'}}}  (")


def test_services_all_lists_the_configured_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIRACSH_DIRAC_CFG", str(DATA / "dirac-v9.cfg"))
    out = io.StringIO()
    Shell(Printer(out, color=False)).execute(".services --all")
    lines = out.getvalue().splitlines()
    assert (
        "WorkloadManagement/JobMonitoring         "
        "https://wms.example.org:8443/WorkloadManagement/TornadoJobMonitoring"
    ) in lines
    assert (
        "Framework/BundleDelivery                 "
        "dips://fw.example.org:9158/Framework/BundleDelivery  "
        "(no https URL: diracsh cannot call it)"
    ) in lines


def test_services_command_line(tmp_path: Path) -> None:
    env = {
        "DIRACSH_HOME": str(tmp_path),
        "DIRACSH_DIRAC_CFG": str(DATA / "dirac-v9.cfg"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "diracsh", "services", "JobMonitoring"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "https://wms.example.org:8443/WorkloadManagement/TornadoJobMonitoring"
        in done.stdout
    )


def test_huge_values_are_shortened_on_screen() -> None:
    from diracsh.shell.render import format_result

    text = format_result({"OK": True, "Value": b"x" * 5000}, shorten=True)
    assert text == "{'OK': True,\n 'Value': <b'" + "x" * 64 + "'... (5,000 bytes)>}"
    raw = format_result({"OK": True, "Value": "y" * 200_000}, "raw", shorten=True)
    assert raw.endswith("... (200,025 characters in all)")


def test_connect_flags_replace_the_default_credential(
    diracsh_demo: DemoService,
) -> None:
    shell, out = make_shell(diracsh_demo)  # defaults: the demo user's proxy
    pki = diracsh_demo.pki
    url = diracsh_demo.url("Demo/Jobs")
    shell.execute(
        f".connect {url} as admin --cert {pki.admin_cert} --key {pki.admin_key}"
    )
    shell.execute(f".connect {url} as user")
    out.truncate(0)
    out.seek(0)
    shell.execute("admin.whoami()")
    shell.execute("user.whoami()")
    shell.execute(".services")
    text = out.getvalue()
    assert text.count("'DN': '/O=diracsh/OU=users/CN=demo admin'") == 1
    assert text.count("'DN': '/O=diracsh/OU=users/CN=demo user'") == 1
    assert text.index("CN=demo admin") < text.index("CN=demo user")
    services = text.splitlines()[-2:]
    assert services[0].startswith("  admin ")
    # The identity behind each connection: its DN, and whether it is a proxy.
    assert "[/O=diracsh/OU=users/CN=demo admin (certificate, " in services[0]
    assert services[1].startswith("* user ")
    assert "[/O=diracsh/OU=users/CN=demo user (proxy, " in services[1]


def test_connect_refuses_what_could_not_send_anything_and_odd_aliases(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    shell, out = make_shell(diracsh_demo)
    url = diracsh_demo.url("Demo/Jobs")
    shell.execute(f".connect {url} as jobs")
    shell.execute(f".connect {url} as jobs --proxy {tmp_path / 'none.pem'}")
    shell.execute(f".connect {url} as a.b")
    wait_for_methods(shell, "jobs")
    shell.execute(".methods job")  # names are matched whatever their case
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("added jobs -> ")
    assert lines[1] == f"cannot read {tmp_path / 'none.pem'}: No such file or directory"
    assert lines[2] == (
        "alias 'a.b' cannot be typed before .method(): use letters, digits and "
        "_ - / @ : only"
    )
    assert lines[3].startswith("getJobAttributes(jobID: int, attrList=...)")
    assert list(shell.connections) == ["jobs"]
    assert shell.connections["jobs"].options["proxyLocation"] == str(
        diracsh_demo.pki.proxy
    )


def test_piped_json_output_is_json_without_timing(diracsh_demo: DemoService) -> None:
    shell, out = make_shell(diracsh_demo)
    shell.connect(diracsh_demo.url("Demo/Jobs"))
    assert piped_loop(shell, [".format json", "getJobStatus(12)"]) == 0
    assert json.loads(out.getvalue()) == {"OK": True, "Value": {"12": "Running"}}


class CustomPathJobMonitoring(DiracLikeJobMonitoring):
    name = "Custom/JM"


def test_a_service_named_by_system_component_finds_its_catalog_entry(
    pki: KitPKI,
    dirac_source: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("DIRACSH_DIRAC_SOURCES", str(dirac_source))
    monkeypatch.setattr(catalog.cache, "_default", None)
    shell = Shell(Printer(io.StringIO(), color=False))
    shell.defaults = {"proxyLocation": str(pki.proxy), "caLocation": str(pki.ca_dir)}
    with kit_server(pki, services=[CustomPathJobMonitoring()]) as server:
        cfg = tmp_path / "dirac.cfg"
        cfg.write_text(
            "Systems\n{\n  WorkloadManagement\n  {\n    URLs\n    {\n"
            f"      JobMonitoring = {server.url('Custom/JM')}\n    }}\n  }}\n}}\n"
        )
        monkeypatch.setenv("DIRACSH_DIRAC_CFG", str(cfg))
        shell.connect("WorkloadManagement/JobMonitoring", "jm")
        wait_for_methods(shell, "jm")
    # The URL path is Custom/JM; the catalog knows the service by its name.
    assert shell.connections["jm"].status == "19 methods from the catalog"


def test_a_call_refused_before_sending_is_one_line_and_not_recorded(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    shell, out = make_shell(diracsh_demo)
    shell.connect(diracsh_demo.url("Demo/Jobs"))
    cassette = tmp_path / "calls.json"
    shell.execute(f".record {cassette}")
    out.truncate(0)
    out.seek(0)
    shell.execute('echo({1: "a", "1": "b"})')
    assert out.getvalue() == (
        "echo: nothing sent, argument 1 has keys 1 and '1', which are both sent as "
        "'1': keep only one of them\n"
    )
    assert shell.failures == 1
    assert not cassette.exists() or '"echo"' not in cassette.read_text()


def test_transfers_refused_before_sending_and_disconnect_say_what_happened(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    shell, out = make_shell(diracsh_demo)
    shell.connect(diracsh_demo.url("Demo/Jobs"))
    shell.connect(diracsh_demo.url("Demo/Files"))
    shell.execute(f".get {tmp_path} 12")
    shell.execute(f".put {tmp_path / 'missing.bin'} x")
    shell.execute(".disconnect")
    shell.execute(".format json")
    shell.execute("Demo/Files.echo([1e400, -1e400])")
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        f"{tmp_path} is a directory: give the name of the file to write",
        f"cannot read {tmp_path / 'missing.bin'}: No such file or directory",
        "disconnected Demo/Jobs; calls now go to Demo/Files",
    ]
    assert json.loads("\n".join(lines[3:])) == {"OK": True, "Value": ["inf", "-inf"]}
    assert shell.failures == 2
