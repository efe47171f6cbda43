"""Making entries safe to store: secrets removed, values as the peer decodes them.

What counts as a secret is listed in :mod:`diracsh.stubs`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from diracsh import jencode
from diracsh.stubs.entry import CassetteError, Entry

REDACTED = "<secret removed by diracsh>"

# Stub keywords that hold a credential or a live object: never written.
_SECRET_KWARGS = frozenset(
    {"proxyString", "proxyChain", "accessToken", "passwordCallback"}
)
_SECRET_NAME = re.compile(
    r"token|password|passwd|passphrase|secret|private.?key|credential", re.IGNORECASE
)
_SECRET_KEY = re.compile(
    r"((access|refresh|id|bearer)_?)?token|password|passwd|passphrase|"
    r"(client_?)?secret|private_?key|proxy_?string",
    re.IGNORECASE,
)
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    re.DOTALL,
)
_PRIVATE_KEY_BYTES = re.compile(_PRIVATE_KEY.pattern.encode(), re.DOTALL)
_JWT = re.compile(r"eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*")
_BEARER = re.compile(r"(Bearer\s+)[\w.~+/=-]+", re.IGNORECASE)


def wire_form(value: Any) -> Any:
    """*value* as the peer decodes it: tuples become lists, keys strings, ..."""
    return jencode.loads(jencode.encode(value))


def clean_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The stub keywords that may be written: no credentials, no live objects."""
    kept: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in _SECRET_KWARGS or callable(value):
            continue
        if isinstance(value, str | bytes) and _SECRET_NAME.search(str(key)):
            continue
        if _holds_secret_text(value):
            continue
        try:
            jencode.check(value)
        except jencode.EncodeError:
            continue  # a live object (an X509Chain, ...): nothing to replay with
        kept[str(key)] = value
    return kept


def _holds_secret_text(value: Any) -> bool:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        return (
            "-----BEGIN" in value
            or bool(_JWT.search(value))
            or bool(_BEARER.search(value))
        )
    if isinstance(value, dict):
        return any(_holds_secret_text(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_secret_text(v) for v in value)
    return False


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of *value* with key material, tokens and *secrets* replaced."""
    # Longest first, so that a proxy goes whole before any part of it.
    known = tuple(sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True))
    return _redact(value, known)


def _redact(value: Any, known: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _redact_text(value, known)
    if isinstance(value, bytes):
        return _redact_bytes(value, known)
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(item, str | bytes) and _SECRET_KEY.fullmatch(str(key))
            else _redact(item, known)
            for key, item in value.items()
            if key != "rpcStub"
        }
    if isinstance(value, list | tuple):
        return [_redact(item, known) for item in value]
    return value


def _redact_text(text: str, known: tuple[str, ...]) -> str:
    # Known secrets first: a proxy's text is no longer whole once its key is gone.
    for secret in known:
        text = text.replace(secret, REDACTED)
    text = _PRIVATE_KEY.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def _redact_bytes(data: bytes, known: tuple[str, ...]) -> bytes:
    for secret in known:
        data = data.replace(secret.encode(), REDACTED.encode())
    return _PRIVATE_KEY_BYTES.sub(REDACTED.encode(), data)


def secrets_of(options: Mapping[str, Any]) -> list[str]:
    """The secret texts a client with these keywords would use (token, proxy PEM).

    Give them to :class:`Recorder` and :func:`replay_entry` so that, say, an
    ``echo`` of your own token is never written and still compares equal.
    """
    from diracsh.client.credentials import CredentialError, find_credential

    try:
        credential = find_credential(options)
    except CredentialError:
        return [str(options["accessToken"])] if options.get("accessToken") else []
    return [text for text in (credential.token, credential.pem) if text]


def make_entry(
    stub: Any, result: Mapping[str, Any], seconds: float, secrets: Iterable[str] = ()
) -> Entry:
    """An :class:`Entry` from a stub and its result, cleaned for storing.

    :param secrets: strings to remove wherever they appear (the token or
        proxy text the caller used, for instance).
    """
    try:
        (service, kwargs), method, args = stub
    except (TypeError, ValueError):
        raise CassetteError(
            f"not a stub: expected ((serviceName, kwargs), method, args), "
            f"got {stub!r:.100}"
        ) from None
    if not isinstance(service, str) or not isinstance(method, str):
        raise CassetteError(
            f"not a stub: service and method must be strings ({stub!r:.100})"
        )
    known = list(secrets)
    try:
        return Entry(
            service=service,
            kwargs=wire_form(clean_kwargs(dict(kwargs or {}))),
            method=method,
            args=wire_form(redact(list(args or []), known)),
            result=wire_form(redact(dict(result), known)),
            time=round(float(seconds), 6),
            recorded=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
    except jencode.EncodeError as exc:
        raise CassetteError(f"cannot record {method}: {exc}") from exc


def entry_from_result(
    result: Mapping[str, Any], seconds: float, secrets: Iterable[str] = ()
) -> Entry:
    """An :class:`Entry` from a result of ``executeRPC`` (which carries its stub)."""
    stub = result.get("rpcStub")
    if stub is None:
        raise CassetteError(
            "the result has no rpcStub: only results of executeRPC can be recorded"
        )
    return make_entry(stub, result, seconds, secrets)
