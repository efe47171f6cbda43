"""The proof that the kit speaks DIRAC: DIRAC 9.1.22's own TornadoClient calls the demo.

DIRAC runs in its own virtualenv (scripts/dirac-reference), configured only
through the environment a DIRAC user would set: X509_CERT_DIR and
X509_USER_PROXY pointing at the files ``diracsh serve --demo`` prints.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from diracsh.testing import DemoService


def _env(demo: DemoService, proxy: Path | None = None) -> dict[str, str | None]:
    return {
        "X509_CERT_DIR": str(demo.pki.ca_dir),
        "X509_USER_PROXY": str(proxy or demo.pki.proxy),
    }


def test_dirac_ping(dirac_ref: Any, diracsh_demo: DemoService) -> None:
    result = dirac_ref.call(diracsh_demo.url(), "ping", env=_env(diracsh_demo))
    assert result["OK"] is True
    value = result["Value"]
    assert value["name"] == "Demo/Jobs"
    assert value["URL"] == diracsh_demo.url()
    assert isinstance(value["time"], dt.datetime)
    assert set(value["cpu times"]) == {
        "user time",
        "system time",
        "children user time",
        "children system time",
        "elapsed real time",
    }
    stub = result["rpcStub"]
    assert stub[0][0] == diracsh_demo.url() and stub[1:] == ("ping", [])


def test_dirac_echo_with_datetime_and_bytes(
    dirac_ref: Any, diracsh_demo: DemoService
) -> None:
    value = {
        "a": [1, 2.5],
        "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        "raw": b"\x89PNG\r\n\x1a\n\x00\xff",
        12: ("x", None),
    }
    result = dirac_ref.call(diracsh_demo.url(), "echo", value, env=_env(diracsh_demo))
    assert result["Value"] == {
        "a": [1, 2.5],
        "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        "raw": b"\x89PNG\r\n\x1a\n\x00\xff",
        "12": ["x", None],
    }


def test_dirac_whoami_with_proxy(dirac_ref: Any, diracsh_demo: DemoService) -> None:
    value = dirac_ref.call(diracsh_demo.url(), "whoami", env=_env(diracsh_demo))[
        "Value"
    ]
    assert value["DN"] == diracsh_demo.pki.user_dn
    assert value["isProxy"] is True
    assert value["username"] == "demo"
    assert value["group"] == "demo_user"


def test_dirac_unknown_method_is_errno_38(
    dirac_ref: Any, diracsh_demo: DemoService
) -> None:
    result = dirac_ref.call(diracsh_demo.url(), "noSuchMethod", env=_env(diracsh_demo))
    assert (result["OK"], result["Errno"]) == (False, 38)
    assert (
        result["Message"]
        == "Function not implemented ( 38 : noSuchMethod is not implemented)"
    )


def test_dirac_refused_method_is_errno_13(
    dirac_ref: Any, diracsh_demo: DemoService
) -> None:
    result = dirac_ref.call(diracsh_demo.url(), "resetJobs", env=_env(diracsh_demo))
    assert (result["OK"], result["Errno"]) == (False, 13)
    assert (
        result["Message"]
        == f"Permission denied ( 13 : No access to {diracsh_demo.url()})"
    )


def test_dirac_job_ids_arrive_as_string_keys(
    dirac_ref: Any, diracsh_demo: DemoService
) -> None:
    result = dirac_ref.call(
        diracsh_demo.url(), "getJobStatus", [12, 13], env=_env(diracsh_demo)
    )
    assert result["Value"] == {"12": "Running", "13": "Done"}


def test_dirac_receive_file(
    dirac_ref: Any, diracsh_demo: DemoService, tmp_path: Path
) -> None:
    dest = tmp_path / "std.out"
    result = dirac_ref.receive_file(
        diracsh_demo.url("Demo/Files"), dest, "std.out", env=_env(diracsh_demo)
    )
    assert result["OK"] is True
    assert dest.read_bytes().startswith(b"line 1: demo job output\nline 2:")
    assert dest.stat().st_size == 5092


def test_dirac_send_file(
    dirac_ref: Any, diracsh_demo: DemoService, tmp_path: Path
) -> None:
    source = tmp_path / "sandbox.tar"
    source.write_bytes(b"\x00\x01payload\xff" * 100)
    result = dirac_ref.send_file(
        diracsh_demo.url("Demo/Files"), source, "dirac-upload", env=_env(diracsh_demo)
    )
    assert result["Value"] == "SB:DemoSE|/demo/dirac-upload"
    back = diracsh_demo.client("Demo/Files").getFileBytes("dirac-upload")
    assert back["Value"] == source.read_bytes()


@pytest.mark.parametrize("method", ["ping", "getJobSummary", "getJobLoggingInfo"])
def test_dirac_and_diracsh_clients_get_the_same_result(
    dirac_ref: Any, diracsh_demo: DemoService, method: str
) -> None:
    args = (12,) if method == "getJobLoggingInfo" else ()
    theirs = dirac_ref.call(diracsh_demo.url(), method, *args, env=_env(diracsh_demo))
    ours = diracsh_demo.client().executeRPC(method, *args)
    if method == "ping":  # times and load move between the two calls
        assert set(theirs["Value"]) == set(ours["Value"])
    else:
        assert theirs["Value"] == ours["Value"]
