"""The cassette-replay service: calls recorded from the demo, answered again."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from diracsh import TornadoClient, stubs
from diracsh.testing import DemoService, ReplayServer
from tests.kit import serving

Serve = Callable[[str | os.PathLike[str]], ReplayServer]

NESTED = {
    "when": dt.datetime(2024, 1, 2, 3, 4, 5),
    "day": dt.date(2024, 1, 2),
    "raw": b"\x89PNG\r\n\x1a\n\x00\xff",
    "jobs": {12: ["Running", 1.5, None]},
}
# (service, method, args) recorded from the demo, in this order.
CALLS: list[tuple[str, str, tuple[Any, ...]]] = [
    ("Demo/Jobs", "getJobStatus", ([12, 13],)),
    ("Demo/Jobs", "getJobAttributes", (12, ["Status", "Site", "SubmissionTime"])),
    ("Demo/Jobs", "getJobLoggingInfo", (12,)),
    ("Demo/Jobs", "echo", (NESTED,)),
    ("Demo/Jobs", "getJobAttributes", (999,)),  # S_ERROR errno 2
    ("Demo/Jobs", "noSuchMethod", ()),  # 501: errno 38
    ("Demo/Jobs", "resetJobs", ()),  # 401: errno 13
    ("Demo/Jobs", "getSiteMask", ()),  # 500
    ("Demo/Files", "getFileBytes", ("image.png",)),
    ("Framework/Notification", "getMessages", (True,)),
]


def without_stub(result: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in result.items() if key != "rpcStub"}


@pytest.fixture(scope="module")
def recorded(
    diracsh_demo: DemoService, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]]]:
    """A cassette of CALLS made on the demo, and the results they got."""
    path = tmp_path_factory.mktemp("cassettes") / "demo.json"
    recorder = stubs.Recorder(path)
    results = []
    for service, method, args in CALLS:
        result = diracsh_demo.client(service).executeRPC(method, *args)
        recorder.record(result, 0.01)
        results.append(result)
    return path, results


@pytest.fixture
def replay(recorded: tuple[Path, Any], diracsh_cassette: Serve) -> ReplayServer:
    return diracsh_cassette(recorded[0])


def test_every_recorded_service_is_served(replay: ReplayServer) -> None:
    assert list(replay.urls) == ["Demo/Jobs", "Demo/Files", "Framework/Notification"]
    port = replay.server.port
    assert replay.url("Demo/Files") == f"https://127.0.0.1:{port}/Demo/Files"
    assert replay.ca_dir.is_dir() and replay.proxy.is_file()


@pytest.mark.parametrize(
    "index", range(len(CALLS)), ids=[f"{s}.{m}" for s, m, _ in CALLS]
)
def test_replayed_calls_get_the_recorded_results(
    replay: ReplayServer, recorded: tuple[Path, list[dict[str, Any]]], index: int
) -> None:
    service, method, args = CALLS[index]
    live = recorded[1][index]

    again = replay.client(service).executeRPC(method, *args)

    # A result the client made from an HTTP status (401 here) is answered with
    # that status again, so its message names the replay server.
    expected = without_stub(live)
    if "Message" in expected:
        recorded_url = live["rpcStub"][0][0]
        expected["Message"] = expected["Message"].replace(
            recorded_url, replay.url(service)
        )
    assert without_stub(again) == expected
    assert again["rpcStub"] == (
        (replay.url(service), again["rpcStub"][0][1]),
        method,
        list(args),
    )


def test_recorded_values_keep_their_types(replay: ReplayServer) -> None:
    value = replay.client().echo(NESTED)["Value"]
    assert value == {**NESTED, "jobs": {"12": ["Running", 1.5, None]}}
    status = replay.client().getJobAttributes(12, ["Status", "Site", "SubmissionTime"])
    assert status["Value"]["SubmissionTime"] == dt.datetime(2024, 1, 2, 3, 4, 5)


def test_key_order_and_json_spacing_do_not_matter(replay: ReplayServer) -> None:
    # The same echo, written by hand: other key order, other spacing.
    args = (
        '[ { "raw" : {"obj": "iVBORw0KGgoA/w==", "__dCls": "b64"},'
        '   "jobs": {"12": ["Running", 1.5, null]},'
        '   "day": {"__dCls": "date", "obj": "2024-01-02"},'
        '   "when": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"} } ]'
    )
    response = requests.post(
        replay.url("Demo/Jobs"),
        data={"method": "echo", "args": args},
        cert=str(replay.proxy),
        verify=str(replay.ca_dir),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["OK"] is True
    assert response.json()["Value"]["when"] == {
        "__dCls": "dt",
        "obj": "2024-01-02 03:04:05",
    }


def test_a_mismatch_names_the_closest_call_and_the_differing_argument(
    replay: ReplayServer,
) -> None:
    result = replay.client().getJobStatus([12, 14])
    assert result["OK"] is False
    assert result["Message"] == (
        "no recorded call matches Demo/Jobs.getJobStatus([12, 14]): the closest is "
        "Demo/Jobs.getJobStatus([12, 13]) (entry 1), which differs at args[0][1]: "
        "recorded 13, the call has 14"
    )


def test_a_string_is_not_the_recorded_integer(replay: ReplayServer) -> None:
    result = replay.client().getJobLoggingInfo("12")
    assert (
        "differs at args[0]: recorded 12 (int), the call has '12' (str)"
        in (result["Message"])
    )


def test_an_unrecorded_method_is_explained_not_501(replay: ReplayServer) -> None:
    result = replay.client("Demo/Files").ping()
    assert (result["OK"], result["Errno"]) == (False, 0)
    assert result["Message"] == (
        "no recorded call to Demo/Files.ping: the cassette has getFileBytes for "
        "Demo/Files"
    )


def test_list_methods_lists_the_recorded_methods(replay: ReplayServer) -> None:
    methods = replay.client().listMethods()["Value"]
    assert sorted(methods) == [
        "echo",
        "getJobAttributes",
        "getJobLoggingInfo",
        "getJobStatus",
        "getSiteMask",
        "listMethods",
        "noSuchMethod",
        "resetJobs",
    ]
    assert methods["getJobAttributes"] == {
        "args": ["arg1", "arg2"],
        "types": [],
        "doc": "replays 2 calls recorded",
        "auth": ["all"],
    }


def test_token_and_certificate_callers_are_answered(replay: ReplayServer) -> None:
    by_token = replay.client(accessToken=replay.token, proxyLocation=None)
    by_cert = replay.client(
        certFile=str(replay.user_cert), keyFile=str(replay.user_key), proxyLocation=None
    )
    for client in (by_token, by_cert):
        assert client.getJobStatus([12, 13])["Value"] == {"12": "Running", "13": "Done"}


def test_a_call_recorded_twice_gets_its_results_in_order(
    tmp_path: Path, diracsh_cassette: Serve
) -> None:
    stub = (("https://h:1/Demo/Jobs", {}), "getJobStatus", [12])
    path = tmp_path / "twice.json"
    stubs.save(
        path,
        [
            stubs.make_entry(stub, {"OK": True, "Value": {"12": status}}, 0.1)
            for status in ("Running", "Done")
        ],
    )
    client = diracsh_cassette(path).client("Demo/Jobs")

    answers = [client.getJobStatus(12)["Value"]["12"] for _ in range(3)]

    assert answers == ["Running", "Done", "Done"]


def test_a_cassette_without_services_cannot_be_served(
    tmp_path: Path, diracsh_cassette: Serve
) -> None:
    path = tmp_path / "empty.json"
    stubs.save(path, [])
    with pytest.raises(stubs.CassetteError, match="nothing to serve"):
        diracsh_cassette(path)


def test_dirac_client_gets_the_recorded_results(
    dirac_ref: Any, replay: ReplayServer, recorded: tuple[Path, list[dict[str, Any]]]
) -> None:
    env: dict[str, str | None] = {
        "X509_CERT_DIR": str(replay.ca_dir),
        "X509_USER_PROXY": str(replay.proxy),
    }
    status = dirac_ref.call(replay.url(), "getJobStatus", [12, 13], env=env)
    echoed = dirac_ref.call(replay.url(), "echo", NESTED, env=env)
    missed = dirac_ref.call(replay.url(), "getJobStatus", [12, 14], env=env)

    assert status["Value"] == {"12": "Running", "13": "Done"}
    assert echoed["Value"] == without_stub(recorded[1][3])["Value"]
    assert "differs at args[0][1]: recorded 13, the call has 14" in missed["Message"]


def test_a_stub_made_by_dirac_records_and_replays(
    dirac_ref: Any, diracsh_demo: DemoService, diracsh_cassette: Serve, tmp_path: Path
) -> None:
    env: dict[str, str | None] = {
        "X509_CERT_DIR": str(diracsh_demo.pki.ca_dir),
        "X509_USER_PROXY": str(diracsh_demo.pki.proxy),
    }
    theirs = dirac_ref.call(diracsh_demo.url(), "getJobSummary", env=env)
    path = tmp_path / "dirac.json"
    stubs.Recorder(path).record(theirs, 0.01)

    again = diracsh_cassette(path).client().getJobSummary()

    assert again["Value"] == theirs["Value"]


# -- diracsh serve --cassette ------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X509", "DIRAC"))}
    env["DIRACSH_HOME"] = str(tmp_path / "home")
    return env


def test_serve_cassette_prints_urls_and_credentials_and_serves(
    recorded: tuple[Path, Any], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    args = ["--cassette", str(recorded[0]), "--state-dir", str(state)]
    with serving(args, tmp_path / "home") as lines:
        urls = [line.split()[1] for line in lines if line.startswith("service ")]
        assert [url.split("/", 3)[3] for url in urls] == [
            "Demo/Jobs",
            "Demo/Files",
            "Framework/Notification",
        ]
        assert f"CA dir    {state / 'ca'}" in lines
        assert f"proxy     {state / 'user' / 'proxy.pem'}" in lines

        client = TornadoClient(
            urls[0],
            proxyLocation=str(state / "user" / "proxy.pem"),
            caLocation=str(state / "ca"),
        )
        assert client.getJobStatus([12, 13])["Value"] == {"12": "Running", "13": "Done"}


def test_serve_a_missing_cassette_exits_3(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "diracsh",
            "serve",
            "--cassette",
            str(tmp_path / "no.json"),
        ],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=30,
    )
    assert done.returncode == 3
    assert done.stderr == (
        f"diracsh: cannot read cassette {tmp_path / 'no.json'}: No such file or "
        "directory\n"
    )
