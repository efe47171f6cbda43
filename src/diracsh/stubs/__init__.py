"""Stubs and cassettes: recorded DIRAC calls, kept in a file, matched and replayed.

A *stub* is DIRAC's ``((serviceName, kwargs), method, args)``, which
``executeRPC`` attaches to every result as ``rpcStub``. A *cassette* is a
pretty-printed JSON file of entries, each a stub with its recorded result::

    {"diracsh_cassette": 1, "entries": [{
        "stub": [["https://h:8443/Demo/Jobs", {"timeout": 600}], "getJobStatus", [12]],
        "result": {"OK": true, "Value": {"12": "Running"}},
        "time": 0.0031, "recorded": "2024-05-01T10:00:00+00:00"}]}

Values are written in DIRAC's JSON dialect, so datetimes, dates and bytes come
back exactly as they travelled (see :mod:`diracsh.jencode`).

* **Secrets never reach the file.** Stub keywords that hold credentials
  (``proxyString``, ``proxyChain``, ``accessToken``, ``passwordCallback``, a
  string under a password- or token-like name, anything with PEM text, a
  bearer token or a JWT) are dropped. In arguments and results, private-key PEM
  blocks, JWTs, ``Bearer`` values, strings under secret-like keys and the
  secrets the caller names are replaced by :data:`REDACTED`. ``rpcStub`` keys
  inside results are removed.
* **Files are written 0600 and atomically**: a temporary file beside the
  cassette replaces it, so a reader, an error or Ctrl-C never sees half a file.
  Appending rewrites the whole file the same way, under a lock on the
  directory, so two writers lose no entry.
* **Matching** (:func:`match`) compares the service path (``System/Component``,
  so another host or port still matches), the method and the arguments as the
  server decodes them: key order and spacing do not matter, ``1`` and ``"1"``
  do. A call that matches nothing raises :class:`NoMatch`, naming the closest
  recorded call and the first argument that differs.
* **Replaying** (:func:`replay_cassette`) runs each stub again against live
  services with the *caller's* credentials; security options in the file
  (``skipCACheck``, ``proxyLocation``, delegation, ...) are never used.
  Results are compared whole: a replayed ``ping`` is ``different``, because
  its time, uptime and load changed.

Errors: :class:`CassetteError` (a file that cannot be read, parsed or written,
or a value that cannot be stored) and :class:`NoMatch` (a call not recorded).
"""

from diracsh.stubs.entry import CassetteError, Entry, NoMatch, service_path
from diracsh.stubs.entry import Stub as Stub
from diracsh.stubs.entry import call_text as call_text
from diracsh.stubs.matching import explain_miss as explain_miss
from diracsh.stubs.matching import first_difference, match, matching_indices
from diracsh.stubs.redaction import REDACTED, make_entry, secrets_of
from diracsh.stubs.redaction import clean_kwargs as clean_kwargs
from diracsh.stubs.redaction import entry_from_result as entry_from_result
from diracsh.stubs.redaction import redact as redact
from diracsh.stubs.redaction import wire_form as wire_form
from diracsh.stubs.replay import Client as Client
from diracsh.stubs.replay import (
    ClientPool,
    Outcome,
    calls,
    replay_cassette,
    replay_entry,
    summary,
)
from diracsh.stubs.replay import ClientSource as ClientSource
from diracsh.stubs.replay import result_diff as result_diff
from diracsh.stubs.store import FORMAT_KEY as FORMAT_KEY
from diracsh.stubs.store import FORMAT_VERSION as FORMAT_VERSION
from diracsh.stubs.store import Recorder, append, load, save
from diracsh.stubs.store import dumps as dumps
from diracsh.stubs.store import loads as loads

__all__ = [
    "REDACTED",
    "CassetteError",
    "ClientPool",
    "Entry",
    "NoMatch",
    "Outcome",
    "Recorder",
    "append",
    "calls",
    "first_difference",
    "load",
    "make_entry",
    "match",
    "matching_indices",
    "replay_cassette",
    "replay_entry",
    "save",
    "secrets_of",
    "service_path",
    "summary",
]
