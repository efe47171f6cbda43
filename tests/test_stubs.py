"""Cassettes: exact values, private files, no secrets, matching, and replay."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diracsh import TornadoClient, stubs
from diracsh.stubs import REDACTED, CassetteError, Entry, NoMatch
from diracsh.testing import DemoService

URL = "https://dirac.example.org:9171/WorkloadManagement/JobMonitoring"
PEM_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    "-----END PRIVATE KEY-----\n"
)
PEM_CERT = (
    "-----BEGIN CERTIFICATE-----\nMIIDazCCAlOgAwIBAgIU\n-----END CERTIFICATE-----\n"
)
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.c2lnbmF0dXJl"


def entry(method: str = "getJobStatus", *args: Any, result: Any = None) -> Entry:
    answer = result if result is not None else {"OK": True, "Value": list(args)}
    return stubs.make_entry(((URL, {"timeout": 600}), method, list(args)), answer, 0.01)


@pytest.fixture
def cassette(tmp_path: Path) -> Path:
    return tmp_path / "calls.json"


# -- the file ----------------------------------------------------------------


def test_round_trip_keeps_datetimes_dates_bytes_and_nesting(cassette: Path) -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5)
    value = {
        "when": when,
        "day": dt.date(2024, 1, 2),
        "raw": b"\x89PNG\r\n\x1a\n\x00\xff",
        "jobs": {"12": ["Running", 1.5, None, True]},
    }
    recorded = stubs.make_entry(
        ((URL, {"timeout": 600}), "echo", [value]), {"OK": True, "Value": value}, 0.25
    )
    stubs.save(cassette, [recorded])

    (loaded,) = stubs.load(cassette)
    assert loaded.args == [value]
    assert loaded.result == {"OK": True, "Value": value}
    assert loaded.stub == ((URL, {"timeout": 600}), "echo", [value])
    assert loaded.time == 0.25
    assert loaded.recorded.endswith("+00:00")
    assert loaded.path == "WorkloadManagement/JobMonitoring"


def test_file_is_readable_json_with_dirac_markers(cassette: Path) -> None:
    stubs.save(cassette, [entry("echo", dt.datetime(2024, 1, 2, 3, 4, 5), b"\x00")])
    text = cassette.read_text()
    document = json.loads(text)

    assert document["diracsh_cassette"] == 1
    assert document["entries"][0]["stub"] == [
        [URL, {"timeout": 600}],
        "echo",
        [
            {"__dCls": "dt", "obj": "2024-01-02 03:04:05"},
            {"__dCls": "b64", "obj": "AA=="},
        ],
    ]
    assert text.startswith('{\n  "diracsh_cassette": 1,\n  "entries": [\n')


def test_tuples_and_int_keys_are_stored_as_the_server_sees_them(cassette: Path) -> None:
    stubs.save(cassette, [entry("getJobStatus", {12: (1, 2)})])
    assert stubs.load(cassette)[0].args == [{"12": [1, 2]}]


def test_cassette_is_0600_whatever_the_umask(cassette: Path) -> None:
    old = os.umask(0)
    try:
        stubs.save(cassette, [entry()])
        assert stat.S_IMODE(cassette.stat().st_mode) == 0o600
        stubs.append(cassette, [entry("killJob", 12)])
        assert stat.S_IMODE(cassette.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_append_adds_after_existing_entries_and_leaves_no_temp_file(
    cassette: Path,
) -> None:
    assert stubs.append(cassette, [entry("getJobStatus", 12)]) == 1
    assert stubs.append(cassette, [entry("killJob", 13), entry("ping")]) == 3

    assert [(e.method, e.args) for e in stubs.load(cassette)] == [
        ("getJobStatus", [12]),
        ("killJob", [13]),
        ("ping", []),
    ]
    assert sorted(p.name for p in cassette.parent.iterdir()) == ["calls.json"]


def test_a_failed_write_leaves_the_cassette_as_it_was(cassette: Path) -> None:
    stubs.save(cassette, [entry("getJobStatus", 12)])
    before = cassette.read_bytes()
    unstorable = Entry(URL, {}, "echo", [], {"OK": True, "Value": {1, 2}})

    with pytest.raises(CassetteError, match="is a set"):
        stubs.append(cassette, [unstorable])

    assert cassette.read_bytes() == before
    assert sorted(p.name for p in cassette.parent.iterdir()) == ["calls.json"]


def test_unwritable_directory_is_a_cassette_error(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="cannot write into .*missing"):
        stubs.save(tmp_path / "missing" / "calls.json", [entry()])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not a cassette: not valid JSON"),
        ('{"entries": []}', "is not a diracsh cassette"),
        ('{"diracsh_cassette": 2, "entries": []}', "is cassette version 2"),
        ('{"diracsh_cassette": 1, "entries": {}}', "'entries' must be a list"),
        ('{"diracsh_cassette": 1, "entries": [{"stub": 1}]}', "entry 1 is not"),
        (
            '{"diracsh_cassette": 1, "entries": [{"stub": [["a", {}], 1, []], '
            '"result": {}}]}',
            "entry 1: service and method must be strings",
        ),
        (
            '{"diracsh_cassette": 1, "entries": [{"stub": [["a", {}], "m", []], '
            '"result": {"Value": 3}}]}',
            "entry 1: result is not a DIRAC result",
        ),
    ],
    ids=[
        "not-json",
        "no-marker",
        "future-version",
        "entries-dict",
        "bad-stub",
        "bad-types",
        "not-a-result",
    ],
)
def test_load_says_what_is_wrong(cassette: Path, text: str, message: str) -> None:
    cassette.write_text(text)
    with pytest.raises(CassetteError, match=message):
        stubs.load(cassette)


def test_recorder_refuses_to_overwrite_a_file_that_is_not_a_cassette(
    cassette: Path,
) -> None:
    cassette.write_text("my notes\n")
    with pytest.raises(CassetteError, match="not a cassette"):
        stubs.Recorder(cassette)
    assert cassette.read_text() == "my notes\n"


def test_recorder_needs_a_result_with_its_stub(cassette: Path) -> None:
    recorder = stubs.Recorder(cassette)
    with pytest.raises(CassetteError, match="no rpcStub"):
        recorder.record({"OK": True, "Value": 1}, 0.1)
    assert stubs.load(cassette) == []


# -- no secrets --------------------------------------------------------------


class X509Chain:
    """Stands for DIRAC's chain object: a live value that has no JSON form."""


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("proxyString", PEM_CERT + PEM_KEY),
        ("proxyChain", X509Chain()),
        ("accessToken", "opaque-token-value"),
        ("passwordCallback", print),
        ("keyPassword", "hunter22"),
        ("clientToken", "opaque-token-value"),
        ("extra", [PEM_CERT]),
        ("header", "Bearer abcdefgh"),
        ("myToken", JWT),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None,
)
def test_stub_keywords_lose_credentials(key: str, value: Any) -> None:
    kwargs = {"timeout": 120, "useAccessToken": True, "VO": "lhcb", key: value}
    recorded = stubs.make_entry(((URL, kwargs), "ping", []), {"OK": True}, 0.1)
    assert recorded.kwargs == {"timeout": 120, "useAccessToken": True, "VO": "lhcb"}


def test_key_material_and_tokens_in_values_are_redacted(cassette: Path) -> None:
    args = [f"chain:\n{PEM_CERT}{PEM_KEY}", (PEM_KEY + "tail").encode(), f"a {JWT} b"]
    result = {
        "OK": True,
        "Value": {"access_token": "s3cr3t-opaque", "echo": "my-known-secret-1"},
        "rpcStub": ((URL, {"proxyString": PEM_KEY}), "x", []),
        "nested": [{"rpcStub": "gone", "kept": 1}],
    }
    recorded = stubs.make_entry(
        ((URL, {}), "putProxy", args), result, 0.1, secrets=["my-known-secret-1"]
    )
    stubs.save(cassette, [recorded])
    text = cassette.read_text()

    for secret in ("PRIVATE KEY", "MIIEvQ", "s3cr3t", JWT, "my-known-secret-1"):
        assert secret not in text
    assert recorded.args == [
        f"chain:\n{PEM_CERT}{REDACTED}\n",
        f"{REDACTED}\ntail".encode(),
        f"a {REDACTED} b",
    ]
    assert recorded.result == {
        "OK": True,
        "Value": {"access_token": REDACTED, "echo": REDACTED},
        "nested": [{"kept": 1}],
    }


def test_no_pem_or_token_from_proxy_string_or_access_token_clients(
    diracsh_demo: DemoService, cassette: Path
) -> None:
    pem = diracsh_demo.pki.proxy.read_text()
    token = diracsh_demo.pki.token
    ca = str(diracsh_demo.pki.ca_dir)
    by_pem = TornadoClient(diracsh_demo.url(), proxyString=pem, caLocation=ca)
    by_token = TornadoClient(diracsh_demo.url(), accessToken=token, caLocation=ca)
    recorder = stubs.Recorder(
        cassette, secrets=stubs.secrets_of({"accessToken": token})
    )

    for result in (by_pem.whoami(), by_token.whoami(), by_token.echo([token, pem])):
        assert result["OK"] is True
        recorder.record(result, 0.01)

    text = cassette.read_text()
    assert "-----BEGIN" in pem and "-----BEGIN PRIVATE" not in text
    assert token not in text
    assert "proxyString" not in text and "accessToken" not in text
    token_back, pem_back = stubs.load(cassette)[-1].args[0]
    assert token_back == REDACTED
    assert pem_back.count("-----BEGIN CERTIFICATE-----") == 2  # certificates stay
    assert REDACTED in pem_back and "PRIVATE KEY" not in pem_back


# -- matching ----------------------------------------------------------------


RECORDED = [
    entry("getJobStatus", [12, 13]),
    entry("getJobAttributes", 12, ["Status", "Site"]),
    entry("echo", {"when": dt.datetime(2024, 1, 2, 3, 4, 5), "ids": {"12": 1}}),
]


@pytest.mark.parametrize(
    ("service", "method", "args"),
    [
        (
            "https://other-host:1/WorkloadManagement/JobMonitoring",
            "getJobStatus",
            [[12, 13]],
        ),
        ("WorkloadManagement/JobMonitoring", "getJobStatus", [(12, 13)]),
        (URL, "echo", [{"ids": {12: 1}, "when": dt.datetime(2024, 1, 2, 3, 4, 5)}]),
    ],
    ids=["other-host", "name-and-tuple", "key-order-and-int-key"],
)
def test_a_call_matches_whatever_host_key_order_or_sequence_type(
    service: str, method: str, args: list[Any]
) -> None:
    assert stubs.match(RECORDED, service, method, args).method == method


@pytest.mark.parametrize(
    ("method", "args", "message"),
    [
        (
            "getJobStatus",
            [[12, 14]],
            "the closest is WorkloadManagement/JobMonitoring.getJobStatus([12, 13]) "
            "(entry 1), which differs at args[0][1]: recorded 13, the call has 14",
        ),
        (
            "getJobStatus",
            [["12", 13]],
            "differs at args[0][0]: recorded 12 (int), the call has '12' (str)",
        ),
        (
            "getJobAttributes",
            [12],
            "differs at args[1]: recorded ['Status', 'Site'], missing from the call",
        ),
        (
            "getJobAttributes",
            [12, ["Status", "Site"], True],
            "differs at args[2]: the call has True, not in the recording",
        ),
        (
            "echo",
            [{"when": dt.datetime(2024, 1, 2, 3, 4, 6), "ids": {"12": 1}}],
            "differs at args[0]['when']: recorded datetime.datetime(2024, 1, 2, 3, "
            "4, 5), the call has datetime.datetime(2024, 1, 2, 3, 4, 6)",
        ),
        (
            "echo",
            [{"when": dt.datetime(2024, 1, 2, 3, 4, 5), "ids": {"12": True}}],
            "differs at args[0]['ids']['12']: recorded 1 (int), the call has True "
            "(bool)",
        ),
        (
            "getJobStats",
            [12],
            "no recorded call to WorkloadManagement/JobMonitoring.getJobStats (did "
            "you mean getJobStatus?): the cassette has echo, getJobAttributes, "
            "getJobStatus",
        ),
    ],
    ids=[
        "value",
        "int-vs-str",
        "missing-arg",
        "extra-arg",
        "datetime",
        "bool-vs-int",
        "method",
    ],
)
def test_a_miss_names_the_closest_call_and_what_differs(
    method: str, args: list[Any], message: str
) -> None:
    with pytest.raises(NoMatch) as caught:
        stubs.match(RECORDED, URL, method, args)
    assert message in str(caught.value)


def test_a_miss_on_another_service_lists_the_recorded_services() -> None:
    with pytest.raises(
        NoMatch,
        match="no recorded call to Demo/Jobs: the cassette has "
        "calls to WorkloadManagement/JobMonitoring",
    ):
        stubs.match(RECORDED, "Demo/Jobs", "getJobStatus", [[12, 13]])


def test_the_closest_call_is_the_one_with_most_equal_arguments() -> None:
    recorded = [entry("getJobAttributes", 13, ["Site"]), *RECORDED]
    with pytest.raises(NoMatch) as caught:
        stubs.match(recorded, URL, "getJobAttributes", [12, ["Status"]])
    assert caught.value.closest is recorded[2]
    assert "differs at args[1][1]: recorded 'Site', missing from the call" in str(
        caught.value
    )


# -- replaying against live services -------------------------------------------


@pytest.fixture
def pool(diracsh_demo: DemoService) -> Iterator[stubs.ClientPool]:
    options = {
        "proxyLocation": str(diracsh_demo.pki.proxy),
        "caLocation": str(diracsh_demo.pki.ca_dir),
    }
    made = stubs.ClientPool(options)
    try:
        yield made
    finally:
        made.close()


def test_replay_says_same_and_shows_a_diff_when_different(
    diracsh_demo: DemoService, pool: stubs.ClientPool
) -> None:
    live = diracsh_demo.client().getJobStatus([12, 13])
    good = stubs.entry_from_result(live, 0.01)
    altered = {**live, "Value": {"12": "Done", "13": "Done"}}
    bad = stubs.entry_from_result(altered, 0.01)

    same, different = stubs.replay_cassette([good, bad], pool, diff=True)

    assert (same.state, same.same, same.diff) == ("same", True, "")
    assert same.result == {"OK": True, "Value": {"12": "Running", "13": "Done"}}
    assert different.state == "different"
    assert different.diff.splitlines() == [
        "--- recorded",
        "+++ live",
        "@@ -1 +1 @@",
        "-{'OK': True, 'Value': {'12': 'Done', '13': 'Done'}}",
        "+{'OK': True, 'Value': {'12': 'Running', '13': 'Done'}}",
    ]
    lines = different.lines(with_diff=True)
    assert lines[0].startswith("different  Demo/Jobs.getJobStatus([12, 13])  (")
    assert lines[-1] == "    +{'OK': True, 'Value': {'12': 'Running', '13': 'Done'}}"
    assert stubs.summary([same, different]) == (
        "2 calls replayed: 1 same, 1 different, 0 not run"
    )


def test_replay_takes_no_security_option_from_the_file(
    diracsh_demo: DemoService, pool: stubs.ClientPool
) -> None:
    hostile = {
        "proxyLocation": str(diracsh_demo.pki.admin_proxy),
        "skipCACheck": True,
        "useCertificates": True,
        "delegatedDN": "/O=evil/CN=someone",
        "delegatedGroup": "admins",
        "extraCredentials": "hosts",
        "caLocation": "/nonexistent",
        "timeout": 30,
        "VO": "demo",
    }
    recorded = stubs.make_entry(
        ((diracsh_demo.url(), hostile), "whoami", []), {"OK": True, "Value": {}}, 0.1
    )

    outcome = stubs.replay_entry(recorded, pool)

    assert outcome.result is not None
    assert outcome.result["Value"]["DN"] == diracsh_demo.pki.user_dn
    used = pool(recorded).executeRPC("ping")["rpcStub"][0][1]
    assert used == {
        "timeout": 30,
        "VO": "demo",
        "proxyLocation": str(diracsh_demo.pki.proxy),
        "caLocation": str(diracsh_demo.pki.ca_dir),
        "useAccessToken": False,
    }


def test_replay_to_another_server_keeps_the_service_path(
    diracsh_demo: DemoService, pool: stubs.ClientPool
) -> None:
    moved = stubs.make_entry(
        (("https://elsewhere.example.org:1/Demo/Jobs", {}), "getJobStatus", [12]),
        {"OK": True, "Value": {"12": "Running"}},
        0.1,
    )
    pool.server = f"https://127.0.0.1:{diracsh_demo.server.port}"

    assert pool.url(moved) == diracsh_demo.url("Demo/Jobs")
    assert stubs.replay_entry(moved, pool).state == "same"


def test_replay_with_connected_clients_skips_other_services(
    diracsh_demo: DemoService,
) -> None:
    summary = stubs.entry_from_result(diracsh_demo.client().getJobSummary(), 0.1)
    clients = {"Demo/Jobs": diracsh_demo.client()}

    outcomes = stubs.replay_cassette([entry("getJobStatus", 12), summary], clients)

    assert [o.state for o in outcomes] == ["not run", "same"]
    assert outcomes[0].lines() == [
        "not run    WorkloadManagement/JobMonitoring.getJobStatus(12): not connected "
        "to WorkloadManagement/JobMonitoring: .connect its URL first"
    ]
