"""Which credential a client presents, which CAs it trusts, and who a credential is.

Credentials are looked up in DIRAC's order (see the protocol notes, section 6.1):
an explicit proxy file, an explicit user certificate and key, the host
certificate (``useCertificates``), a bearer token (``useAccessToken``), a proxy
given as a string, then the default proxy (``GRID_PROXY_FILE``,
``X509_USER_PROXY``, ``/tmp/x509up_u<uid>``).

Nothing here touches the network or parses certificates (that is
:mod:`diracsh.client.identity`); the TLS context is built from these parts by
:mod:`diracsh.client.tls`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Credential",
    "ask_passphrase_once",
    "CredentialError",
    "find_ca_location",
    "find_credential",
    "conflicting_options",
    "encrypted_key",
    "override_options",
    "find_token",
    "use_access_token",
]

GRID_CA_DIR = Path("/etc/grid-security/certificates")
HOST_CERT = Path("/etc/grid-security/hostcert.pem")
HOST_KEY = Path("/etc/grid-security/hostkey.pem")
# What an HTTP header can carry: printable ASCII, no spaces.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")

PasswordCallback = Callable[[str], str | bytes]


class CredentialError(Exception):
    """No usable credential, or one that cannot work; the message says which and why."""


@dataclass(frozen=True)
class Credential:
    """What a client presents: a certificate chain and key, a token, or nothing."""

    kind: str  # "proxy", "cert", "host", "token" or "none"
    cert: Path | None = None
    key: Path | None = None
    token: str | None = field(default=None, repr=False)
    # A proxy given as text (proxyString); it never reaches a stub or a log.
    pem: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """One line for people: which credential, never its content."""
        if self.kind == "token":
            return "bearer token"
        if self.kind == "none":
            return "no credential"
        if self.pem is not None:
            return "proxy given as a string"
        where = str(self.cert)
        if self.key and self.key != self.cert:
            where += f" + {self.key}"
        return f"{self.kind} {where}"


def find_token(env: Mapping[str, str] | None = None) -> str | None:
    """A bearer token in the WLCG discovery order, or None.

    ``BEARER_TOKEN``, ``BEARER_TOKEN_FILE``, ``$XDG_RUNTIME_DIR/bt_u<uid>``,
    ``/tmp/bt_u<uid>``. A value may be a bare token or DIRAC's JSON token dict.
    A ``BEARER_TOKEN_FILE`` that cannot be read, or is empty, raises
    CredentialError (as in DIRAC) rather than falling back to another token.
    """
    env = os.environ if env is None else env
    if env.get("BEARER_TOKEN", "").strip():
        return _token_text(env["BEARER_TOKEN"])
    if env.get("BEARER_TOKEN_FILE"):
        path = Path(env["BEARER_TOKEN_FILE"])
        try:
            token = _token_text(path.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not text"
            raise CredentialError(
                f"BEARER_TOKEN_FILE={path} cannot be read ({reason}): "
                "fix the path or unset it"
            ) from None
        if not token:
            raise CredentialError(f"BEARER_TOKEN_FILE={path} is empty")
        return token
    candidates = []
    name = f"bt_u{os.getuid()}"
    if env.get("XDG_RUNTIME_DIR"):
        candidates.append(Path(env["XDG_RUNTIME_DIR"]) / name)
    candidates.append(Path("/tmp") / name)
    for path in candidates:
        try:
            return _token_text(path.read_text())
        except (OSError, UnicodeDecodeError):
            continue
    return None


def _token_text(text: str) -> str:
    text = text.strip()
    if text.startswith("{"):
        try:
            value: Any = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict) and isinstance(value.get("access_token"), str):
            return str(value["access_token"])
    return text


def _checked_token(token: str) -> str:
    """*token* if it can travel in an HTTP header; the error never shows it."""
    if not _TOKEN_SHAPE.fullmatch(token):
        raise CredentialError(
            "the bearer token holds characters no token has (a space, a line break, "
            "a control or non-ASCII character): check what BEARER_TOKEN, "
            "BEARER_TOKEN_FILE or --token gave"
        )
    return token


def _default_proxy(env: Mapping[str, str]) -> Path | None:
    for var in ("GRID_PROXY_FILE", "X509_USER_PROXY"):
        if env.get(var) and Path(env[var]).is_file():
            return Path(env[var])
    default = Path(f"/tmp/x509up_u{os.getuid()}")
    return default if default.is_file() else None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"y", "yes", "true", "1"}
    return bool(value)


def find_credential(
    kwargs: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Credential:
    """Pick the credential a client with these keyword arguments presents."""
    env = os.environ if env is None else env
    if kwargs.get("proxyLocation"):
        return Credential("proxy", Path(kwargs["proxyLocation"]))
    if kwargs.get("certFile"):
        cert = Path(kwargs["certFile"])
        return Credential("cert", cert, Path(kwargs.get("keyFile") or cert))
    if _truthy(kwargs.get("useCertificates")):
        cert = Path(env.get("DIRAC_X509_HOST_CERT") or HOST_CERT)
        key = Path(env.get("DIRAC_X509_HOST_KEY") or HOST_KEY)
        return Credential("host", cert, key)
    if kwargs.get("accessToken") or use_access_token(kwargs, env):
        token = kwargs.get("accessToken") or find_token(env)
        if not token:
            raise CredentialError(
                "no bearer token found: set BEARER_TOKEN or BEARER_TOKEN_FILE, "
                f"or write it to $XDG_RUNTIME_DIR/bt_u{os.getuid()}"
            )
        return Credential("token", token=_checked_token(str(token)))
    if kwargs.get("proxyString"):
        pem = kwargs["proxyString"]
        if isinstance(pem, bytes):  # DIRAC takes the file's bytes as they are
            pem = pem.decode("ascii", "replace")
        return Credential("proxy", pem=str(pem))
    proxy = _default_proxy(env)
    if proxy is None:
        hint = ""
        try:
            token_there = bool(find_token(env))
        except CredentialError:
            token_there = False
        if token_there:
            hint = (
                " (a bearer token is there: set DIRAC_USE_ACCESS_TOKEN=yes to use it)"
            )
        raise CredentialError(
            "No proxy found: give one with --proxy, set X509_USER_PROXY, "
            f"or create /tmp/x509up_u{os.getuid()} (dirac-proxy-init){hint}"
        )
    return Credential("proxy", proxy)


def conflicting_options(kwargs: Mapping[str, Any]) -> str | None:
    """Why these credential keywords cannot go together, or None.

    One credential per client: a proxy, a certificate with its key, or a
    token. Giving two would silently use one and ignore the other.
    """
    given = [
        name
        for name, present in (
            ("a proxy", kwargs.get("proxyLocation")),
            ("a proxy string", kwargs.get("proxyString") or kwargs.get("proxyChain")),
            ("a certificate", kwargs.get("certFile")),
            (
                "a token",
                kwargs.get("accessToken") or _truthy(kwargs.get("useAccessToken")),
            ),
        )
        if present
    ]
    if len(given) > 1:
        return f"give one credential, not {' and '.join(given)}"
    if kwargs.get("keyFile") and not kwargs.get("certFile"):
        return "a key needs its certificate: give --cert as well as --key"
    return None


# The keywords that choose the credential; a client presents one of them.
_CREDENTIAL_KEYWORDS = (
    "proxyLocation",
    "proxyString",
    "proxyChain",
    "certFile",
    "keyFile",
    "useCertificates",
    "accessToken",
    "useAccessToken",
    "passwordCallback",
)


def override_options(
    defaults: Mapping[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """*defaults* with *options* on top, where a credential replaces a credential.

    A certificate given for one service must not sit beside the default proxy
    (the proxy would win and the certificate be ignored): when *options* name
    a credential, none of the defaults' credential keywords are kept. The CA
    location, timeout and the rest merge key by key.
    """
    if any(options.get(name) for name in _CREDENTIAL_KEYWORDS):
        defaults = {k: v for k, v in defaults.items() if k not in _CREDENTIAL_KEYWORDS}
    return {**defaults, **options}


def use_access_token(kwargs: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    """DIRAC's ``useAccessToken``: the keyword, else ``DIRAC_USE_ACCESS_TOKEN``."""
    if "useAccessToken" in kwargs and kwargs["useAccessToken"] is not None:
        return _truthy(kwargs["useAccessToken"])
    return _truthy(env.get("DIRAC_USE_ACCESS_TOKEN", ""))


def encrypted_key(
    kwargs: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Path | None:
    """The key file these client options would use, if it asks for a passphrase.

    None for a proxy or token (never encrypted), for an unencrypted key, and
    for a file that cannot be read (loading it later says why).
    """
    try:
        credential = find_credential(kwargs, env)
    except CredentialError:
        return None
    if credential.kind not in ("cert", "host") or credential.cert is None:
        return None
    key = credential.key or credential.cert
    try:
        text = key.read_bytes()
    except OSError:
        return None
    # PKCS#8 ("ENCRYPTED PRIVATE KEY") and OpenSSL's legacy "Proc-Type: 4,ENCRYPTED".
    return key if b"ENCRYPTED" in text else None


PASSPHRASE_TRIES = 3


def ask_passphrase_once(
    options: dict[str, Any],
    ask: Callable[[str], str] | None,
    known: dict[str, str],
) -> None:
    """Give *options* a ``passwordCallback`` if their key is encrypted.

    The passphrase is asked now with *ask* (a prompt without echo; None where
    there is no terminal), checked against the key, and kept in *known* (key
    file -> passphrase, in memory only) so that the same key is asked once.
    Raises CredentialError, saying what to do, when it cannot be had.
    """
    key = None if "passwordCallback" in options else encrypted_key(options)
    if key is None:
        return
    passphrase = known.get(str(key))
    if passphrase is None:
        if ask is None:
            raise CredentialError(
                f"the key {key} is encrypted and there is no terminal to type its "
                "passphrase on: run from a terminal, or use a proxy"
            )
        from diracsh.client.identity import check_passphrase

        prompt = f"Passphrase for {key}: "
        for attempt in range(1, PASSPHRASE_TRIES + 1):  # as ssh and sudo: 3 tries
            try:
                typed = ask(prompt)
            except EOFError:  # Ctrl-C is not caught: it cancels, as anywhere else
                raise CredentialError(f"no passphrase given for {key}") from None
            try:
                check_passphrase(key, typed)
                known[str(key)] = passphrase = typed
                break
            except CredentialError:
                if attempt == PASSPHRASE_TRIES:
                    raise
                prompt = f"Wrong passphrase, try again. Passphrase for {key}: "
    options["passwordCallback"] = lambda prompt: passphrase


def find_ca_location(
    explicit: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """The CA file or directory to verify servers against.

    An explicit location, else ``X509_CERT_DIR``, else
    ``/etc/grid-security/certificates``.
    """
    env = os.environ if env is None else env
    if explicit:
        path = Path(explicit)
        if not path.exists():
            raise CredentialError(f"CA location {path} does not exist")
        return path
    if env.get("X509_CERT_DIR"):
        path = Path(env["X509_CERT_DIR"])
        if not path.is_dir():
            raise CredentialError(f"X509_CERT_DIR={path} is not a directory")
        return path
    if GRID_CA_DIR.is_dir():
        return GRID_CA_DIR
    raise CredentialError(
        f"No CAs found: set X509_CERT_DIR or pass --ca-dir (looked in {GRID_CA_DIR})"
    )
