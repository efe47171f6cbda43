"""The catalog: the methods of a service, with their signatures.

Where the methods come from, best first:

* the service's own listing: diracsh's kit answers ``listMethods``;
* a static scan of DIRAC handler sources with :mod:`ast`, never importing
  them: an installed DIRAC and its extensions (found through the ``dirac``
  entry points in their package metadata), the trees in
  ``$DIRACSH_DIRAC_SOURCES`` (separated by ``os.pathsep``), or a tree given by
  path;
* the built-ins every DIRAC HTTPS service answers: ping, echo, whoami.

In a scanned tree, the class ``<Component>Handler`` of
``<System>System/Service/<Component>Handler.py`` is service
``<System>/<Component>``. Its methods are the ``export_`` functions of that
class and of its bases and mixins found in the scanned trees, the first
definition winning in the order Python's MRO gives for the single-base plus
mixins hierarchies DIRAC uses (left to right, depth first); ``types_<m>`` and
``auth_<m>`` are looked up the same way. Over HTTPS a service is served by its
Tornado twin (``Tornado<Component>Handler``) when it has one, so both names
give the twin's methods. A file that cannot be parsed is skipped, with a
warning. Catalogs are cached in the cache directory, keyed by their source
paths and checked against file modification times.
"""

from diracsh.catalog.cache import CACHE_FORMAT as CACHE_FORMAT
from diracsh.catalog.cache import ENV_SOURCES as ENV_SOURCES
from diracsh.catalog.cache import build_catalog, default_catalog, installed_sources
from diracsh.catalog.calls import check_call, methods_for
from diracsh.catalog.cli import main_catalog
from diracsh.catalog.model import Catalog, Handler
from diracsh.catalog.scanner import handler_files as handler_files
from diracsh.catalog.scanner import scan
from diracsh.methods import BUILTIN_METHODS, signature

__all__ = [
    "BUILTIN_METHODS",
    "Catalog",
    "Handler",
    "build_catalog",
    "check_call",
    "default_catalog",
    "installed_sources",
    "main_catalog",
    "methods_for",
    "scan",
    "signature",
]
