"""A remote call never raises, credentials are found where DIRAC looks, one log line.

Each case here once escaped ``executeRPC`` as an exception, or went unchecked.
"""

from __future__ import annotations

import io
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diracsh import TornadoClient, executeRPCStub
from diracsh.client.credentials import CredentialError, find_credential, find_token
from diracsh.client.identity import dn_string, identity_of
from diracsh.server import Server
from diracsh.server.pki import make_ca, write_ca_dir
from tests.kit import PASSPHRASE, KitPKI, build_pki, http_response, raw_server


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


def test_an_int_json_cannot_carry_is_refused_both_ways(pki: KitPKI) -> None:
    huge = b'{"OK": true, "Value": ' + b"9" * 5000 + b"}"
    answer = http_response("200 OK", huge, "application/json")
    with raw_server(pki, lambda request: answer) as base:
        c = TornadoClient(
            f"{base}/Demo/Jobs",
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        )
        sent = c.echo(10**5000)
        answered = c.ping()
    assert "nothing sent" in sent["Message"] and "4300 digits" in sent["Message"]
    assert answered["OK"] is False
    assert "answer is not JSON" in answered["Message"]
    assert "4300 digits" in answered["Message"]


@pytest.mark.parametrize("method", [123, None, ""])
def test_a_method_name_that_is_not_a_string_is_an_s_error(
    server: Server, pki: KitPKI, method: Any
) -> None:
    result = _client(server, pki).executeRPC(method)
    assert result["OK"] is False
    assert "the method name must be a non-empty str" in result["Message"]


def test_unencodable_extra_credentials_are_an_s_error(
    server: Server, pki: KitPKI
) -> None:
    result = _client(server, pki, extraCredentials={"a", "b"}).ping()
    assert result["OK"] is False
    assert "extraCredentials cannot be sent" in result["Message"]
    assert "is a set" in result["Message"]


def _encrypted_key_client(server: Server, pki: KitPKI, **kw: Any) -> TornadoClient:
    return _client(
        server,
        pki,
        proxyLocation=None,
        certFile=str(pki.user_cert),
        keyFile=str(pki.encrypted_key),
        **kw,
    )


def test_an_encrypted_key_without_a_callback_is_named_openssl_never_asks(
    server: Server, pki: KitPKI
) -> None:
    # Without the callback OpenSSL would prompt on the terminal itself.
    result = _encrypted_key_client(server, pki).ping()
    assert result["Message"] == (
        f"the key {pki.encrypted_key} is encrypted and no passphrase callback was given"
    )


@pytest.mark.parametrize(
    ("callback", "fragment"),
    [
        (lambda prompt: 1 / 0, "callback for {key} failed: ZeroDivisionError"),
        (lambda prompt: None, "callback for {key} returned a NoneType, not a str"),
    ],
    ids=["raises", "returns-none"],
)
def test_a_failing_passphrase_callback_is_an_s_error(
    server: Server, pki: KitPKI, callback: Any, fragment: str
) -> None:
    result = _encrypted_key_client(server, pki, passwordCallback=callback).ping()
    assert result["OK"] is False
    assert fragment.format(key=pki.encrypted_key) in result["Message"]


def test_skip_ca_check_connects_without_the_ca_and_says_so_in_the_log(
    server: Server, pki: KitPKI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = build_pki(tmp_path / "stranger")  # a CA that signed nothing here
    verified = _client(server, pki, caLocation=str(stranger.ca_dir)).ping()
    assert "not signed by a trusted CA" in verified["Message"]
    # pytest turns warnings into errors: urllib3's own warning must not escape.
    with caplog.at_level("WARNING", logger="diracsh"):
        c = _client(server, pki, caLocation=str(stranger.ca_dir), skipCACheck=True)
        assert c.whoami()["Value"]["DN"] == pki.user_dn
        assert c.ping()["OK"] is True
    warned = [
        r.getMessage()
        for r in caplog.records
        if r.name == "diracsh" and r.levelno == logging.WARNING
    ]
    assert warned == [f"server certificate NOT verified for {server.url('Demo/Jobs')}"]


def test_a_slow_answer_is_a_timeout_s_error_and_the_url_stays_in_use(
    server: Server, pki: KitPKI
) -> None:
    c = _client(server, pki, timeout=0.5)
    result = c.waitForJob(12, 3)
    url = server.url("Demo/Jobs")
    assert result["Message"] == (
        f"no answer from {url} within 0.5 s: raise the timeout (timeout=..., "
        "--timeout) if the service is slow"
    )
    assert c._transport._banned == set()  # the call may still be running there
    assert c.ping()["OK"] is True


def test_calls_of_one_client_share_one_tls_connection(
    server: Server, pki: KitPKI
) -> None:
    c = _client(server, pki)
    for _ in range(3):
        assert c.ping()["OK"] is True
    session = c._transport._session
    assert session is not None
    url = server.url("Demo/Jobs")
    pools = session.get_adapter(url).poolmanager.pools
    [pool] = [pools[key] for key in pools.keys()]
    assert (pool.num_connections, pool.num_requests) == (1, 3)


# -- where servers are verified -------------------------------------------------


@pytest.mark.parametrize("where", ["X509_CERT_DIR", "ca-file", "grid-default"])
def test_server_ca_from_the_environment_a_file_or_the_grid_directory(
    server: Server,
    pki: KitPKI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    options: dict[str, Any] = {"proxyLocation": str(pki.proxy)}
    if where == "X509_CERT_DIR":
        monkeypatch.setenv("X509_CERT_DIR", str(pki.ca_dir))
    elif where == "ca-file":
        ca_file = tmp_path / "ca.pem"
        ca_file.write_bytes(pki.ca.cert_pem())
        options["caLocation"] = str(ca_file)
    else:  # /etc/grid-security/certificates, pointed at the test CAs
        monkeypatch.setattr("diracsh.client.credentials.GRID_CA_DIR", pki.ca_dir)
    c = TornadoClient(server.url("Demo/Jobs"), **options)
    assert c.whoami()["Value"]["DN"] == pki.user_dn


def test_a_ca_directory_with_links_names_rehash_when_a_ca_file_is_unlinked(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    mixed = write_ca_dir(tmp_path / "mixed", [make_ca("another CA")])  # linked
    (mixed / "ExampleCA.pem").write_bytes(pki.ca.cert_pem())  # ours, no link
    result = _client(server, pki, caLocation=str(mixed)).ping()
    assert "not signed by a trusted CA" in result["Message"]
    assert "openssl rehash DIR" in result["Message"]


# -- files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "fragments"),
    [
        (
            http_response(
                "500 Internal Server Error", b"<html>boom</html>", "text/html"
            ),
            ["HTTP 500", "text/html", "boom"],
        ),
        (
            http_response("404 Not Found", b"<html>gone</html>", "text/html"),
            ["HTTP 404", "text/html", "gone"],
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n5\r\n12345\r\n",
            ["cut short: short read of 5 bytes", "connection ended early"],
        ),
        (
            http_response("200 OK", b"12345", "application/octet-stream", length=20),
            ["cut short: short read of 5 of 20 bytes"],
        ),
    ],
    ids=["500-html", "404-html", "chunked-cut", "short-content-length"],
)
def test_a_failed_download_leaves_the_destination_as_it_was(
    pki: KitPKI, tmp_path: Path, answer: bytes, fragments: list[str]
) -> None:
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"old content")
    with raw_server(pki, lambda request: answer) as base:
        result = TornadoClient(
            f"{base}/Demo/Files",
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        ).receiveFile(str(dest), "std.out")
    assert result["OK"] is False
    for fragment in fragments:
        assert fragment in result["Message"]
    assert dest.read_bytes() == b"old content"
    assert list(tmp_path.iterdir()) == [dest]


# -- stubs ------------------------------------------------------------------------


def test_a_stub_replays_as_tuples_and_as_lists(server: Server, pki: KitPKI) -> None:
    original = _client(server, pki).getJobStatus([12, 13])
    stub = original["rpcStub"]
    assert isinstance(stub, tuple) and isinstance(stub[0], tuple)
    as_lists = [[stub[0][0], stub[0][1]], stub[1], list(stub[2])]
    for replayable in (stub, as_lists):
        replayed = executeRPCStub(replayable)
        assert replayed["Value"] == original["Value"] == {"12": "Running", "13": "Done"}
        assert replayed["rpcStub"] == stub


@pytest.mark.parametrize(
    ("stub", "fragment"),
    [
        ((("dips://h:9130/Framework/Notification", {}), "ping", []), "DISET (dips://)"),
        ((("https://h/A/B", {1: 2}), "ping", []), "not a dict of names"),
        ((("https://h/A/B", [["x", 1]]), "ping", []), "not a dict of names"),
        ((("https://h/A/B", {}), "ping", "abc"), "arguments are not a list"),
        (("https://h/A/B", "ping", []), "not a stub"),
        ((("https://h/A/B", {}), 7, []), "must be strings"),
    ],
    ids=["dips", "int-keyword", "keywords-list", "args-string", "flat", "int-method"],
)
def test_a_stub_that_cannot_be_replayed_is_an_s_error(stub: Any, fragment: str) -> None:
    result = executeRPCStub(stub)
    assert result["OK"] is False
    assert fragment in result["Message"]


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


def test_a_proxy_string_as_bytes_works(server: Server, pki: KitPKI) -> None:
    data = pki.proxy.read_bytes()
    result = _client(server, pki, proxyLocation=None, proxyString=data).whoami()
    assert result["Value"]["DN"] == pki.user_dn


@pytest.mark.parametrize(
    ("options", "given"),
    [
        ({"accessToken": "a-test-token-1234"}, "a proxy and a token"),
        ({"useAccessToken": True}, "a proxy and a token"),
        ({"proxyString": "x"}, "a proxy and a proxy string"),
    ],
    ids=["token", "use-token", "proxy-string"],
)
def test_two_credentials_are_refused_not_one_silently_used(
    server: Server, pki: KitPKI, options: dict[str, Any], given: str
) -> None:
    result = _client(server, pki, **options).ping()  # with proxyLocation
    assert (
        result["Message"] == f"Cannot make a client: give one credential, not {given}"
    )


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


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(None, "cannot be read (No such file or directory)"), ("\n", "is empty")],
    ids=["missing", "empty"],
)
def test_a_token_file_named_but_unusable_is_an_error_not_a_fallback(
    tmp_path: Path, content: str | None, fragment: str
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / f"bt_u{os.getuid()}").write_text("another-token")
    env = {"BEARER_TOKEN_FILE": str(token_file), "XDG_RUNTIME_DIR": str(runtime)}
    with pytest.raises(CredentialError) as refused:
        find_token(env)
    assert str(refused.value).startswith(f"BEARER_TOKEN_FILE={token_file} ")
    assert fragment in str(refused.value)
    with pytest.raises(CredentialError, match="BEARER_TOKEN_FILE"):
        find_credential({"useAccessToken": True}, env=env)


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


# -- who a credential is ------------------------------------------------------


def test_identity_of_each_credential_kind(pki: KitPKI) -> None:
    ca_dn = dn_string(pki.ca.cert.subject)
    proxy = identity_of(pki.proxy)
    assert (proxy.dn, proxy.issuer, proxy.is_proxy) == (pki.user_dn, pki.user_dn, True)
    assert proxy.subject.startswith(pki.user_dn + "/CN=")
    assert 11 * 3600 < proxy.seconds_left <= 12 * 3600
    user = identity_of(pki.user_cert)
    assert (user.dn, user.issuer, user.is_proxy) == (pki.user_dn, ca_dn, False)
    assert user.seconds_left > proxy.seconds_left
    assert identity_of(pki.client_host_cert).dn == pki.client_host_dn
    assert identity_of(pki.expired_proxy).seconds_left == 0
    assert identity_of(pki.small_proxy).key_bits == 1024
    with pytest.raises(CredentialError, match="holds no PEM certificate"):
        identity_of(pki.user_key)


# -- more ways a call could have raised -------------------------------------------


def test_a_proxy_string_with_an_encrypted_key_asks_the_callback_not_openssl(
    server: Server, pki: KitPKI
) -> None:
    text = pki.user_cert.read_text() + pki.encrypted_key.read_text()
    without = _client(server, pki, proxyLocation=None, proxyString=text).ping()
    assert without["Message"] == (
        "the key in the proxy string is encrypted and no passphrase callback was given"
    )
    asked: list[str] = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        return PASSPHRASE

    with_it = _client(
        server, pki, proxyLocation=None, proxyString=text, passwordCallback=answer
    ).whoami()
    assert with_it["Value"]["DN"] == pki.user_dn
    assert asked == ["Passphrase for the proxy string's key: "]


@pytest.mark.parametrize(
    "options",
    [
        {"proxyLocation": 5},
        {"caLocation": 5},
        {"proxyLocation": None, "proxyChain": object()},
    ],
    ids=["proxyLocation-int", "caLocation-int", "proxyChain-object"],
)
def test_credential_options_of_the_wrong_type_are_an_s_error(
    server: Server, pki: KitPKI, options: dict[str, Any]
) -> None:
    result = _client(server, pki, **options).ping()
    assert result["OK"] is False
    assert result["Message"].startswith("cannot set up the client's credentials: ")


@pytest.mark.parametrize(
    "answer",
    [
        http_response("500 Internal Server Error", b"<html>abc", "text/html", 100),
        http_response("200 OK", b'{"OK": tr', "application/json", 100),
    ],
    ids=["500-html", "200-json"],
)
@pytest.mark.parametrize("download", [False, True], ids=["call", "receiveFile"])
def test_an_answer_cut_short_is_an_s_error_with_its_status(
    pki: KitPKI, tmp_path: Path, answer: bytes, download: bool
) -> None:
    status = answer.split(b"\r\n", 1)[0].decode().split(" ", 1)[1]
    content_type = "text/html" if b"html" in answer else "application/json"
    dest = tmp_path / "out.bin"
    with raw_server(pki, lambda request: answer) as base:
        client = TornadoClient(
            f"{base}/Demo/Files",
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        )
        result = client.receiveFile(str(dest), "x") if download else client.ping()
    assert result["OK"] is False
    assert "answer cut short" in result["Message"]
    assert f"HTTP {status}, {content_type}" in result["Message"]
    assert list(tmp_path.iterdir()) == []


def test_a_download_into_a_closed_file_is_an_s_error(
    server: Server, pki: KitPKI
) -> None:
    sink = io.BytesIO()
    sink.close()
    client = TornadoClient(
        server.url("Demo/Files"),
        proxyLocation=str(pki.proxy),
        caLocation=str(pki.ca_dir),
    )
    result = client.receiveFile(sink, 12)
    assert result["OK"] is False
    assert "cannot write it: I/O operation on closed file" in result["Message"]


def test_delegation_without_a_group_is_refused_before_sending(
    server: Server, pki: KitPKI
) -> None:
    result = _client(server, pki, delegatedDN="/O=x/CN=y").ping()
    assert result["OK"] is False
    assert result["Message"] == (
        "delegatedDN needs a delegatedGroup too: name the DIRAC group to act as"
    )


def test_the_last_status_is_each_threads_own(server: Server, pki: KitPKI) -> None:
    client = _client(server, pki)
    assert client.ping()["OK"] is True
    seen: list[str] = []
    other = threading.Thread(target=lambda: seen.append(client._last_status()))
    other.start()
    other.join()
    assert (client._last_status(), seen) == ("200", [""])
