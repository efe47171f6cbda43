"""The ``diracsh`` command: the shell, ``call``, ``replay`` and ``serve``.

Exit codes (:class:`Exit`): 0 success, 1 the call returned ``S_ERROR`` (for
``replay``: a call's result differs from the recorded one, or it could not be
made), 2 usage error, 3 could not start (credentials, port, files, an unreadable
cassette), 130 Ctrl-C. This is the only place that turns failures into exit codes.
"""

from __future__ import annotations

import argparse
import enum
import io
import logging
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from diracsh import __version__

__all__ = ["Exit", "main"]

log = logging.getLogger("diracsh")

SUBCOMMANDS = ("serve", "call", "replay", "services", "catalog")


class Exit(enum.IntEnum):
    OK = 0
    S_ERROR = 1
    USAGE = 2
    STARTUP = 3
    UNREACHABLE = 4  # no answer: refused, TLS failure, timeout
    INTERRUPTED = 130


def _credential_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("credentials (default: DIRAC's environment)")
    group.add_argument("--proxy", metavar="FILE", help="X.509 proxy file")
    group.add_argument("--cert", metavar="FILE", help="user or host certificate")
    group.add_argument("--key", metavar="FILE", help="key of --cert")
    group.add_argument(
        "--token", metavar="TOKEN", help="bearer token (better: BEARER_TOKEN_FILE)"
    )
    group.add_argument("--ca-dir", metavar="DIR", help="CA directory or file")
    group.add_argument(
        "--insecure", action="store_true", help="do NOT verify the server certificate"
    )
    group.add_argument(
        "--timeout", type=float, metavar="S", help="call timeout, seconds"
    )


def _client_options(args: argparse.Namespace) -> dict[str, Any]:
    mapping = {
        "proxy": "proxyLocation",
        "cert": "certFile",
        "key": "keyFile",
        "token": "accessToken",
        "ca_dir": "caLocation",
        "timeout": "timeout",
    }
    options = {
        kw: getattr(args, name)
        for name, kw in mapping.items()
        if getattr(args, name, None)
    }
    if getattr(args, "insecure", False):
        options["skipCACheck"] = True
    from diracsh.client.credentials import conflicting_options

    problem = conflicting_options(options)
    if problem is not None:
        raise UsageError(problem)
    return options


def _config(*, create: bool = False) -> Any:
    """The config file's settings; a broken file gives one warning and the defaults."""
    from diracsh.config import Config, ConfigError, load_config

    try:
        return load_config(create=create)
    except ConfigError as exc:
        print(f"diracsh: {exc}; using the defaults", file=sys.stderr)
        return Config()


def _options(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """Client keywords: the flags over the config file (over DIRAC's environment).

    A credential flag replaces the file's credential instead of joining it.
    """
    from diracsh.client.credentials import override_options

    options = override_options(config.client_options(), _client_options(args))
    if options.get("skipCACheck"):
        print(
            "diracsh: warning: --insecure: server certificates are NOT verified; "
            "anyone between you and the server can read and change the calls",
            file=sys.stderr,
        )
    return options


def _with_passphrase(options: dict[str, Any], known: dict[str, str]) -> dict[str, Any]:
    """Ask for an encrypted key's passphrase on the terminal before any call."""
    from diracsh.client.credentials import CredentialError, ask_passphrase_once

    try:
        ask_passphrase_once(options, terminal_prompt(), known)
    except CredentialError as exc:
        raise StartupError(str(exc)) from exc
    return options


def terminal_prompt() -> Callable[[str], str] | None:
    """``getpass`` on the terminal, or None without one (stdin may be a script)."""
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return None
    import getpass

    return getpass.getpass


def _shell_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diracsh",
        description="Interactive shell for DIRAC's HTTPS services. "
        "Other commands: diracsh serve --demo|--cassette FILE, "
        "diracsh call TARGET METHOD [ARG...], diracsh replay CASSETTE [--diff], "
        "diracsh services [PATTERN], diracsh catalog [PATH] [SERVICE]",
    )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="https://host:port/System/Component to connect to",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start the demo service in this process and connect to it",
    )
    parser.add_argument(
        "--debug", action="store_true", help="log to stderr and show tracebacks"
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        nargs=0,
        help="print the versions of diracsh and its parts",
    )
    _credential_flags(parser)
    return parser


def _port(text: str) -> int:
    """argparse type: a TCP port number (0 picks a free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 0 and 65535")
    return port


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diracsh serve",
        description="Serve the demo services, or a cassette's recorded calls, "
        "over HTTPS.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--demo", action="store_true", help="serve the demo services")
    what.add_argument(
        "--cassette",
        type=Path,
        metavar="FILE",
        help="answer the calls recorded in FILE (made with .record FILE)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=_port, default=0, help="0 picks a free port")
    parser.add_argument(
        "--state-dir", type=Path, help="where the throwaway CA and credentials live"
    )
    parser.add_argument("--debug", action="store_true")
    return parser


def _call_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diracsh call", description="Call one method and print the result."
    )
    parser.add_argument("target", help="https://host:port/System/Component")
    parser.add_argument("method")
    parser.add_argument(
        "args", nargs="*", default=[], help="arguments, as Python literals"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--debug", action="store_true")
    _credential_flags(parser)
    return parser


def _replay_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diracsh replay",
        description="Make a cassette's recorded calls again and compare the results "
        "(exit 0 if all are the same, 1 otherwise, 3 if the cassette cannot be "
        "read; a call that cannot be sent or gets no answer is 'not run'). "
        "Credentials come from the flags and DIRAC's environment, never from "
        "the cassette.",
    )
    parser.add_argument("cassette", type=Path, help="a cassette made with .record")
    parser.add_argument(
        "--diff", action="store_true", help="show how each different result differs"
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        help="send every call to https://host:port instead of the recorded URLs",
    )
    parser.add_argument("--debug", action="store_true")
    _credential_flags(parser)
    return parser


def _versions() -> str:
    import platform
    import ssl
    from importlib.metadata import version

    parts = [f"Python {platform.python_version()}"]
    for package in ("requests", "urllib3", "prompt_toolkit", "tornado", "cryptography"):
        parts.append(f"{package} {version(package)}")
    return f"diracsh {__version__} ({', '.join(parts)}, {ssl.OPENSSL_VERSION})"


class _VersionAction(argparse.Action):
    """Prints the versions a bug report needs; computed only when asked."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(_versions())
        parser.exit()


def _setup_logging(debug: bool) -> None:
    """Everything to the log file; to stderr as well with --debug."""
    from diracsh.config import private_dir

    handlers: list[logging.Handler] = []
    try:
        log_file = _log_file()
        private_dir(log_file.parent)
        os.close(os.open(log_file, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600))
        handlers.append(
            logging.FileHandler(log_file, encoding="utf-8", errors="backslashreplace")
        )
    except OSError:
        handlers.append(logging.NullHandler())
    if debug:
        handlers.append(logging.StreamHandler(sys.stderr))
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    for handler in handlers:
        handler.setFormatter(fmt)
    # Warnings (urllib3's InsecureRequestWarning with --insecure, ...) go to the
    # log too: written on the terminal they would garble the prompt.
    logging.captureWarnings(True)
    for name in ("diracsh", "tornado", "urllib3", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
        logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``diracsh`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    for stream in (sys.stdout, sys.stderr):
        # A value that is not valid text (from a service, or from argv) is shown
        # escaped rather than ending diracsh with a UnicodeEncodeError.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        if argv and argv[0] == "serve":
            args = _serve_parser().parse_args(argv[1:])
            _setup_logging(args.debug)
            return _serve(args)
        if argv and argv[0] == "call":
            args = _call_parser().parse_args(argv[1:])
            _setup_logging(args.debug)
            return _call(args)
        if argv and argv[0] == "replay":
            args = _replay_parser().parse_args(argv[1:])
            _setup_logging(args.debug)
            return _replay(args)
        if argv and argv[0] in ("services", "catalog"):
            _setup_logging(debug)
            rest = [word for word in argv[1:] if word != "--debug"]
            if argv[0] == "services":
                from diracsh.client.resolve import main_services

                return main_services(rest)
            from diracsh.catalog import main_catalog

            return main_catalog(rest)
        args = _shell_parser().parse_args(argv)
        _setup_logging(args.debug)
        return _shell(args)
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # `diracsh catalog | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return Exit.OK
    except StartupError as exc:
        if debug:  # the traceback too, and still the same exit status
            import traceback

            traceback.print_exc()
        print(f"diracsh: {exc}", file=sys.stderr)
        return Exit.STARTUP
    except UsageError as exc:
        print(f"diracsh: {exc}", file=sys.stderr)
        return Exit.USAGE


class StartupError(Exception):
    """diracsh could not start: the message says why and what to do."""


class UsageError(Exception):
    """The command line is wrong: the message says how."""


def _start_demo(host: str, port: int, state_dir: Path | None) -> Any:
    from diracsh.config import paths
    from diracsh.server import start_demo

    state = state_dir or paths().demo_state
    try:
        return start_demo(state, host=host, port=port, background=False)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else f" (state in {state})"
        raise StartupError(
            f"cannot start the demo service on {host}:{port}: "
            f"{exc.strerror or exc}{where}"
        ) from exc


def _start_replay(cassette: Path, host: str, port: int, state_dir: Path | None) -> Any:
    from diracsh.config import paths
    from diracsh.server.replay import start_replay
    from diracsh.stubs import CassetteError

    state = state_dir or paths().demo_state
    try:
        return start_replay(cassette, state, host=host, port=port, background=False)
    except (CassetteError, ValueError) as exc:  # ValueError: a bad service name
        raise StartupError(str(exc)) from exc
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise StartupError(
            f"cannot serve {cassette} on {host}:{port}: {exc.strerror or exc}{where}"
        ) from exc


def _serve(args: argparse.Namespace) -> int:
    if args.cassette is not None:
        server, pki = _start_replay(args.cassette, args.host, args.port, args.state_dir)
        first = next(iter(server.services))
        probe = ["-d", "method=listMethods", server.url(first)]
    else:
        server, pki = _start_demo(args.host, args.port, args.state_dir)
        probe = ["-d", "method=ping", server.url("Demo/Jobs")]
    out = sys.stdout
    for name in server.services:
        print(f"service   {server.url(name)}", file=out)
    print(f"CA dir    {pki.ca_dir}", file=out)
    print(f"user cert {pki.user_cert}", file=out)
    print(f"user key  {pki.user_key}", file=out)
    print(f"proxy     {pki.proxy}", file=out)
    print(f"admin     {pki.admin_proxy}", file=out)
    print(f"token     {pki.state_dir / 'token'}  (BEARER_TOKEN_FILE)", file=out)
    print(f"log       {_log_file()}  (tracebacks of failed calls)", file=out)
    curl = ["curl", "--cacert", str(pki.ca_cert), "--cert", str(pki.proxy), *probe]
    print(f"try:      {shlex.join(curl)}", file=out)
    print("serving until Ctrl-C", file=out, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        # Ends a running slow call at once instead of waiting for it at exit.
        server.stop()
    return Exit.OK


def _log_file() -> Path:
    from diracsh.config import paths

    return paths().log_file


def _call(args: argparse.Namespace) -> int:
    from diracsh.client import TornadoClient
    from diracsh.shell.parser import ParseError, literal_args
    from diracsh.shell.render import format_result

    try:
        values = literal_args(args.args)
    except ParseError as exc:
        print(f"diracsh: {exc}", file=sys.stderr)
        return Exit.USAGE
    config = _config()
    target = config.aliases.get(args.target, args.target)
    client = TornadoClient(target, **_with_passphrase(_options(args, config), {}))
    problem = client._startup_problem()
    if problem is not None:
        print(f"diracsh: {problem['Message']}", file=sys.stderr)
        return Exit.STARTUP
    result = client.executeRPC(args.method, *values)
    print(format_result(result, "json" if args.json else "python"))
    status = client._last_status()
    if result.get("OK") or status.isdigit():
        return Exit.OK if result.get("OK") else Exit.S_ERROR
    # Refused before sending (arguments DIRAC cannot carry), or never answered.
    return Exit.USAGE if status == "" else Exit.UNREACHABLE


def _replay(args: argparse.Namespace) -> int:
    from diracsh import stubs

    try:
        entries = stubs.load(args.cassette)
    except stubs.CassetteError as exc:
        raise StartupError(str(exc)) from exc
    passphrases: dict[str, str] = {}
    options = _with_passphrase(_options(args, _config()), passphrases)
    secrets = [*stubs.secrets_of(options), *passphrases.values()]
    pool = stubs.ClientPool(options, server=args.server)
    outcomes = []
    try:
        for entry in entries:
            outcome = stubs.replay_entry(entry, pool, diff=args.diff, secrets=secrets)
            print("\n".join(outcome.lines(with_diff=args.diff)), flush=True)
            outcomes.append(outcome)
    finally:
        pool.close()
    print(stubs.summary(outcomes))
    return Exit.OK if all(o.same for o in outcomes) else Exit.S_ERROR


def _shell(args: argparse.Namespace) -> int:
    from diracsh.config import paths
    from diracsh.shell.parser import ParseError
    from diracsh.shell.render import Printer
    from diracsh.shell.session import Shell

    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    config = _config(create=interactive)
    printer = Printer(color=interactive and config.color, style=config.style)
    shell = Shell(printer)
    # Flags win over the config file, which wins over DIRAC's environment.
    shell.defaults = _options(args, config)
    shell.aliases = dict(config.aliases)
    # An encrypted key's passphrase is asked on the terminal when connecting
    # (never echoed, never in the history), not inside a background call.
    shell.ask_secret = terminal_prompt()
    if interactive:
        shell.hold_discovery()  # released once the first prompt is drawn
    demo = None
    if args.demo:
        demo = _connect_demo(shell, printer, interactive, _client_options(args))
    for target in args.targets:
        try:
            shell.connect(target)
        except ParseError as exc:
            printer.error(str(exc))
            shell.failures += 1  # a piped run then exits 1
    if not args.demo and not args.targets and interactive:
        printer.info(f"diracsh {__version__}: .connect URL to start, .help for help")

    try:
        if not interactive:
            from diracsh.shell.app import piped_loop

            return piped_loop(shell)
        from diracsh.shell.app import interactive_loop, open_history

        history = open_history(paths().history, printer)
        return interactive_loop(shell, history, vi_mode=config.editing_mode == "vi")
    finally:
        shell.close()
        if demo is not None:
            demo.stop()


def _connect_demo(
    shell: Any, printer: Any, interactive: bool, flags: dict[str, Any]
) -> Any:
    from diracsh.client.credentials import override_options

    server, pki = _start_demo("127.0.0.1", 0, None)
    server.start()
    demo = {"proxyLocation": str(pki.proxy), "caLocation": str(pki.ca_dir)}
    # The demo user's credentials become the session's defaults where the
    # config and flags give none: .connect to another demo URL needs no flags.
    shell.defaults = override_options(demo, shell.defaults)
    # The demo services themselves are verified with the demo CA, whatever CA
    # directory the config file names; only flags change what they get.
    for name in server.services:
        shell.connect(server.url(name), **override_options(demo, flags))
    shell.current = "Demo/Jobs"
    if not interactive:
        return server
    printer.info(
        f"diracsh {__version__} - demo service on https://127.0.0.1:{server.port} "
        "(throwaway CA)"
    )
    printer.plain(
        "Try:  getJobStatus(12)        a call on the current service, Demo/Jobs"
    )
    printer.plain(
        "      echo({'when': datetime(2024, 1, 2, 3, 4, 5), 'data': b'\\x00'})"
    )
    printer.plain("      .services   then   Demo/Files.listFiles()   (Tab completes)")
    printer.plain(".help lists commands; Ctrl-D leaves.")
    return server
