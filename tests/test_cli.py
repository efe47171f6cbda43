"""The command line: exit codes, and what reaches the log."""

from __future__ import annotations

import io
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from diracsh import TornadoClient
from diracsh.shell.render import Printer
from diracsh.shell.session import Shell
from diracsh.testing import DemoService
from tests.kit import free_port
from tests.pty import pty_env


def diracsh(
    home: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diracsh", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=pty_env(home),
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--proxy", "/nonexistent", "--ca-dir", "{ca}"],
            3,
            "cannot read /nonexistent",
        ),
        (
            ["--proxy", "{proxy}", "--ca-dir", "/nonexistent"],
            3,
            "/nonexistent does not",
        ),
        (["--proxy", "{proxy}", "--token", "T"], 2, "give one credential, not a proxy"),
        (["--key", "K"], 2, "a key needs its certificate"),
        (["--proxy", "{proxy}", "--timeout", "-1"], 3, "timeout must be a number"),
    ],
    ids=["missing-proxy", "missing-ca", "two-credentials", "key-alone", "bad-timeout"],
)
def test_call_exit_codes(
    diracsh_demo: DemoService, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    pki = diracsh_demo.pki
    argv = [a.format(proxy=pki.proxy, ca=pki.ca_dir) for a in args]
    done = diracsh(tmp_path, "call", diracsh_demo.url(), "ping", *argv)
    assert done.returncode == code, done.stderr
    assert message in done.stderr


def test_ctrl_c_during_a_call_exits_130(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    pki = diracsh_demo.pki
    argv = ["--proxy", str(pki.proxy), "--ca-dir", str(pki.ca_dir), "--debug"]
    running = subprocess.Popen(
        [sys.executable, "-m", "diracsh", "call", diracsh_demo.url()]
        + ["waitForJob", "12", "30", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=pty_env(tmp_path),
    )
    assert running.stderr is not None
    for line in running.stderr:  # --debug logs the connection before the call
        if "Starting new HTTPS connection" in line:
            break
    running.send_signal(signal.SIGINT)
    out, err = running.communicate(timeout=30)
    assert running.returncode == 130
    assert out == ""
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8443/Demo/Jobs", "not http://"),
        ("https://127.0.0.1:99999/Demo/Jobs", "not a valid URL"),
        ("https://127.0.0.1:8443", "no service path"),
    ],
    ids=["http", "port-out-of-range", "no-path"],
)
def test_call_with_an_unusable_url_exits_3(
    tmp_path: Path, url: str, message: str
) -> None:
    done = diracsh(tmp_path, "call", url, "ping")
    assert done.returncode == 3
    assert message in done.stderr


def test_call_results_exit_0_and_1(diracsh_demo: DemoService, tmp_path: Path) -> None:
    creds = [
        "--proxy",
        str(diracsh_demo.pki.proxy),
        "--ca-dir",
        str(diracsh_demo.pki.ca_dir),
    ]
    ok = diracsh(
        tmp_path, "call", diracsh_demo.url(), "getJobStatus", "12", "--json", *creds
    )
    assert (ok.returncode, ok.stdout) == (
        0,
        '{\n  "OK": true,\n  "Value": {\n    "12": "Running"\n  }\n}\n',
    )
    failed = diracsh(tmp_path, "call", diracsh_demo.url(), "noSuch", *creds)
    assert failed.returncode == 1
    assert "38" in failed.stdout


def test_call_exit_codes_tell_the_service_from_the_way_there(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    pki = diracsh_demo.pki
    creds = ["--proxy", str(pki.proxy), "--ca-dir", str(pki.ca_dir)]
    dead = f"https://127.0.0.1:{free_port()}/Demo/Jobs"
    unreachable = diracsh(tmp_path, "call", dead, "ping", *creds)
    assert unreachable.returncode == 4
    assert "connection refused" in unreachable.stdout
    refused = diracsh(tmp_path, "call", diracsh_demo.url(), "resetJobs", *creds)
    assert refused.returncode == 1  # the service answered: no access
    assert "'Errno': 13" in refused.stdout
    colliding = diracsh(
        tmp_path, "call", diracsh_demo.url(), "echo", "{1: 2, '1': 3}", *creds
    )
    assert colliding.returncode == 2
    assert "which are both sent as '1'" in colliding.stdout
    broken = diracsh(tmp_path, "call", diracsh_demo.url(), "echo", '{"a":', *creds)
    assert broken.returncode == 2
    assert broken.stderr.startswith(
        "diracsh: argument '{\"a\":' is not a valid literal"
    )


def test_call_insecure_says_so_on_stderr(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    proxy = str(diracsh_demo.pki.proxy)
    done = diracsh(tmp_path, "call", diracsh_demo.url(), "ping", "--proxy", proxy)
    assert done.returncode == 3  # no CA given: the demo server is not trusted
    unverified = diracsh(
        tmp_path, "call", diracsh_demo.url(), "ping", "--proxy", proxy, "--insecure"
    )
    assert unverified.returncode == 0
    assert unverified.stderr == (
        "diracsh: warning: --insecure: server certificates are NOT verified; "
        "anyone between you and the server can read and change the calls\n"
    )


def test_secrets_never_reach_the_log(tmp_path: Path) -> None:
    script = ".connect https://h:1/Demo/Jobs as t --token SUPERSECRET123 --timeout x\n"
    done = diracsh(tmp_path, "--demo", stdin=script)
    assert "--timeout takes seconds, not 'x'" in done.stdout
    log = tmp_path / "log" / "diracsh.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "SUPERSECRET123" not in log.read_text()
    history = tmp_path / "data" / "history"
    assert not history.exists() or "SUPERSECRET123" not in history.read_text()


def test_connect_refuses_what_cannot_work(diracsh_demo: DemoService) -> None:
    out = io.StringIO()
    shell = Shell(Printer(out, color=False))
    shell.execute(".connect http://127.0.0.1:8443/Demo/Jobs")
    assert "diracsh speaks DIRAC's HTTPS protocol only" in out.getvalue()
    assert shell.connections == {}


def test_receive_file_into_a_directory_is_refused_before_downloading(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    result = diracsh_demo.client("Demo/Files").receiveFile(str(tmp_path), "std.out")
    assert (
        result["Message"]
        == f"{tmp_path} is a directory: give the name of the file to write"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("timeout", [-1, float("inf"), float("nan"), True, "10"])
def test_bad_timeouts_are_an_s_error_not_an_exception(timeout: object) -> None:
    result = TornadoClient("https://127.0.0.1:1/Demo/Jobs", timeout=timeout).ping()
    assert result["OK"] is False
    assert result["Message"].startswith("timeout must be a number of seconds")


def write_config(home: Path, text: str) -> None:
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(text)


def test_call_takes_aliases_and_credentials_from_the_config(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    pki = diracsh_demo.pki
    write_config(
        tmp_path,
        f'[credentials]\nproxy = "{pki.proxy}"\nca_dir = "{pki.ca_dir}"\n'
        f'[aliases]\njobs = "{diracsh_demo.url()}"\n',
    )
    done = diracsh(tmp_path, "call", "jobs", "getJobStatus", "12")
    assert (done.returncode, done.stdout) == (
        0,
        "{'OK': True, 'Value': {'12': 'Running'}}\n",
    ), done.stderr


def test_a_credential_flag_replaces_the_config_credential(
    diracsh_demo: DemoService, tmp_path: Path
) -> None:
    pki = diracsh_demo.pki
    write_config(
        tmp_path, f'[credentials]\nproxy = "{pki.proxy}"\nca_dir = "{pki.ca_dir}"\n'
    )
    flags = ["--cert", str(pki.admin_cert), "--key", str(pki.admin_key)]
    call = diracsh(tmp_path, "call", diracsh_demo.url(), "whoami", *flags)
    shell = diracsh(tmp_path, diracsh_demo.url(), *flags, stdin="whoami()\n")
    for done in (call, shell):
        assert done.returncode == 0, done.stdout + done.stderr
        assert "'DN': '/O=diracsh/OU=users/CN=demo admin'" in done.stdout


def test_demo_services_use_the_demo_ca_whatever_the_config_says(
    tmp_path: Path,
) -> None:
    write_config(tmp_path, '[credentials]\nca_dir = "/nonexistent/certificates"\n')
    done = diracsh(tmp_path, "--demo", stdin="getJobStatus(12)\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("{'OK': True, 'Value': {'12': 'Running'}}  (")
