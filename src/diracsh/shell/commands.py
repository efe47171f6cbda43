"""The shell's ``.commands``, each with its usage line (``.help`` shows them)."""

from __future__ import annotations

__all__ = ["COMMANDS"]

COMMANDS = {
    "help": ".help [method|command]  this help, or one method's or command's",
    "connect": ".connect TARGET [as ALIAS] [--proxy F | --cert F --key F | "
    "--token T] [--ca-dir D] [--timeout S] [--insecure]",
    "use": ".use ALIAS              make ALIAS the current service",
    "services": ".services [--all]       the connected services (--all: configured)",
    "disconnect": ".disconnect [ALIAS]     close a connection",
    "methods": ".methods [PATTERN]      the current service's methods",
    "whoami": ".whoami                 your credential, and the server's view",
    "format": ".format python|json|raw  how results are shown",
    "check": ".check on|off           check arguments against the catalog first",
    "get": ".get DEST [ARG ...]     download streamToClient(ARG ...) into DEST",
    "put": ".put FILE FILE_ID       upload FILE with sendFile (streamFromClient)",
    "record": ".record FILE|off        append every following call to a cassette",
    "replay": ".replay FILE [--diff]   make a cassette's calls again, compare results",
    "history": ".history [N|TEXT]       the last N (20) lines, or lines with TEXT",
    "exit": ".exit                   leave (Ctrl-D too)",
}
