"""TornadoClient against a real kit server over HTTPS, and odd wire cases."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diracsh import TornadoClient, executeRPCStub
from diracsh.client.transport import form_encode
from diracsh.server import Server
from tests.kit import (
    PASSPHRASE,
    TOKEN,
    KitPKI,
    build_pki,
    http_response,
    kit_server,
    raw_server,
)


def client(
    server: Server, pki: KitPKI, service: str = "Demo/Jobs", **kw: Any
) -> TornadoClient:
    options: dict[str, Any] = {
        "proxyLocation": str(pki.proxy),
        "caLocation": str(pki.ca_dir),
    }
    options.update(kw)
    return TornadoClient(server.url(service), **options)


def test_echo_carries_datetimes_bytes_and_int_keys(server: Server, pki: KitPKI) -> None:
    value = {
        "a": [1, 2.5],
        "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        "raw": b"\x00\xff",
        1234: "Done",
        "t": (1, 2),
    }
    result = client(server, pki).echo(value)
    assert result["OK"] is True
    assert result["Value"] == {
        "a": [1, 2.5],
        "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        "raw": b"\x00\xff",
        "1234": "Done",
        "t": [1, 2],
    }


def test_png_bytes_round_trip_exactly(server: Server, pki: KitPKI) -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\xff"
    assert client(server, pki).echo(data)["Value"] == data


def test_ping_has_dirac_keys(server: Server, pki: KitPKI) -> None:
    value = client(server, pki).ping()["Value"]
    # Exactly the keys of DIRAC 9's TornadoService.export_ping, which adds the
    # uptime and load only where /proc has them.
    on_proc = {"host uptime", "load"} if Path("/proc/loadavg").exists() else set()
    assert set(value) == {
        "version",
        "time",
        "service start time",
        "service uptime",
        "name",
        "URL",
        "cpu times",
        *on_proc,
    }
    assert value["name"] == "Demo/Jobs"
    assert value["URL"] == server.url("Demo/Jobs")
    assert len(value["cpu times"]) == 5
    assert isinstance(value["time"], dt.datetime)


def test_whoami_with_proxy_names_the_user_under_it(server: Server, pki: KitPKI) -> None:
    value = client(server, pki).whoami()["Value"]
    assert value["DN"] == pki.user_dn
    assert value["isProxy"] is True
    assert value["issuer"] == pki.user_dn
    assert value["username"] == "tester"
    assert 11 * 3600 < value["secondsLeft"] <= 12 * 3600


def test_whoami_with_user_cert_and_key(server: Server, pki: KitPKI) -> None:
    c = client(
        server,
        pki,
        proxyLocation=None,
        certFile=str(pki.user_cert),
        keyFile=str(pki.user_key),
    )
    value = c.whoami()["Value"]
    assert (value["DN"], value["isProxy"]) == (pki.user_dn, False)


def test_encrypted_key_asks_for_the_passphrase_once(
    server: Server, pki: KitPKI
) -> None:
    asked: list[str] = []

    def passphrase(prompt: str) -> str:
        asked.append(prompt)
        return PASSPHRASE

    c = client(
        server,
        pki,
        proxyLocation=None,
        certFile=str(pki.user_cert),
        keyFile=str(pki.encrypted_key),
        passwordCallback=passphrase,
    )
    assert c.whoami()["Value"]["DN"] == pki.user_dn
    assert c.ping()["OK"] is True
    assert asked == [f"Passphrase for {pki.encrypted_key}: "]


def test_wrong_passphrase_is_named(server: Server, pki: KitPKI) -> None:
    c = client(
        server,
        pki,
        proxyLocation=None,
        certFile=str(pki.user_cert),
        keyFile=str(pki.encrypted_key),
        passwordCallback=lambda prompt: "wrong",
    )
    result = c.ping()
    assert result["OK"] is False
    assert "wrong passphrase" in result["Message"]


def test_host_certificate_sends_hosts_extra_credentials(
    pki: KitPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIRAC_X509_HOST_CERT", str(pki.client_host_cert))
    monkeypatch.setenv("DIRAC_X509_HOST_KEY", str(pki.client_host_key))
    seen: list[bytes] = []

    def respond(request: bytes) -> bytes:
        seen.append(request)
        return http_response("200 OK", b'{"OK": true, "Value": 1}', "application/json")

    with raw_server(pki, respond) as base:
        c = TornadoClient(
            f"{base}/Demo/Jobs", useCertificates=True, caLocation=str(pki.ca_dir)
        )
        assert c.ping()["Value"] == 1
    form = parse_qs(seen[0].split(b"\r\n\r\n", 1)[1].decode())
    assert form["extraCredentials"] == ['"hosts"']
    assert "useCertificates" not in c.ping()["rpcStub"][0][1]


def test_host_certificate_identity_on_the_kit(
    server: Server, pki: KitPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIRAC_X509_HOST_CERT", str(pki.client_host_cert))
    monkeypatch.setenv("DIRAC_X509_HOST_KEY", str(pki.client_host_key))
    c = client(server, pki, proxyLocation=None, useCertificates=True)
    assert c.whoami()["Value"]["DN"] == pki.client_host_dn


def test_bearer_token_from_token_file(
    server: Server, pki: KitPKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "bt"
    token_file.write_text(TOKEN + "\n")
    monkeypatch.setenv("BEARER_TOKEN_FILE", str(token_file))
    c = client(server, pki, proxyLocation=None, useAccessToken=True)
    result = c.whoami()
    assert result["Value"]["DN"] == "/O=DIRAC/CN=token-user"
    assert TOKEN not in json.dumps(result["rpcStub"], default=str)


def test_unknown_token_is_refused_with_eacces(server: Server, pki: KitPKI) -> None:
    result = client(server, pki, proxyLocation=None, accessToken="not-a-token").ping()
    assert (result["OK"], result["Errno"]) == (False, 13)
    assert (
        result["Message"]
        == f"Permission denied ( 13 : No access to {server.url('Demo/Jobs')})"
    )


def test_unknown_method_is_enosys(server: Server, pki: KitPKI) -> None:
    result = client(server, pki).nosuchMethod()
    assert result["Errno"] == 38
    assert (
        result["Message"]
        == "Function not implemented ( 38 : nosuchMethod is not implemented)"
    )


def test_method_reserved_for_admins(pki: KitPKI) -> None:
    with kit_server(pki) as own:  # resetJobs empties the job list
        assert client(own, pki).resetJobs()["Errno"] == 13
        assert (
            client(own, pki, proxyLocation=str(pki.admin_proxy)).resetJobs()["Value"]
            == 8
        )


def test_server_exception_is_an_s_error_with_status_and_type(
    server: Server, pki: KitPKI
) -> None:
    result = client(server, pki).getSiteMask()
    assert result["OK"] is False
    assert "HTTP 500" in result["Message"]
    assert "text/html" in result["Message"]
    assert "unreachable" not in result["Message"]  # no traceback leaks to the client


def test_method_named_like_client_attributes_goes_to_the_server(
    server: Server, pki: KitPKI
) -> None:
    c = client(server, pki)
    # DIRAC's client has these as attributes; diracsh keeps its state private.
    for name in ("timeout", "kwargs", "vo", "serviceURL"):
        result = getattr(c, name)()
        assert result["Message"].endswith(f"{name} is not implemented)")


def test_keyword_arguments_are_refused(server: Server, pki: KitPKI) -> None:
    result = client(server, pki).getJobStatus(jobIDs=12)
    assert result["OK"] is False
    assert "positional only" in result["Message"]


@pytest.mark.parametrize(
    ("argument", "fragment"),
    [({1: "a", "1": "b"}, "keys 1 and '1'"), ({"a", "b"}, "argument 1 is a set")],
    ids=["colliding-keys", "set"],
)
def test_unencodable_argument_is_refused_before_sending(
    pki: KitPKI, argument: Any, fragment: str
) -> None:
    # The port is closed: a message about the argument proves nothing was sent.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = TornadoClient(
        f"https://127.0.0.1:{port}/Demo/Jobs",
        proxyLocation=str(pki.proxy),
        caLocation=str(pki.ca_dir),
    )
    result = c.echo(argument)
    assert fragment in result["Message"]
    assert "nothing sent" in result["Message"]


def test_failover_to_the_next_url_and_ban_the_dead_one(
    server: Server, pki: KitPKI
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"https://127.0.0.1:{sock.getsockname()[1]}/Demo/Jobs"
    c = TornadoClient(
        f"{dead},{server.url('Demo/Jobs')}",
        proxyLocation=str(pki.proxy),
        caLocation=str(pki.ca_dir),
    )
    assert c.getJobStatus(12)["Value"] == {"12": "Running"}
    assert c._transport._banned == {dead}
    assert c.ping()["OK"] is True


def test_connection_refused_says_so(pki: KitPKI) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{sock.getsockname()[1]}/Demo/Jobs"
    result = TornadoClient(
        url, proxyLocation=str(pki.proxy), caLocation=str(pki.ca_dir)
    ).ping()
    assert (
        result["Message"]
        == f"cannot connect to {url}: connection refused (is the service running?)"
    )


@pytest.mark.parametrize(
    ("response", "fragments"),
    [
        (
            http_response(
                "404 Not Found",
                b"<html><title>404: Not Found</title></html>",
                "text/html; charset=UTF-8",
            ),
            ["HTTP 404", "text/html", "404: Not Found"],
        ),
        (http_response("200 OK", b"", "application/json"), ["HTTP 200", "empty body"]),
        (
            http_response("200 OK", b"<html>maintenance</html>", "text/html"),
            ["not JSON", "HTTP 200", "text/html", "maintenance"],
        ),
        (
            http_response(
                "500 Internal Server Error", b"<html>500: boom</html>", "text/html"
            ),
            ["HTTP 500", "text/html", "500: boom"],
        ),
        (http_response("200 OK", b"[1, 2]", "application/json"), ["not a result dict"]),
        (
            http_response(
                "200 OK", b"[" * 100_000 + b"]" * 100_000, "application/json"
            ),
            ["nested too deeply"],
        ),
    ],
    ids=["404-html", "empty-200", "html-200", "500-html", "json-list", "too-deep"],
)
def test_odd_answers_become_s_error_with_status_and_type(
    pki: KitPKI, response: bytes, fragments: list[str]
) -> None:
    with raw_server(pki, lambda request: response) as base:
        result = TornadoClient(
            f"{base}/Demo/Jobs",
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        ).ping()
    assert result["OK"] is False
    for fragment in fragments:
        assert fragment in result["Message"]
    assert "rpcStub" in result


def test_wire_format_is_what_dirac_sends(pki: KitPKI) -> None:
    seen: list[bytes] = []

    def respond(request: bytes) -> bytes:
        seen.append(request)
        return http_response(
            "200 OK", b'{"OK": true, "Value": null}', "application/json"
        )

    with raw_server(pki, respond) as base:
        TornadoClient(
            f"{base}/Demo/Jobs",
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        ).echo("a b")
    head, body = seen[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /Demo/Jobs HTTP/1.1")
    assert b"content-type: application/x-www-form-urlencoded" in head.lower()
    assert body == b"method=echo&args=%5B%22a+b%22%5D&clientVO=unknown&clientSetup=None"


def test_receive_file_streams_into_place(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    dest = tmp_path / "out.txt"
    result = client(server, pki, "Demo/Files").receiveFile(str(dest), "std.out")
    assert result["OK"] is True
    assert dest.read_bytes().startswith(b"line 1: demo job output\n")
    assert result["Value"] == dest.stat().st_size
    assert list(tmp_path.iterdir()) == [dest]


def test_receive_file_writes_through_links_and_into_devices(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    files = client(server, pki, "Demo/Files")
    real = tmp_path / "real.txt"
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert files.receiveFile(str(link), "std.out")["OK"] is True
    assert link.is_symlink()
    assert real.read_bytes().startswith(b"line 1: demo job output\n")
    # A pipe (or a device) stays what it is: a temporary file renamed onto
    # /dev/null once turned it into a regular file for the whole machine.
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read: list[bytes] = []
    reader = threading.Thread(
        target=lambda: read.append(pipe.read_bytes()), daemon=True
    )
    reader.start()
    assert files.receiveFile(os.fsencode(pipe), "std.out")["OK"] is True
    reader.join(timeout=30)
    assert read[0] == real.read_bytes()
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["link.txt", "pipe", "real.txt"]


@pytest.mark.parametrize("mode", ["text", "none"])
def test_receive_file_into_something_not_a_binary_file_is_an_s_error(
    server: Server, pki: KitPKI, tmp_path: Path, mode: str
) -> None:
    with open(tmp_path / "out.txt", "w") as text:
        dest = text if mode == "text" else None
        result = client(server, pki, "Demo/Files").receiveFile(dest, "std.out")
    assert result["OK"] is False
    assert result["Message"].startswith(
        "receiveFile needs a file name or a file object opened for binary writing"
    )


def test_receive_file_error_body_leaves_destination_alone(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    dest = tmp_path / "out.txt"
    dest.write_text("keep me")
    result = client(server, pki, "Demo/Files").receiveFile(str(dest), "missing")
    assert (result["OK"], result["Errno"]) == (False, 2)
    assert dest.read_text() == "keep me"
    assert list(tmp_path.iterdir()) == [dest]


def test_receive_file_short_read_is_an_error_and_leaves_no_file(
    pki: KitPKI, tmp_path: Path
) -> None:
    response = http_response("200 OK", b"12345", "application/octet-stream", length=20)
    dest = tmp_path / "out.bin"
    with raw_server(pki, lambda request: response) as base:
        result = TornadoClient(
            f"{base}/Demo/Files",
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        ).receiveFile(str(dest), "x")
    assert result["OK"] is False
    assert "short read of 5 of 20 bytes" in result["Message"]
    assert list(tmp_path.iterdir()) == []


def test_send_file_then_read_it_back(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(bytes(range(256)) * 10)
    files = client(server, pki, "Demo/Files")
    result = files.sendFile(str(source), "upload.bin")
    assert result["Value"] == "SB:DemoSE|/demo/upload.bin"
    assert result["rpcStub"][1] == "streamFromClient"
    assert files.getFileBytes("upload.bin")["Value"] == source.read_bytes()


def test_a_file_too_big_for_a_dirac_request_is_refused_before_sending(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as sink:
        sink.truncate(76 << 20)  # 76 MiB of zeros: 101.3 MiB once base64-encoded
    result = client(server, pki, "Demo/Files").sendFile(str(source), "big.bin")
    assert result["OK"] is False
    assert result["Message"] == (
        "streamFromClient: not sent, the request would be 101 MiB and DIRAC's "
        "HTTPS services refuse bodies over 100 MiB (a file sent with sendFile or "
        ".put can be about 70 MiB at most)"
    )


def test_stub_saved_as_json_replays_like_the_original(
    server: Server, pki: KitPKI
) -> None:
    original = client(server, pki).getJobAttributes(12, ["Status", "Site"])
    stub = json.loads(json.dumps(original["rpcStub"]))
    assert stub[1:] == ["getJobAttributes", [12, ["Status", "Site"]]]
    replayed = executeRPCStub(stub)
    assert replayed["Value"] == original["Value"]
    assert replayed["rpcStub"][0][1]["proxyLocation"] == str(pki.proxy)


def test_stub_never_holds_proxy_content(server: Server, pki: KitPKI) -> None:
    pem = pki.proxy.read_text()
    result = client(server, pki, proxyLocation=None, proxyString=pem).whoami()
    assert result["Value"]["DN"] == pki.user_dn
    assert "PRIVATE KEY" not in json.dumps(result["rpcStub"], default=str)


def test_dips_stub_is_refused() -> None:
    result = executeRPCStub(
        (("dips://host:9130/Framework/Notification", {}), "ping", [])
    )
    assert result["OK"] is False
    assert "DISET" in result["Message"]


def test_ca_dir_without_hash_links_still_verifies(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    plain = tmp_path / "cas"
    plain.mkdir()
    (plain / "ExampleCA.pem").write_bytes(pki.ca.cert_pem())
    assert client(server, pki, caLocation=str(plain)).ping()["OK"] is True
    (plain / "ExampleCA.r0").write_text("-----BEGIN X509 CRL-----\nnot really\n")
    (plain / "ExampleCA.signing_policy").write_text("access_id_CA X509 '/O=x'\n")
    assert client(server, pki, caLocation=str(plain)).ping()["OK"] is True


def test_ca_dir_without_certificates_says_how_to_fix(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    result = client(server, pki, caLocation=str(tmp_path)).ping()
    assert "holds no CA certificate" in result["Message"]


def test_wrong_ca_is_a_clear_tls_message(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    other = build_pki(tmp_path / "other")
    result = client(server, pki, caLocation=str(other.ca_dir)).ping()
    assert "not signed by a trusted CA" in result["Message"]


def test_small_proxy_is_named_before_connecting(server: Server, pki: KitPKI) -> None:
    result = client(server, pki, proxyLocation=str(pki.small_proxy)).ping()
    assert "1024-bit key" in result["Message"]


def test_expired_proxy_is_named(server: Server, pki: KitPKI) -> None:
    result = client(server, pki, proxyLocation=str(pki.expired_proxy)).ping()
    assert "expired at" in result["Message"]
    assert "dirac-proxy-init" in result["Message"]


def test_a_proxy_not_valid_yet_is_named(server: Server, pki: KitPKI) -> None:
    result = client(server, pki, proxyLocation=str(pki.future_proxy)).ping()
    assert result["Message"].startswith(f"the proxy {pki.future_proxy} is not valid ")
    assert "check this machine's clock" in result["Message"]


def test_server_certificate_without_san_is_named(pki: KitPKI) -> None:
    with kit_server(pki, pki.nosan_cert, pki.nosan_key) as nosan:
        result = client(nosan, pki).ping()
    assert "subjectAltName" in result["Message"]


def test_no_credential_at_all(pki: KitPKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("diracsh.client.credentials._default_proxy", lambda env: None)
    result = TornadoClient(
        "https://127.0.0.1:1/Demo/Jobs", caLocation=str(pki.ca_dir)
    ).ping()
    assert result["Message"].startswith("No proxy found")


def test_service_name_getters(server: Server, pki: KitPKI) -> None:
    c = client(server, pki)
    assert c.getServiceName() == "Demo/Jobs"
    assert c.getDestinationService() == server.url("Demo/Jobs")


def test_bare_name_without_configuration_says_what_to_do() -> None:
    result = TornadoClient("WorkloadManagement/JobMonitoring").ping()
    assert result["OK"] is False
    assert "Cannot get URL for WorkloadManagement/JobMonitoring" in result["Message"]


def test_one_info_line_per_call_and_nothing_printed(
    server: Server,
    pki: KitPKI,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    c = client(server, pki)
    c.ping()  # the first call also sets up TLS
    caplog.clear()
    with caplog.at_level("INFO", logger="diracsh"):
        c.getJobStatus(12)
        c.nosuchMethod()
    lines = [r.getMessage() for r in caplog.records if r.name == "diracsh"]
    assert len(lines) == 2
    assert lines[0].startswith(f"getJobStatus {server.url('Demo/Jobs')} -> 200 OK (")
    assert lines[1].startswith(f"nosuchMethod {server.url('Demo/Jobs')} -> 501 ERROR (")
    assert capsys.readouterr() == ("", "")


@given(
    st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=40), max_size=5)
)
def test_form_body_is_byte_for_byte_urlencode(form: dict[str, str]) -> None:
    assert form_encode(form) == urlencode(form).encode("ascii")


_PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E))


@given(st.dictionaries(_PRINTABLE, _PRINTABLE, max_size=5))
def test_form_body_of_printable_ascii_is_byte_for_byte_urlencode(
    form: dict[str, str],
) -> None:
    # The str.replace path that JEncode text takes: "%" must not be quoted twice.
    assert form_encode(form) == urlencode(form).encode("ascii")


def test_send_file_reports_upload_progress(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    seen: list[tuple[int, int | None]] = []
    files = client(server, pki, "Demo/Files")
    result = files.send_file(
        source, "big.bin", progress=lambda s, t: seen.append((s, t))
    )
    assert result["Value"] == "SB:DemoSE|/demo/big.bin"
    assert result["rpcStub"][1] == "streamFromClient"
    total = seen[-1][1]
    assert total is not None and total > 1024 * 1024  # base64 and form encoding
    assert seen[-1][0] == total
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)
    assert files.getFileBytes("big.bin")["Value"] == source.read_bytes()


def test_whoami_with_a_proxy_of_a_proxy_names_the_user(
    server: Server, pki: KitPKI, tmp_path: Path
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from diracsh.server.pki import Issued, make_proxy, proxy_file_bytes, write_private

    pem = pki.proxy.read_bytes()
    first_cert, user_cert = x509.load_pem_x509_certificates(pem)  # keys are skipped
    first_key = serialization.load_pem_private_key(pem, password=None)
    first = Issued(first_cert, first_key)  # type: ignore[arg-type]
    second = make_proxy(first, hours=1)
    path = tmp_path / "proxy2.pem"
    write_private(
        path,
        proxy_file_bytes(second, first)
        + user_cert.public_bytes(serialization.Encoding.PEM),
    )
    value = client(server, pki, proxyLocation=str(path)).whoami()["Value"]
    assert value["DN"] == pki.user_dn
    assert value["isProxy"] is True
    assert value["subject"].count("/CN=") == 3  # user CN + two proxy CNs


def _body_sent(
    pki: KitPKI,
    call: Any,
    answer: bytes = b'{"OK": true, "Value": 1}',
    content_type: str = "application/json",
) -> bytes:
    """The form body of the one request *call(base_url)* makes."""
    seen: list[bytes] = []

    def respond(request: bytes) -> bytes:
        seen.append(request)
        return http_response("200 OK", answer, content_type)

    with raw_server(pki, respond) as base:
        call(f"{base}/Demo/Jobs")
    assert len(seen) == 1
    return seen[0].split(b"\r\n\r\n", 1)[1]


def _form_sent(pki: KitPKI, call: Any) -> dict[str, list[str]]:
    """The form fields of the one request *call(base_url)* makes."""
    return parse_qs(_body_sent(pki, call).decode(), keep_blank_values=True)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param(({1234: "Done", 1.5: "x", True: 1, None: 2},), {}, id="keys"),
        pytest.param(
            (dt.datetime(2024, 1, 2, 3, 4, 5), b"\x89PNG\x00", (1, 2), "é"),
            {},
            id="types",
        ),
        pytest.param((), {"extraCredentials": ""}, id="explicit-empty-extra"),
        pytest.param(
            (),
            {
                "delegatedDN": "/O=x/CN=y",
                "delegatedGroup": "g",
                "extraCredentials": "z",
            },
            id="delegation-beats-extra",
        ),
        pytest.param((), {"extraCredentials": "hosts", "VO": "gridvo"}, id="vo"),
    ],
)
def test_the_form_on_the_wire_is_what_dirac_sends(
    dirac_ref: Any, pki: KitPKI, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    env = {"X509_CERT_DIR": str(pki.ca_dir), "X509_USER_PROXY": str(pki.proxy)}
    theirs = _body_sent(
        pki, lambda url: dirac_ref.call(url, "echo", *args, kwargs=kwargs, env=env)
    )
    options = {"proxyLocation": str(pki.proxy), "caLocation": str(pki.ca_dir)}
    ours = _body_sent(
        pki, lambda url: TornadoClient(url, **options, **kwargs).echo(*args)
    )
    assert ours == theirs  # byte for byte: fields, their order and quoting
    assert ours.startswith(b"method=echo&args=")
    assert b"rawContent" not in ours


def test_receive_file_and_send_file_send_what_dirac_sends(
    dirac_ref: Any, pki: KitPKI, tmp_path: Path
) -> None:
    env = {"X509_CERT_DIR": str(pki.ca_dir), "X509_USER_PROXY": str(pki.proxy)}
    options = {"proxyLocation": str(pki.proxy), "caLocation": str(pki.ca_dir)}
    dest = tmp_path / "out.bin"
    content = (b"file content", "application/octet-stream")
    theirs = _body_sent(
        pki,
        lambda url: dirac_ref.receive_file(url, dest, 12, "std.out", env=env),
        *content,
    )
    ours = _body_sent(
        pki,
        lambda url: TornadoClient(url, **options).receiveFile(dest, 12, "std.out"),
        *content,
    )
    assert ours == theirs
    assert ours.endswith(b"&rawContent=True")
    assert dest.read_bytes() == b"file content"

    source = tmp_path / "up.bin"
    source.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    theirs = _body_sent(
        pki, lambda url: dirac_ref.send_file(url, source, ("up", 1), env=env)
    )
    ours = _body_sent(
        pki, lambda url: TornadoClient(url, **options).sendFile(source, ("up", 1))
    )
    assert ours == theirs
    assert parse_qs(ours.decode())["args"] == [
        '[["up", 1], "", 10, {"__dCls": "b64", "obj": "iVBORw0KGgoA/w=="}]'
    ]


@pytest.mark.parametrize(
    "status", ["401 Unauthorized", "403 Forbidden", "501 Not Implemented"]
)
def test_refusals_are_the_results_dirac_gives(
    dirac_ref: Any, pki: KitPKI, status: str
) -> None:
    env = {"X509_CERT_DIR": str(pki.ca_dir), "X509_USER_PROXY": str(pki.proxy)}
    answer = http_response(status, b"<html>no</html>", "text/html")
    with raw_server(pki, lambda request: answer) as base:
        url = f"{base}/Demo/Jobs"
        theirs = dirac_ref.call(url, "getJobStatus", 12, env=env)
        ours = TornadoClient(
            url, proxyLocation=str(pki.proxy), caLocation=str(pki.ca_dir)
        ).getJobStatus(12)
    keys = ("OK", "Errno", "Message")
    assert {k: ours[k] for k in keys} == {k: theirs[k] for k in keys}
    assert ours["Errno"] == (38 if status.startswith("501") else 13)


def test_every_dirac_class_constant_is_there(dirac_ref: Any) -> None:
    theirs = dirac_ref.run("constants")
    assert len(theirs) >= 13
    assert {name: getattr(TornadoClient, name) for name in theirs} == theirs
    # The two the interface documents beyond DIRAC 9.1.22's own class.
    assert TornadoClient.KW_SETUP == "setup"
    assert TornadoClient.KW_KEEP_ALIVE_LAPSE == "keepAliveLapse"


def test_host_certificate_extra_credentials_give_way_as_in_dirac(
    pki: KitPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIRAC_X509_HOST_CERT", str(pki.client_host_cert))
    monkeypatch.setenv("DIRAC_X509_HOST_KEY", str(pki.client_host_key))
    ca = str(pki.ca_dir)

    def sent(**kwargs: Any) -> list[str] | None:
        form = _form_sent(
            pki,
            lambda url: TornadoClient(
                url, useCertificates=True, caLocation=ca, **kwargs
            ).ping(),
        )
        return form.get("extraCredentials")

    assert sent() == ['"hosts"']
    assert sent(extraCredentials="") is None  # an explicit empty value wins
    assert sent(delegatedDN="/O=x/CN=y", delegatedGroup="g") == ['["/O=x/CN=y", "g"]']
    assert TornadoClient("X/Y").VAL_EXTRA_CREDENTIALS_HOST == "hosts"


def test_the_client_library_never_imports_the_server() -> None:
    # Every module of the client library, imported in a fresh interpreter.
    code = """
import importlib, pkgutil, sys
import diracsh, diracsh.client, diracsh.jencode, diracsh.results, diracsh.stubs
for package in (diracsh.client, diracsh.stubs):
    for found in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(found.name)
print(" ".join(sorted(sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    assert "diracsh.client.tornadoclient" in loaded and "diracsh.stubs.store" in loaded
    assert [m for m in loaded if m.startswith(("diracsh.server", "tornado"))] == []
