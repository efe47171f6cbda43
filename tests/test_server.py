"""The service kit answers the way DIRAC 9's TornadoService does."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from diracsh import TornadoClient, jencode
from diracsh.server import Server
from tests.kit import KitPKI, free_port, serving


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
        "Received <class 'str'>, expected int"
    )
    assert client.getJobAttributes()["Message"] == (
        "Function getJobAttributes expects at least 1 arguments"
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


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_serve_demo_prints_what_to_use_and_its_curl_line_works(
    dirac_ref: Any, tmp_path: Path, host: str
) -> None:
    state = tmp_path / "demo state"  # a space: the curl line must quote it
    port = free_port()
    args = ["--demo", "--host", host, "--port", str(port), "--state-dir", str(state)]
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
