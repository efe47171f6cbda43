"""TLS for the client: grid CAs only, the credential in the context, DIRAC's knobs.

:func:`build_ssl_context` makes the ``ssl.SSLContext`` a client's session
mounts (through :class:`ContextAdapter`): it trusts the CAs of a grid CA
directory (``/etc/grid-security/certificates`` style, with or without hash
links) and never the system's web CAs, presents a proxy, certificate or host
credential, reads ``DIRAC_HTTPS_SSL_*`` from the environment, and turns
OpenSSL's refusals of a credential into a message that names the cause.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import ssl
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from requests.adapters import HTTPAdapter

from diracsh.client.credentials import Credential, CredentialError, find_ca_location
from diracsh.client.identity import Identity, identity_of, identity_of_chain

__all__ = ["ContextAdapter", "build_ssl_context", "quiet_unverified_warning"]

log = logging.getLogger("diracsh")

_NOT_CA_FILES = (".r0", ".crl", ".signing_policy", ".namespaces", ".info")


class ContextAdapter(HTTPAdapter):
    """Mounts our own SSL context: the CAs and client certificate live in it."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__(pool_connections=4, pool_maxsize=16)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests would add its own CA bundle here; grid services are
        # verified against the grid CAs in our context and nothing else.
        return None


def build_ssl_context(
    credential: Credential,
    ca_location: str | os.PathLike[str] | None = None,
    *,
    verify: bool = True,
    password: Callable[[str], str | bytes] | None = None,
) -> ssl.SSLContext:
    """A client TLS context that trusts the grid CAs and presents *credential*."""
    # Not create_default_context(): it would also trust the system's web CAs.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _apply_dirac_tls_env(context)
    if verify:
        _load_cas(context, find_ca_location(ca_location))
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if credential.kind in ("proxy", "cert", "host"):
        _load_credential(context, credential, password)
    return context


def quiet_unverified_warning(urls: list[str]) -> None:
    """Drop urllib3's warning about unverified requests, for these hosts only.

    With ``skipCACheck`` the client logs one warning of its own; urllib3's, on
    every request, would reach the screen (the library never prints) or, under
    ``-W error``, raise out of a remote call.
    """
    from urllib3.exceptions import InsecureRequestWarning

    for host in sorted({urlsplit(url).hostname or "" for url in urls}):
        message = f"Unverified HTTPS request is being made to host '{re.escape(host)}'"
        warnings.filterwarnings("ignore", message, InsecureRequestWarning)


def _apply_dirac_tls_env(context: ssl.SSLContext) -> None:
    """The TLS knobs DIRAC's client reads from the environment."""
    if ciphers := os.environ.get("DIRAC_HTTPS_SSL_CIPHERS"):
        try:
            context.set_ciphers(ciphers)
        except ssl.SSLError:
            raise CredentialError(
                f"DIRAC_HTTPS_SSL_CIPHERS={ciphers!r} selects no cipher OpenSSL "
                "knows: fix or unset it"
            ) from None
    for variable, attribute in (
        ("DIRAC_HTTPS_SSL_METHOD_MIN", "minimum_version"),
        ("DIRAC_HTTPS_SSL_METHOD_MAX", "maximum_version"),
    ):
        if name := os.environ.get(variable):
            setattr(context, attribute, _tls_version(variable, name))


def _tls_version(variable: str, name: str) -> ssl.TLSVersion:
    versions = list(ssl.TLSVersion.__members__)  # the names DIRAC's client takes
    if name not in versions:
        raise CredentialError(
            f"{variable}={name!r} is not a TLS version: use one of "
            f"{', '.join(versions)}, or unset it"
        )
    return ssl.TLSVersion[name]


def _load_cas(context: ssl.SSLContext, location: Path) -> None:
    if location.is_file():
        context.load_verify_locations(cafile=str(location))
        return
    names = sorted(os.listdir(location))
    if any(_is_hash_link(name) for name in names):
        # OpenSSL looks CAs up lazily by subject hash: fast for big grid dirs.
        context.load_verify_locations(capath=str(location))
        return

    # A directory of plain PEM files without hash links: load each file.
    loaded = 0
    for name in names:
        path = location / name
        if name.startswith(".") or name.endswith(_NOT_CA_FILES) or not path.is_file():
            continue
        try:
            context.load_verify_locations(cafile=str(path))
            loaded += 1
        except ssl.SSLError:
            log.debug("skipping %s: not a PEM CA certificate", path)
    if not loaded:
        raise CredentialError(
            f"CA directory {location} holds no CA certificate: put the CA's .pem "
            "file there (and run `openssl rehash` on it for large directories)"
        )


def _is_hash_link(name: str) -> bool:
    stem, _, suffix = name.partition(".")
    return (
        len(stem) == 8
        and suffix.isdigit()
        and all(c in "0123456789abcdef" for c in stem)
    )


def _load_credential(
    context: ssl.SSLContext,
    credential: Credential,
    password: Callable[[str], str | bytes] | None,
) -> None:
    if credential.pem is not None:
        _load_pem_text(context, credential.pem, password)
        return
    assert credential.cert is not None
    _check_usable(
        identity_of(credential.cert), f"the {credential.kind} {credential.cert}"
    )
    key = credential.key or credential.cert
    ask = _Passphrase(password, str(key), f"Passphrase for {key}: ")
    try:
        context.load_cert_chain(str(credential.cert), str(key), password=ask)
    except ssl.SSLError as exc:
        if ask.asked and password is not None:
            raise CredentialError(f"wrong passphrase for {key}") from exc
        raise CredentialError(_key_failure(credential, exc)) from exc
    except OSError as exc:
        raise CredentialError(f"cannot read {credential.describe()}: {exc}") from exc


class _Passphrase:
    """What ``load_cert_chain`` calls for an encrypted key: the caller's
    callback, checked, so that OpenSSL never prompts on the terminal itself."""

    def __init__(
        self, password: Callable[[str], str | bytes] | None, key: str, prompt: str
    ) -> None:
        self.password = password
        self.key = key  # "the key {key}" in messages
        self.prompt = prompt
        self.asked = False

    def __call__(self) -> str | bytes:
        self.asked = True
        if self.password is None:
            raise CredentialError(
                f"the key {self.key} is encrypted and no passphrase callback was given"
            )
        try:
            given = self.password(self.prompt)
        except Exception as exc:  # the caller's callback: its failure is a result
            raise CredentialError(
                f"the passphrase callback for {self.key} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(given, str | bytes):
            raise CredentialError(
                f"the passphrase callback for {self.key} returned a "
                f"{type(given).__name__}, not a str"
            )
        return given


def _load_pem_text(
    context: ssl.SSLContext,
    pem: str,
    password: Callable[[str], str | bytes] | None,
) -> None:
    try:
        chain = x509.load_pem_x509_certificates(pem.encode("ascii", "replace"))
    except ValueError:
        raise CredentialError("the proxy string holds no PEM certificate") from None
    _check_usable(identity_of_chain(chain), "the proxy string")
    # ssl can only load a chain from a file: write it 0600, load, delete at once,
    # so the key never outlives this call on disk (DIRAC's client leaves it).
    fd, name = tempfile.mkstemp(prefix="diracsh-proxy-", suffix=".pem")
    ask = _Passphrase(
        password, "in the proxy string", "Passphrase for the proxy string's key: "
    )
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        context.load_cert_chain(name, password=ask)
    except ssl.SSLError as exc:
        if ask.asked and password is not None:
            raise CredentialError("wrong passphrase for the proxy string") from exc
        raise CredentialError(f"the proxy string is not a usable proxy: {exc}") from exc
    finally:
        os.unlink(name)


def _check_usable(identity: Identity, what: str) -> None:
    """Name the common causes of refusal before OpenSSL gives its own string."""
    if identity.seconds_left <= 0:
        hint = "make a new one (dirac-proxy-init)" if identity.is_proxy else "renew it"
        raise CredentialError(
            f"{what} expired at {identity.not_after:%Y-%m-%d %H:%M} UTC: {hint}"
        )
    if identity.not_before > dt.datetime.now(dt.UTC):
        raise CredentialError(
            f"{what} is not valid before {identity.not_before:%Y-%m-%d %H:%M} UTC: "
            "check this machine's clock, or make a new one"
        )
    if 0 < identity.key_bits < 2048:
        raise CredentialError(
            f"{what} has a {identity.key_bits}-bit key, which OpenSSL's default "
            "security level refuses (and so do servers): make one with 2048 bits "
            "or more (dirac-proxy-init --bits 2048)"
        )


def _key_failure(credential: Credential, exc: ssl.SSLError) -> str:
    text = str(exc)
    if "PEM lib" in text and credential.key in (None, credential.cert):
        return (
            f"no private key in {credential.cert}: give the key file too "
            "(--key, keyFile=...), or use a proxy file, which holds both"
        )
    if "KEY_VALUES_MISMATCH" in text or "key values mismatch" in text:
        return f"the key does not belong to the certificate in {credential.describe()}"
    if "ee key too small" in text or "EE_KEY_TOO_SMALL" in text:
        return f"the key of {credential.describe()} is too small for OpenSSL"
    return f"cannot use {credential.describe()}: {text}"
