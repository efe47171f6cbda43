"""The shell's logic: connections, calls and commands, without the terminal.

A :class:`Shell` holds one client per connected service (each with its own
credentials and alias), runs calls and ``.commands``, and keeps every failure
to one line on the printer. Method discovery runs in background threads and
fills a cache; nothing here waits on the network except a call itself.
"""

from __future__ import annotations

import concurrent.futures
import errno
import fnmatch
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from diracsh.client import TornadoClient
from diracsh.client.credentials import (
    CredentialError,
    ask_passphrase_once,
    override_options,
)
from diracsh.methods import BUILTIN_METHODS, signature
from diracsh.shell.cassettes import CassetteCommands
from diracsh.shell.commands import COMMANDS
from diracsh.shell.credential_flags import describe_credential, parse_credential_flags
from diracsh.shell.parser import (
    Call,
    Command,
    ParseError,
    called_method,
    parse_line,
    redact,
    split_statements,
)
from diracsh.shell.render import FORMATS, Printer
from diracsh.shell.transfers import TransferCommands, refused_before_sending

if TYPE_CHECKING:
    from prompt_toolkit.history import History

    from diracsh.stubs import Recorder

__all__ = ["Connection", "ExitShell", "Shell"]

log = logging.getLogger("diracsh.shell")


class ExitShell(Exception):
    """Raised by ``.exit``."""


# How long Ctrl-C waits for a cancelled transfer to remove its partial file.
_CLEANUP_SECONDS = 5.0


# What an alias may hold: it is typed before ".method(" and on .use lines.
_ALIAS = re.compile(r"[A-Za-z0-9_\-/@:]+")


@dataclass
class Connection:
    """One connected service."""

    alias: str
    url: str
    client: TornadoClient
    options: dict[str, Any]
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: str = "discovering methods"
    listed: bool = False  # the methods came from the service's own listMethods
    # Methods called through this connection or found in the history; replaced,
    # never changed in place (the completer reads it from another thread).
    seen: frozenset[str] = frozenset()
    discovered: threading.Event = field(default_factory=threading.Event, repr=False)
    # The System/Component typed, when it was one: the catalog's name for the
    # service even where its URL path differs (a custom path, a Tornado name).
    service_name: str | None = None
    _names: tuple[Any, Any, list[str]] = field(default=(None, None, []), repr=False)

    def names(self) -> list[str]:
        """Sorted method names with the built-ins and the methods seen; cached
        until methods or seen is replaced."""
        methods, seen, names = self._names
        if methods is not self.methods or seen is not self.seen:
            methods, seen = self.methods, self.seen
            names = sorted(set(methods) | set(BUILTIN_METHODS) | seen)
            self._names = (methods, seen, names)
        return names

    @property
    def verify(self) -> bool:
        return not self.options.get("skipCACheck")


class Shell(CassetteCommands, TransferCommands):
    """Runs what the person types against the connected services."""

    def __init__(self, printer: Printer | None = None) -> None:
        self.printer = printer or Printer()
        self.connections: dict[str, Connection] = {}
        self.current: str | None = None
        self.defaults: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.recorder: Recorder | None = None
        self._held: list[Connection] | None = None
        self.failures = 0  # statements that failed (for a piped run's exit status)
        self.interrupted = False  # Ctrl-C stopped a statement
        # Check arity and types_ from the catalog before sending (.check off:
        # DIRAC's HTTPS services check nothing, and a catalog may be older).
        self.check_calls = True
        # A piped run waits for a service's methods before a call or .help
        # that needs them; at the prompt nothing waits on discovery.
        self.wait_for_discovery = False
        self.aliases: dict[str, str] = {}  # from the config file: name -> URL
        self.history: History | None = None  # set by the interactive loop
        self._services: list[str] | None = None  # configured System/Component names
        # Asks for a passphrase without echo; None where there is no terminal.
        self.ask_secret: Callable[[str], str] | None = None
        self._passphrases: dict[str, str] = {}  # key file -> passphrase, memory only
        # Methods named in the history: by alias, None for unqualified calls.
        self._history_methods: dict[str | None, set[str]] = {}
        # Called from a background thread when a connection's state changes
        # (the prompt redraws its toolbar); None without a prompt.
        self.on_change: Callable[[], None] | None = None

    # -- connections -------------------------------------------------------

    def connect(
        self,
        target: str,
        alias: str | None = None,
        *,
        check: bool = False,
        **options: Any,
    ) -> Connection:
        """Create the client for *target* and start method discovery (no waiting).

        *target* is a URL, ``System/Component``, or an alias from the config.
        With *check*, the credential and CA files are read first (no network):
        a connection that could not send anything is refused.
        """
        if target in self.aliases:
            alias, target = alias or target, self.aliases[target]
        merged = override_options(self.defaults, options)
        try:
            ask_passphrase_once(merged, self.ask_secret, self._passphrases)
        except CredentialError as exc:
            raise ParseError(f"not connected: {exc}") from None
        client = TornadoClient(target, **merged)
        problem = client._startup_problem() if client._init_error or check else None
        if problem is not None:
            raise ParseError(problem["Message"])
        url = client.getDestinationService() or target
        if alias is None:
            alias = urlsplit(url).path.strip("/") or target
            taken = self.connections.get(alias)
            if taken is not None and taken.url != url:
                # The same service on another server: keep both.
                alias = f"{alias}@{urlsplit(url).netloc}"
        connection = Connection(alias, url, client, merged)
        if "://" not in target:
            connection.service_name = target
        with self._lock:
            self.connections[alias] = connection
            if self.current is None:
                self.current = alias
            if self._held is not None:
                self._held.append(connection)
                return connection
        self._start_discovery(connection)
        return connection

    def hold_discovery(self) -> None:
        """Queue discovery of new connections until :meth:`release_discovery`.

        The shell holds it until the first prompt is drawn: a discovery thread
        importing the HTTP stack meanwhile would slow the prompt down.
        """
        with self._lock:
            self._held = []

    def release_discovery(self) -> None:
        with self._lock:
            held, self._held = self._held or [], None
        for connection in held:
            self._start_discovery(connection)
        if self.history is not None:
            threading.Thread(
                target=self.learn_history, daemon=True, name="diracsh-history"
            ).start()

    def learn_history(self) -> None:
        """Offer the methods the history has called for completion.

        ``alias.method(...)`` lines add to that alias; plain ``method(...)``
        lines to every service that has no listMethods of its own (its
        methods are guesses from the catalog, or only the built-ins).
        """
        if self.history is None:
            return
        found: dict[str | None, set[str]] = {}
        for entry in self.history.load_history_strings():
            for statement in split_statements(entry):
                called = called_method(statement)
                if called is not None:
                    found.setdefault(called[0], set()).add(called[1])
        with self._lock:
            self._history_methods = found
            connections = list(self.connections.values())
        for connection in connections:
            if not connection.status.startswith("discovering"):
                self._add_history_methods(connection)

    def _add_history_methods(self, connection: Connection) -> None:
        names = set(self._history_methods.get(connection.alias, ()))
        if not connection.listed:
            names |= self._history_methods.get(None, set())
        if not names <= connection.seen:
            connection.seen = connection.seen | names

    def _start_discovery(self, connection: Connection) -> None:
        threading.Thread(
            target=self._discover,
            args=(connection,),
            daemon=True,
            name=f"diracsh-discover-{connection.alias}",
        ).start()

    def _discover(self, connection: Connection) -> None:
        """Fill the method cache: listMethods where the service has it, else the
        catalog of DIRAC's handlers, else the built-ins."""
        try:
            self._fill_methods(connection)
            self._add_history_methods(connection)
        finally:
            connection.discovered.set()
            if self.on_change is not None:
                self.on_change()

    def _fill_methods(self, connection: Connection) -> None:
        try:
            from diracsh.catalog import methods_for

            result = connection.client.listMethods()
            value = result.get("Value")
            listing = value if result.get("OK") and isinstance(value, dict) else None
            connection.methods = methods_for(
                connection.service_name or connection.url, listing
            )
            connection.listed = listing is not None
        except Exception as exc:  # a bug here must not end the session
            log.exception("discovery on %s failed", connection.url)
            connection.status = f"discovery failed: {exc}"
            return
        count = len(connection.methods)
        if listing is not None:
            connection.status = f"{count} methods"
        elif result.get("Errno") == 38 and count > len(BUILTIN_METHODS):
            connection.status = f"{count} methods from the catalog"
        elif result.get("Errno") == 38:
            connection.status = "built-ins only (no listMethods, not in the catalog)"
        else:
            connection.status = f"offline? {result.get('Message', '')[:80]}"

    def methods_of(self, connection: Connection) -> dict[str, dict[str, Any]]:
        """The connection's known methods; in a piped run, once discovered."""
        if self.wait_for_discovery:
            connection.discovered.wait()
        return connection.methods

    def connection(self, alias: str | None = None) -> Connection:
        name = alias or self.current
        if name is None or name not in self.connections:
            known = ", ".join(self.connections) or "none"
            if name is None:
                raise ParseError("no service connected: .connect URL first")
            raise ParseError(f"no service called {name!r} (connected: {known})")
        return self.connections[name]

    def connect_targets(self) -> list[str]:
        """What ``.connect`` may name: config aliases and configured services.

        The configured services are looked up once, in the background (it may
        ask the Configuration Server); until then only the aliases are offered.
        """
        with self._lock:
            if self._services is None:
                self._services = []
                threading.Thread(
                    target=self._load_services, daemon=True, name="diracsh-services"
                ).start()
            services = self._services
        return sorted(self.aliases) + sorted(services)

    def _load_services(self) -> None:
        from diracsh.client.resolve import known_services

        try:
            # The shell's credentials, if the Configuration Server is asked.
            found = sorted(
                known_services(https_only=True, client_options=self.defaults)
            )
        except Exception as exc:  # no configuration is normal: nothing to offer
            log.info("no configured services to complete: %s", exc)
            return
        with self._lock:
            self._services = found

    def method_names(self, alias: str | None = None) -> list[str]:
        try:
            connection = self.connection(alias)
        except ParseError:
            return []
        return connection.names()

    # -- running input -----------------------------------------------------

    def execute(self, line: str) -> None:
        """Run one statement; every failure becomes one red line."""
        try:
            parsed = parse_line(line)
            if isinstance(parsed, Call):
                self.call(parsed)
            elif isinstance(parsed, Command):
                self.command(parsed)
        except ExitShell:
            raise
        except ParseError as exc:
            self.failures += 1
            self.printer.error(str(exc))
        except KeyboardInterrupt:
            self.interrupted = True
            self.printer.error("cancelled")
        except Exception as exc:
            self.failures += 1
            log.exception("command failed: %s", redact(line))
            self.printer.error(
                f"internal error ({type(exc).__name__}: {exc}); see the log"
            )

    def call(self, call: Call) -> dict[str, Any]:
        connection = self.connection(call.alias)
        entry = self.methods_of(connection).get(call.method)
        if entry is not None and self.check_calls:
            from diracsh.catalog import check_call

            problem = check_call(entry, call.args, call.method)
            if problem is not None:
                raise ParseError(
                    f"{call.method}: not sent, {problem} (.check off sends it as is)"
                )
        started = time.perf_counter()
        client = connection.client
        # The status is per thread: read it in the worker that made the call.
        result, status = self.wait(
            lambda: (client.executeRPC(call.method, *call.args), client._last_status())
        )
        elapsed = (time.perf_counter() - started) * 1000
        refused_before_sending(result, status)
        if result.get("Errno") != errno.ENOSYS and call.method not in connection.seen:
            connection.seen = connection.seen | {call.method}  # offered by Tab now
        self._show(result, elapsed)
        self._record(result, elapsed / 1000)
        return dict(result)

    def _show(self, result: dict[str, Any], elapsed_ms: float) -> None:
        """Print a call's result; an S_ERROR counts as a failed statement."""
        if not result.get("OK"):
            self.failures += 1
        self.printer.result(result, elapsed_ms)

    def wait(
        self, job: Callable[[], Any], on_cancel: Callable[[], None] | None = None
    ) -> Any:
        """Run *job* in a worker; Ctrl-C stops waiting for it and returns to the prompt.

        The worker is a daemon thread: an abandoned call never holds up leaving.
        With *on_cancel*, Ctrl-C calls it and gives the job a moment to clean up
        (a transfer removes its partial file) before returning.
        """
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def work() -> None:
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the waiting thread
                future.set_exception(exc)

        threading.Thread(target=work, daemon=True, name="diracsh-call").start()
        try:
            return future.result()
        except KeyboardInterrupt:
            if on_cancel is not None:
                on_cancel()
                concurrent.futures.wait([future], timeout=_CLEANUP_SECONDS)
            raise

    # -- commands ----------------------------------------------------------

    def command(self, command: Command) -> None:
        handler = getattr(self, f"cmd_{command.name}", None)
        if handler is None:
            raise ParseError(f"unknown command .{command.name}: see .help")
        handler(command.argv)

    def cmd_help(self, argv: list[str]) -> None:
        if argv:
            self._help_method(argv[0])
            return
        self.printer.plain("Calls:    method(arg, ...)   alias.method(arg, ...)")
        self.printer.plain(
            "          arguments are Python literals, datetime(...), date(...), b'...'"
        )
        for text in COMMANDS.values():
            self.printer.plain(f"Command:  {text}")
        self.printer.plain("Keys:     Tab completes, Ctrl-C cancels, Ctrl-D leaves")

    def _help_method(self, name: str) -> None:
        command = name.lstrip(".")
        if command in COMMANDS:
            self.printer.plain(COMMANDS[command])
            return
        alias, _, method = name.rpartition(".")
        connection = self.connection(alias or None)
        info = self.methods_of(connection).get(method) or BUILTIN_METHODS.get(method)
        if info is None:
            raise ParseError(f"{connection.alias} has no known method {method!r}")
        self.printer.plain(signature(method, info))
        if info.get("doc"):
            self.printer.plain(f"    {info['doc']}")
        if info.get("auth"):
            self.printer.plain(f"    who may call: {', '.join(info['auth'])}")

    def cmd_exit(self, argv: list[str]) -> None:
        raise ExitShell()

    cmd_quit = cmd_exit

    def cmd_connect(self, argv: list[str]) -> None:
        if not argv:
            raise ParseError(COMMANDS["connect"])
        target, rest = argv[0], argv[1:]
        alias = None
        if len(rest) >= 2 and rest[0] == "as":
            alias, rest = rest[1], rest[2:]
        if alias is not None and not _ALIAS.fullmatch(alias):
            raise ParseError(
                f"alias {alias!r} cannot be typed before .method(): use letters, "
                "digits and _ - / @ : only"
            )
        options = parse_credential_flags(rest)
        replacing = alias in self.connections
        connection = self.connect(target, alias, check=True, **options)
        self.current = connection.alias
        verb = "replaced" if replacing else "added"
        self.printer.info(
            f"{verb} {connection.alias} -> {connection.url} "
            "(checked in the background: .services shows its state)"
        )

    def cmd_history(self, argv: list[str]) -> None:
        if self.history is None:
            raise ParseError("no history in a piped run")
        lines = list(reversed(list(self.history.load_history_strings())))
        numbered = list(enumerate(lines, start=1))
        text = " ".join(argv)
        if text and not text.isdigit():
            numbered = [(n, line) for n, line in numbered if text in line]
        else:
            numbered = numbered[-(int(text) if text else 20) :]
        for number, line in numbered:
            self.printer.plain(f"{number:>5}  {line}")

    def cmd_use(self, argv: list[str]) -> None:
        if len(argv) != 1:
            raise ParseError(COMMANDS["use"])
        self.current = self.connection(argv[0]).alias

    def cmd_disconnect(self, argv: list[str]) -> None:
        connection = self.connection(argv[0] if argv else None)
        connection.client._close()
        del self.connections[connection.alias]
        note = ""
        if self.current == connection.alias:
            self.current = next(iter(self.connections), None)
            note = f"; calls now go to {self.current}" if self.current else ""
        self.printer.info(f"disconnected {connection.alias}{note}")

    def cmd_services(self, argv: list[str]) -> None:
        if argv == ["--all"]:
            self._known_services()
            return
        if argv:
            raise ParseError(".services [--all]")
        if not self.connections:
            self.printer.plain("no service connected: .connect URL")
        for alias, connection in self.connections.items():
            mark = "*" if alias == self.current else " "
            verify = "verify on" if connection.verify else "VERIFY OFF"
            who = describe_credential(connection.options, full=True, issuer=False)
            self.printer.plain(
                f"{mark} {alias:<24} {connection.url}  [{who}; {verify}; "
                f"{connection.status}]"
            )

    def _known_services(self) -> None:
        """Every service the DIRAC configuration knows, with its URLs."""
        from diracsh.client.resolve import known_services, service_line

        try:
            problems: dict[str, str] = {}
            services = self.wait(
                lambda: known_services(client_options=self.defaults, problems=problems)
            )
        except LookupError as exc:
            raise ParseError(str(exc)) from exc
        for name, urls in sorted(services.items()):
            self.printer.plain(service_line(name, urls, 39, problems.get(name)))

    def cmd_methods(self, argv: list[str]) -> None:
        connection = self.connection()
        pattern = argv[0] if argv else "*"
        if not any(c in pattern for c in "*?["):
            pattern = f"*{pattern}*"
        methods = self.methods_of(connection)
        names = [
            n for n in connection.names() if fnmatch.fnmatch(n.lower(), pattern.lower())
        ]
        for name in names:
            info = methods.get(name) or BUILTIN_METHODS.get(name, {})
            doc = f"  - {info['doc']}" if info.get("doc") else ""
            self.printer.plain(f"{signature(name, info)}{doc}")
        if not names:
            self.printer.plain(f"no method matches {pattern!r} ({connection.status})")

    def cmd_whoami(self, argv: list[str]) -> None:
        connection = self.connection()
        self.printer.plain(
            f"local:  {describe_credential(connection.options, full=True)}"
        )
        result = self.wait(lambda: connection.client.whoami())
        self.printer.plain("server:")
        self.printer.result(result)

    def cmd_format(self, argv: list[str]) -> None:
        if len(argv) != 1 or argv[0] not in FORMATS:
            raise ParseError(f".format {'|'.join(FORMATS)} (now {self.printer.fmt})")
        self.printer.fmt = argv[0]

    def cmd_check(self, argv: list[str]) -> None:
        if argv not in (["on"], ["off"]):
            now = "on" if self.check_calls else "off"
            raise ParseError(f".check on|off (now {now})")
        self.check_calls = argv[0] == "on"
        self.printer.info(
            "calls are checked against the catalog before sending"
            if self.check_calls
            else "calls are sent without checking their arguments"
        )

    def close(self) -> None:
        for connection in self.connections.values():
            connection.client._close()
