"""Credential flags of `.connect` and the command line, and how a credential reads."""

from __future__ import annotations

from typing import Any

from diracsh.client.credentials import (
    CredentialError,
    conflicting_options,
    find_credential,
)
from diracsh.shell.commands import COMMANDS
from diracsh.shell.parser import ParseError

__all__ = ["describe_credential", "parse_credential_flags"]

_CREDENTIAL_FLAGS = {
    "--proxy": "proxyLocation",
    "--cert": "certFile",
    "--key": "keyFile",
    "--token": "accessToken",
    "--ca-dir": "caLocation",
    "--timeout": "timeout",
}


def parse_credential_flags(argv: list[str]) -> dict[str, Any]:
    """``--proxy F --ca-dir D --insecure ...`` into TornadoClient keywords."""
    options: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        flag = argv[index]
        if flag == "--insecure":
            options["skipCACheck"] = True
            index += 1
            continue
        if flag not in _CREDENTIAL_FLAGS or index + 1 >= len(argv):
            raise ParseError(
                f"unknown or incomplete option {flag!r}: {COMMANDS['connect']}"
            )
        value: Any = argv[index + 1]
        if flag == "--timeout":
            try:
                value = float(value)
            except ValueError:
                raise ParseError(f"--timeout takes seconds, not {value!r}") from None
        options[_CREDENTIAL_FLAGS[flag]] = value
        index += 2
    problem = conflicting_options(options)
    if problem is not None:
        raise ParseError(problem)
    return options


def describe_credential(
    options: dict[str, Any], *, full: bool = False, issuer: bool = True
) -> str:
    """Which credential a connection uses (never its content), for people."""
    try:
        credential = find_credential(options)
    except CredentialError as exc:
        return f"no credential ({exc})"
    text = credential.describe()
    if full and credential.cert is not None:
        from diracsh.client.identity import identity_of

        try:
            identity = identity_of(credential.cert)
        except CredentialError as exc:
            return f"{text}: {exc}"
        kind = "proxy" if identity.is_proxy else "certificate"
        hours, rest = divmod(identity.seconds_left, 3600)
        by = f", issuer {identity.issuer}" if issuer else ""
        text = f"{identity.dn} ({kind}, {hours}h{rest // 60:02d}m left{by})"
    return text
