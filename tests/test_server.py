"""The service kit answers the way DIRAC 9's TornadoService does."""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from diracsh import TornadoClient, jencode
from diracsh.results import S_OK
from diracsh.server import Server, Service, remote_credentials
from diracsh.server.pki import ensure_demo_pki
from tests.kit import TOKEN, KitPKI, free_port, kit_server, serving
from tests.pty import pty_env


def post(
    server: Server, pki: KitPKI, data: dict[str, str] | None, **kw: Any
) -> requests.Response:
    kw.setdefault("cert", str(pki.proxy))
    return requests.post(
        server.url("Demo/Jobs"), data=data, verify=str(pki.ca_dir), timeout=30, **kw
    )


def test_result_is_json_with_status_200_even_for_s_error(
    server: Server, pki: KitPKI
) -> None:
    response = post(server, pki, {"method": "getJobAttributes", "args": "[999]"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert jencode.loads(response.content) == {
        "OK": False,
        "Errno": 2,
        "Message": "No such file or directory ( 2 : Job 999 not found)",
    }


def test_missing_method_is_400(server: Server, pki: KitPKI) -> None:
    assert post(server, pki, {"args": "[]"}).status_code == 400


def test_other_verbs_are_405(server: Server, pki: KitPKI) -> None:
    response = requests.get(
        server.url("Demo/Jobs"), cert=str(pki.proxy), verify=str(pki.ca_dir), timeout=30
    )
    assert response.status_code == 405


def test_unknown_path_is_404(server: Server, pki: KitPKI) -> None:
    response = requests.post(
        server.url("Demo/Nothing"),
        data={"method": "ping"},
        cert=str(pki.proxy),
        verify=str(pki.ca_dir),
        timeout=30,
    )
    assert response.status_code == 404


def test_no_credential_is_401_even_for_ping(server: Server, pki: KitPKI) -> None:
    response = post(server, pki, {"method": "ping", "args": "[]"}, cert=None)
    assert response.status_code == 401
    assert "401: Unauthorized" in response.text


def test_unknown_method_is_501_before_authentication(
    server: Server, pki: KitPKI
) -> None:
    response = post(server, pki, {"method": "nope", "args": "[]"}, cert=None)
    assert response.status_code == 501


def test_undecodable_args_are_500(server: Server, pki: KitPKI) -> None:
    response = post(
        server, pki, {"method": "echo", "args": '[{"__dCls": "dt", "obj": 1}]'}
    )
    assert response.status_code == 500


def test_raw_content_answers_octet_stream(server: Server, pki: KitPKI) -> None:
    response = post(
        server, pki, {"method": "streamToClient", "args": "[12]", "rawContent": "True"}
    )
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content.startswith(b"Job 12 (demo_job_12)\n")
    # DIRAC reads rawContent from the query string too (get_argument).
    in_query = requests.post(
        server.url("Demo/Jobs") + "?rawContent=True",
        data={"method": "streamToClient", "args": "[12]"},
        cert=str(pki.proxy),
        verify=str(pki.ca_dir),
        timeout=30,
    )
    assert in_query.content == response.content
    # Without rawContent, bytes still go out as they are (DIRAC's text/html).
    plain = post(server, pki, {"method": "streamToClient", "args": "[12]"})
    assert plain.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert plain.content == response.content


def test_gzip_when_the_client_accepts_it(server: Server, pki: KitPKI) -> None:
    # tornado compresses bodies of 1 KiB or more only
    response = post(
        server,
        pki,
        {"method": "listMethods", "args": "[]"},
        stream=True,
        headers={"Accept-Encoding": "gzip"},
    )
    raw = response.raw.read(decode_content=False)
    assert response.headers["Content-Encoding"] == "gzip"
    assert "getJobStatus" in jencode.loads(gzip.decompress(raw))["Value"]


def test_types_are_checked_with_dirac_messages(server: Server, pki: KitPKI) -> None:
    client = TornadoClient(
        server.url("Demo/Jobs"),
        proxyLocation=str(pki.proxy),
        caLocation=str(pki.ca_dir),
    )
    assert client.getJobAttributes("12")["Message"] == (
        "Type mismatch in parameter 0 (starting with param 0) "
        "Received <class 'str'>, expected <class 'int'>"
    )
    assert client.getJobStatus("12")["Message"] == (
        "Type mismatch in parameter 0 (starting with param 0) "
        "Received <class 'str'>, expected (<class 'int'>, <class 'list'>)"
    )
    assert client.getJobAttributes()["Message"] == (
        "Function getJobAttributes expects at least 1 arguments"
    )
    # DIRAC's check is isinstance: True passes for an int (and finds no job).
    assert client.getJobAttributes(True)["Message"] == (
        "No such file or directory ( 2 : Job True not found)"
    )


def test_list_methods_describes_every_method(server: Server, pki: KitPKI) -> None:
    client = TornadoClient(
        server.url("Demo/Jobs"),
        proxyLocation=str(pki.proxy),
        caLocation=str(pki.ca_dir),
    )
    listing = client.listMethods()["Value"]
    assert {
        "ping",
        "echo",
        "whoami",
        "listMethods",
        "getJobStatus",
        "resetJobs",
    } <= set(listing)
    assert listing["getJobAttributes"] == {
        "args": ["jobID", "attrList"],
        "types": ["int"],
        "doc": "All attributes of a job (or those named in attrList).",
        "auth": ["authenticated"],
        "required": 1,  # attrList has a default
    }
    assert listing["resetJobs"]["auth"] == ["JobAdministrator"]


def test_eight_threads_of_calls_all_correct(server: Server, pki: KitPKI) -> None:
    failures: list[str] = []
    correct = [0] * 8
    when = dt.datetime(2024, 1, 2, 3, 4, 5)

    def worker(index: int) -> None:
        client = TornadoClient(
            server.url("Demo/Jobs"),
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        )
        for call in range(500):
            value = {"thread": index, "call": call, "when": when, "raw": bytes([index])}
            result = client.echo(value)
            if result.get("Value") == value:
                correct[index] += 1
            else:
                failures.append(f"{index}/{call}: {result.get('Message')}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert correct == [500] * 8


def test_wrong_number_of_arguments_is_an_s_error_not_a_500(
    server: Server, pki: KitPKI
) -> None:
    client = TornadoClient(
        server.url("Demo/Jobs"),
        proxyLocation=str(pki.proxy),
        caLocation=str(pki.ca_dir),
    )
    assert client.echo(1, 2)["Message"] == (
        "Function echo cannot take 2 arguments: too many positional arguments"
    )


# -- diracsh serve --demo ----------------------------------------------------


@pytest.mark.parametrize("host", [None, "0.0.0.0"])
def test_serve_demo_prints_what_to_use_and_its_curl_line_works(
    dirac_ref: Any, tmp_path: Path, host: str | None
) -> None:
    state = tmp_path / "demo state"  # a space: the curl line must quote it
    port = free_port()
    args = ["--demo", "--port", str(port), "--state-dir", str(state)]
    args += ["--host", host] if host else []  # default: 127.0.0.1
    with serving(args, tmp_path / "home") as lines:
        # Bound to every address, the server is still reached (and certified)
        # as 127.0.0.1.
        base = f"https://127.0.0.1:{port}"
        assert lines[:-2] == [
            f"service   {base}/Demo/Jobs",
            f"service   {base}/Demo/Files",
            f"service   {base}/Framework/Notification",
            f"CA dir    {state / 'ca'}",
            f"user cert {state / 'user' / 'usercert.pem'}",
            f"user key  {state / 'user' / 'userkey.pem'}",
            f"proxy     {state / 'user' / 'proxy.pem'}",
            f"admin     {state / 'admin' / 'proxy.pem'}",
            f"token     {state / 'token'}  (BEARER_TOKEN_FILE)",
            f"log       {tmp_path / 'home' / 'log' / 'diracsh.log'}  "
            "(tracebacks of failed calls)",
        ]
        env = {
            "X509_CERT_DIR": str(state / "ca"),
            "X509_USER_PROXY": str(state / "user" / "proxy.pem"),
        }
        whoami = dirac_ref.call(f"{base}/Demo/Jobs", "whoami", env=env)
        assert (whoami["OK"], whoami["Value"]["username"]) == (True, "demo")

        assert lines[-2].startswith("try:      curl ")
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed: the printed line cannot be run")
        pasted = subprocess.run(
            lines[-2].removeprefix("try:") + " --silent --show-error",
            shell=True,
            capture_output=True,
            timeout=30,
        )
        assert pasted.stderr == b""
        ping = jencode.loads(pasted.stdout)
        assert ping["OK"] is True
        assert (ping["Value"]["name"], ping["Value"]["URL"]) == (
            "Demo/Jobs",
            f"{base}/Demo/Jobs",
        )


def test_ctrl_c_stops_serve_at_once_during_a_slow_call(tmp_path: Path) -> None:
    state = tmp_path / "state"
    port = free_port()
    args = ["--demo", "--port", str(port), "--state-dir", str(state)]
    results: list[dict[str, Any]] = []
    with serving(args, tmp_path / "home"):
        client = TornadoClient(
            f"https://127.0.0.1:{port}/Demo/Jobs",
            proxyLocation=str(state / "user" / "proxy.pem"),
            caLocation=str(state / "ca"),
        )
        assert client.ping()["OK"] is True
        caller = threading.Thread(
            target=lambda: results.append(client.waitForJob(12, 60))
        )
        caller.start()
        time.sleep(0.5)  # the call is running in the server now
    # serving() has sent Ctrl-C and seen the server end within 10 s (not the
    # call's 60) with status 0 and a clean stderr; the caller got a result.
    caller.join(timeout=10)
    assert [type(result["OK"]) for result in results] == [bool]


# -- auth_ rules ---------------------------------------------------------------


@pytest.fixture(scope="module")
def guarded(pki: KitPKI) -> Iterator[Server]:
    """A service with one method per kind of auth_ rule, on the test registry."""

    class Guarded(Service):
        name = "Test/Guarded"
        auth_open = ("all",)
        auth_members = ("authenticated",)
        auth_admins = ("JobAdministrator",)
        auth_either = "NormalUser, jobadministrator"  # DIRAC's comma form, any case
        auth_named = (pki.user_dn, pki.stranger_dn)

        def _me(self) -> dict[str, Any]:
            return S_OK(remote_credentials()["username"])

        export_open = export_members = export_admins = _me
        export_either = export_named = _me

    with kit_server(pki, services=[Guarded()]) as running:
        yield running


CALLERS = ("proxy", "admin", "token", "host", "stranger")
# Who gets an answer (their registry username) for each method; others get 401.
ALLOWED = {
    "open": {
        "proxy": "tester",
        "admin": "boss",
        "token": "tok",
        "host": "worker.example.org",
        "stranger": "anonymous",
    },
    "members": {
        "proxy": "tester",
        "admin": "boss",
        "token": "tok",
        "host": "worker.example.org",
    },
    "admins": {"admin": "boss"},
    "either": {"proxy": "tester", "admin": "boss", "token": "tok"},
    "named": {"proxy": "tester", "stranger": "anonymous"},
    "ping": {caller: "" for caller in CALLERS},
    "whoami": {caller: "" for caller in CALLERS if caller != "stranger"},
}


def _caller(server: Server, pki: KitPKI, who: str) -> TornadoClient:
    options: dict[str, Any] = {
        "proxy": {"proxyLocation": str(pki.proxy)},
        "admin": {"proxyLocation": str(pki.admin_proxy)},
        "token": {"accessToken": TOKEN},
        "host": {
            "certFile": str(pki.client_host_cert),
            "keyFile": str(pki.client_host_key),
        },
        "stranger": {
            "certFile": str(pki.stranger_cert),
            "keyFile": str(pki.stranger_key),
        },
    }[who]
    return TornadoClient(
        server.url("Test/Guarded"), caLocation=str(pki.ca_dir), **options
    )


@pytest.mark.parametrize("method", sorted(ALLOWED))
@pytest.mark.parametrize("who", CALLERS)
def test_auth_rules_admit_exactly_their_callers(
    guarded: Server, pki: KitPKI, method: str, who: str
) -> None:
    result = _caller(guarded, pki, who).executeRPC(method)
    if who in ALLOWED[method]:
        assert result["OK"] is True, result["Message"]
        if ALLOWED[method][who]:
            assert result["Value"] == ALLOWED[method][who]
    else:
        assert (result["OK"], result["Errno"]) == (False, 13)


def test_list_methods_shows_each_auth_rule(guarded: Server, pki: KitPKI) -> None:
    listing = _caller(guarded, pki, "proxy").listMethods()["Value"]
    assert {name: entry["auth"] for name, entry in listing.items()} == {
        "open": ["all"],
        "members": ["authenticated"],
        "admins": ["JobAdministrator"],
        "either": ["NormalUser", "jobadministrator"],
        "named": [pki.user_dn, pki.stranger_dn],
        "echo": ["all"],
        "listMethods": ["all"],
        "ping": ["all"],
        "whoami": ["authenticated"],
    }


def test_a_method_that_raises_is_500_with_the_traceback_in_the_log_only(
    server: Server, pki: KitPKI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="diracsh.server"):
        response = post(server, pki, {"method": "getSiteMask", "args": "[]"})
    assert response.status_code == 500
    assert response.text == (
        "<html><title>500: Internal Server Error</title>"
        "<body>500: Internal Server Error</body></html>"
    )
    logged = [r for r in caplog.records if r.name == "diracsh.server" and r.exc_info]
    assert [r.getMessage() for r in logged] == ["Demo/Jobs.getSiteMask raised"]
    assert "site mask database is unreachable" in caplog.text


# -- the demo services -----------------------------------------------------------


def test_demo_job_life_and_notifications(pki: KitPKI) -> None:
    with kit_server(pki) as own:  # jobs and messages change: a server of its own

        def demo(service: str) -> TornadoClient:
            return TornadoClient(
                own.url(service),
                proxyLocation=str(pki.proxy),
                caLocation=str(pki.ca_dir),
            )

        jobs, mail = demo("Demo/Jobs"), demo("Framework/Notification")
        assert jobs.submitJob("no executable")["Message"] == "JDL has no Executable"
        job = jobs.submitJob('[ Executable = "run.sh"; ]')["Value"]
        assert job == 20  # after the 8 seeded jobs, 12 to 19
        assert jobs.getJobStatus([job, 12, 999])["Value"] == {
            str(job): "Received",
            "12": "Running",
        }
        # Odd job IDs are no job, not a crash of the service (HTTP 500).
        assert jobs.getJobStatus([12, {"a": 1}, "13"])["Value"] == {"12": "Running"}
        files = demo("Demo/Files")
        assert files.streamFromClient("f", "", 3, 5)["Message"] == (
            "expected the file's bytes, not int"
        )
        assert files.streamFromClient("f", "", 3, b"ab")["Message"] == (
            "expected 3 bytes, received 2"
        )
        assert jobs.getJobAttributes(job, ["Owner", "OwnerGroup"])["Value"] == {
            "Owner": "tester",
            "OwnerGroup": "test_user",
        }
        assert jobs.killJob(job)["Value"] == [job]
        assert jobs.killJob(job)["Message"] == f"Job {job} is already Killed"
        history = jobs.getJobLoggingInfo(job)["Value"]
        assert [entry[:2] for entry in history] == [
            ["Received", "Job accepted"],
            ["Killed", "Killed by user"],
        ]
        assert all(isinstance(entry[2], dt.datetime) for entry in history)
        assert jobs.waitForJob(job, 0)["Value"] == "Killed"
        assert jobs.getJobSummary()["Value"]["ByStatus"]["Killed"] == {"ANY": 1}

        assert mail.sendMail("ops@example.org", "Hello", "text")["Value"] == 2
        newest = mail.getMessages(True)["Value"][0]
        assert (newest["From"], newest["To"], newest["Subject"]) == (
            "tester",
            "ops@example.org",
            "Hello",
        )
        assert isinstance(newest["Time"], dt.datetime)


def test_serve_demo_on_an_address_it_cannot_bind_keeps_the_demo_ca(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    ca = ensure_demo_pki(state).ca_cert.read_bytes()
    done = subprocess.run(
        # 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address.
        [sys.executable, "-m", "diracsh", "serve", "--demo", "--host", "192.0.2.1"]
        + ["--state-dir", str(state)],
        capture_output=True,
        text=True,
        env=pty_env(tmp_path / "home"),
        timeout=60,
    )
    assert done.returncode == 3
    # The reason is the system's text ("Cannot assign requested address").
    assert done.stderr.startswith("diracsh: cannot start the demo service on ")
    assert done.stderr.endswith(f" (state in {state})\n")
    assert done.stderr.count("\n") == 1
    assert (state / "ca" / "diracsh-demo-CA.pem").read_bytes() == ca


# -- declarations and life cycle ------------------------------------------------


def _declared(name: str, **attributes: Any) -> Service:
    return type("Declared", (Service,), {"name": name, **attributes})()


@pytest.mark.parametrize(
    ("service", "error", "fragment"),
    [
        (_declared("Sys/Comp("), ValueError, "it must be 'System/Component'"),
        (_declared(""), ValueError, "it must be 'System/Component'"),
        (_declared("Sys/B", types_x=str), TypeError, "types_x must be a list"),
        (_declared("Sys/C", types_x=[list[int]]), TypeError, "types_x must be a list"),
        (_declared("Sys/D", types_x=["str"]), TypeError, "types_x must be a list"),
        (_declared("Sys/E", auth_x=5), TypeError, "auth_x must be a comma string"),
    ],
    ids=["regex-name", "empty-name", "types-str", "generic", "type-name", "auth-int"],
)
def test_a_bad_declaration_is_refused_when_the_server_is_made(
    pki: KitPKI, service: Service, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as refused:
        kit_server(pki, services=[service])
    assert fragment in str(refused.value)


def test_a_server_starts_once_and_frees_its_port_even_unstarted(pki: KitPKI) -> None:
    served = kit_server(pki)
    served.start()
    served.stop()
    with pytest.raises(RuntimeError, match="a server starts once"):
        served.start()
    unstarted = kit_server(pki)
    port = unstarted.port
    unstarted.stop()
    again = Server(
        [], cert=pki.host_cert, key=pki.host_key, ca_location=pki.ca_dir, port=port
    )
    assert again.port == port
    again.stop()


class Odd(Service):
    name = "Test/Odd"
    auth_pair = auth_unsendable = ("all",)

    def export_pair(self, first: int, /, second: int = 2) -> dict[str, Any]:
        """Positional-only arguments are RPC arguments too."""
        return S_OK([first, second])

    def export_unsendable(self) -> dict[str, Any]:
        return S_OK({1, 2})  # a set: the service's own bug


def test_odd_methods_are_listed_right_and_a_bad_answer_is_a_logged_500(
    pki: KitPKI, caplog: pytest.LogCaptureFixture
) -> None:
    with kit_server(pki, services=[Odd()]) as own:
        odd = TornadoClient(
            own.url("Test/Odd"),
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        )
        listed = odd.listMethods()["Value"]["pair"]
        assert (listed["args"], listed["required"]) == (["first", "second"], 1)
        assert odd.pair(1)["Value"] == [1, 2]
        with caplog.at_level(logging.ERROR, logger="diracsh.server"):
            answer = odd.unsendable()
    assert "HTTP 500" in answer["Message"]
    assert "Test/Odd answered what JSON cannot carry" in caplog.text
