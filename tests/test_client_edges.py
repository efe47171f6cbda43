"""A remote call never raises, credentials are found where DIRAC looks, one log line.

Each case here once escaped ``executeRPC`` as an exception, or went unchecked.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diracsh import TornadoClient
from diracsh.client.credentials import find_credential, find_token
from diracsh.server import Server
from tests.kit import KitPKI


def _client(server: Server, pki: KitPKI, **kw: Any) -> TornadoClient:
    options: dict[str, Any] = {
        "proxyLocation": str(pki.proxy),
        "caLocation": str(pki.ca_dir),
        **kw,
    }
    return TornadoClient(server.url("Demo/Jobs"), **options)


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("DIRAC_HTTPS_SSL_METHOD_MIN", "TLSv9", "'TLSv9' is not a TLS version"),
        ("DIRAC_HTTPS_SSL_METHOD_MAX", "tls1.3", "use one of"),
        ("DIRAC_HTTPS_SSL_CIPHERS", "NO-SUCH-CIPHER", "selects no cipher"),
    ],
)
def test_bad_tls_settings_in_the_environment_are_an_s_error(
    server: Server,
    pki: KitPKI,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    fragment: str,
) -> None:
    monkeypatch.setenv(variable, value)
    result = _client(server, pki).ping()
    assert result["OK"] is False
    assert variable in result["Message"] and fragment in result["Message"]


def test_good_tls_settings_from_the_environment_are_used(
    server: Server, pki: KitPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIRAC_HTTPS_SSL_METHOD_MIN", "TLSv1_3")
    assert _client(server, pki).ping()["OK"] is True
    monkeypatch.setenv("DIRAC_HTTPS_SSL_METHOD_MAX", "TLSv1_2")  # min > max
    assert _client(server, pki).ping()["OK"] is False


@pytest.mark.parametrize("token", ["abc\ndef", "tok€n", "with space"])
def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(
    server: Server, pki: KitPKI, token: str
) -> None:
    result = _client(server, pki, proxyLocation=None, accessToken=token).ping()
    assert result["OK"] is False
    assert "bearer token holds characters no token has" in result["Message"]
    assert token not in result["Message"]


def test_sending_a_value_nested_too_deeply_is_refused(
    server: Server, pki: KitPKI
) -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    result = _client(server, pki).echo(deep)
    assert result["OK"] is False
    assert "nothing sent" in result["Message"]


@pytest.mark.parametrize(
    ("proxy", "fragment"),
    [("expired_proxy", "the proxy string expired at"), ("small_proxy", "1024-bit")],
)
def test_a_proxy_string_is_checked_like_a_proxy_file(
    server: Server, pki: KitPKI, proxy: str, fragment: str
) -> None:
    text = Path(getattr(pki, proxy)).read_text()
    result = _client(server, pki, proxyLocation=None, proxyString=text).ping()
    assert result["OK"] is False
    assert fragment in result["Message"]
    assert "PRIVATE KEY" not in result["Message"]


def test_a_proxy_string_works(server: Server, pki: KitPKI) -> None:
    text = pki.proxy.read_text()
    result = _client(server, pki, proxyLocation=None, proxyString=text).whoami()
    assert result["Value"]["DN"] == pki.user_dn
    assert "proxyString" not in result["rpcStub"][0][1]


# -- where credentials are found ----------------------------------------------


@pytest.fixture
def uid_file(request: pytest.FixtureRequest) -> Iterator[Path]:
    """``/tmp/<prefix><uid>``, made by the test and removed after; skipped if taken."""
    path = Path(f"/tmp/{request.param}{os.getuid()}")
    if path.exists():
        pytest.skip(f"{path} exists on this machine; not touching it")
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.parametrize("uid_file", ["bt_u"], indirect=True)
def test_token_discovery_follows_the_wlcg_order(tmp_path: Path, uid_file: Path) -> None:
    token_file = tmp_path / "token-file"
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    token_file.write_text("from-file\n")
    (runtime / f"bt_u{os.getuid()}").write_text("from-runtime-dir")
    uid_file.write_text('{"access_token": "from-tmp", "refresh_token": "r"}')
    env = {
        "BEARER_TOKEN": "from-env",
        "BEARER_TOKEN_FILE": str(token_file),
        "XDG_RUNTIME_DIR": str(runtime),
    }
    assert find_token(env) == "from-env"
    del env["BEARER_TOKEN"]
    assert find_token(env) == "from-file"
    del env["BEARER_TOKEN_FILE"]
    assert find_token(env) == "from-runtime-dir"
    del env["XDG_RUNTIME_DIR"]
    assert find_token(env) == "from-tmp"  # DIRAC's JSON token dict
    uid_file.unlink()
    assert find_token(env) is None


@pytest.mark.parametrize("uid_file", ["x509up_u"], indirect=True)
def test_the_default_proxy_is_tmp_x509up_u_uid(
    server: Server, pki: KitPKI, uid_file: Path
) -> None:
    with pytest.raises(Exception, match="No proxy found"):
        find_credential({}, env={})
    uid_file.write_bytes(pki.proxy.read_bytes())
    uid_file.chmod(0o600)
    assert find_credential({}, env={}).cert == uid_file
    c = TornadoClient(server.url("Demo/Jobs"), caLocation=str(pki.ca_dir))
    assert c.whoami()["Value"]["DN"] == pki.user_dn


def test_environment_proxy_wins_over_the_default(pki: KitPKI, tmp_path: Path) -> None:
    env = {"X509_USER_PROXY": str(pki.proxy)}
    assert find_credential({}, env=env).cert == pki.proxy
    explicit = find_credential({"proxyLocation": str(tmp_path / "p")}, env=env)
    assert explicit.cert == tmp_path / "p"


# -- one INFO line per call -----------------------------------------------------


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "diracsh" and r.levelno == logging.INFO
    ]


def test_one_log_line_per_call_even_after_failover(
    server: Server, pki: KitPKI, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{sock.getsockname()[1]}/Demo/Jobs"
    live = server.url("Demo/Jobs")
    c = TornadoClient(
        f"{dead},{live}", proxyLocation=str(pki.proxy), caLocation=str(pki.ca_dir)
    )
    with caplog.at_level("INFO", logger="diracsh"):
        assert c.ping()["OK"] is True
    [line] = _log_lines(caplog)
    assert line.startswith(f"ping {live} -> 200 OK (")


def test_calls_stopped_before_sending_are_logged_too(
    server: Server, pki: KitPKI, caplog: pytest.LogCaptureFixture
) -> None:
    c = _client(server, pki)
    url = server.url("Demo/Jobs")
    with caplog.at_level("INFO", logger="diracsh"):
        assert c.echo({1, 2})["OK"] is False
        assert c.echo(value=1)["OK"] is False
        assert TornadoClient("ftp://x/Y/Z").ping()["OK"] is False
    assert _log_lines(caplog) == [
        f"echo {url} -> not sent ERROR",
        f"echo {url} -> not sent ERROR",
        "ping ftp://x/Y/Z -> not sent ERROR",
    ]
