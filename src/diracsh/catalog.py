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

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from diracsh.config import paths, private_dir
from diracsh.files import write_private
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

log = logging.getLogger("diracsh")

ENV_SOURCES = "DIRACSH_DIRAC_SOURCES"
CACHE_FORMAT = 1
_MAX_DEPTH = 8  # how far names are followed through imports and aliases

# -- what a catalog holds ----------------------------------------------------------


@dataclass
class Handler:
    """One handler module: the service it implements and its methods."""

    service: str  # System/Component, from the file name
    handler: str  # the class name
    file: str
    direct: int  # export_ functions defined in the module's own classes
    methods: dict[str, dict[str, Any]]  # with bases and mixins, without built-ins

    @property
    def https(self) -> bool:
        return self.service.split("/", 1)[1].startswith("Tornado")


@dataclass
class Catalog:
    """Handlers by ``System/Component``, and the files that could not be read."""

    sources: list[str]
    handlers: dict[str, Handler] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # file -> why
    files: list[str] = field(default_factory=list)  # every file read
    from_cache: bool = False

    def lookup(self, name: str) -> Handler | None:
        """The handler serving *name* over HTTPS: its Tornado twin when it has one."""
        system, _, component = name.strip("/").partition("/")
        plain = component.removeprefix("Tornado")
        for candidate in (f"Tornado{plain}", component, plain):
            handler = self.handlers.get(f"{system}/{candidate}")
            if handler is not None:
                return handler
        return None

    def services(self) -> list[str]:
        """The services' names, without the ``Tornado`` of their HTTPS handlers."""
        names = {_logical(name) for name in self.handlers}
        return sorted(names, key=str.lower)

    def methods(self, name: str) -> dict[str, dict[str, Any]]:
        """Built-ins and the handler's methods (the handler's win); {} if unknown."""
        handler = self.lookup(name)
        if handler is None:
            return {}
        merged = {**BUILTIN_METHODS, **handler.methods}
        for builtin, info in BUILTIN_METHODS.items():
            if not merged[builtin]["doc"]:  # DISET's ping has no docstring
                merged[builtin] = {**merged[builtin], "doc": info["doc"]}
        return {n: {**info, "name": n} for n, info in sorted(merged.items())}

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "handlers": {name: vars(h) for name, h in self.handlers.items()},
            "skipped": self.skipped,
            "files": self.files,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        handlers = {n: Handler(**h) for n, h in data["handlers"].items()}
        skipped, files = dict(data["skipped"]), list(data["files"])
        return cls(list(data["sources"]), handlers, skipped, files, from_cache=True)


def _logical(service: str) -> str:
    system, _, component = service.partition("/")
    return f"{system}/{component.removeprefix('Tornado')}"


# -- reading modules ---------------------------------------------------------------


@dataclass
class _Module:
    name: str
    path: Path
    classes: dict[str, ast.ClassDef]
    assigns: dict[str, ast.expr]  # module-level NAME = value
    imports: dict[str, str]  # local name -> dotted target


# What a name leads to: a module, a class or a value in a module, or nothing.
_Symbol = _Module | tuple[_Module, ast.ClassDef | ast.expr] | None


def _class_attrs(cls: ast.ClassDef) -> dict[str, ast.expr]:
    return _assignments(cls.body)


def _assignments(body: list[ast.stmt]) -> dict[str, ast.expr]:
    """``NAME = value`` statements of a module or class body."""
    attrs: dict[str, ast.expr] = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target: ast.expr = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        else:
            continue
        if isinstance(target, ast.Name) and node.value is not None:
            attrs[target.id] = node.value
    return attrs


def _parse_module(name: str, path: Path, is_package: bool) -> _Module:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    module = _Module(name, path, {}, {}, {})
    package = name if is_package else name.rpartition(".")[0]
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            module.classes[node.name] = node
        elif isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                module.imports[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module or "", node.level, package)
            for alias in node.names:
                module.imports[alias.asname or alias.name] = f"{base}.{alias.name}"
    module.assigns = _assignments(tree.body)
    return module


def _absolute(module: str, level: int, package: str) -> str:
    if not level:
        return module
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, module] if module else base)


class _Tree:
    """The modules of some top-level packages, parsed on demand and remembered."""

    def __init__(self, roots: Mapping[str, Path]) -> None:
        self.roots = dict(roots)
        self.read: set[Path] = set()
        self.skipped: dict[str, str] = {}
        self._modules: dict[str, _Module | None] = {}

    def module(self, name: str) -> _Module | None:
        if name not in self._modules:
            self._modules[name] = self._load(name)
        return self._modules[name]

    def _load(self, name: str) -> _Module | None:
        top, *rest = name.split(".")
        root = self.roots.get(top)
        if root is None:
            return None
        path = root.joinpath(*rest).with_suffix(".py") if rest else None
        is_package = path is None or not path.is_file()
        if is_package:
            path = root.joinpath(*rest, "__init__.py")
        assert path is not None
        if not path.is_file():
            return None
        self.read.add(path)
        try:
            return _parse_module(name, path, is_package)
        except (SyntaxError, ValueError, OSError) as exc:
            self.skip(path, exc)
            return None

    def skip(self, path: Path, exc: Exception) -> None:
        reason = _reason(exc)
        if str(path) not in self.skipped:
            log.warning("skipping %s: %s", path, reason)
        self.skipped[str(path)] = reason

    def symbol(self, module: _Module, expr: ast.expr, depth: int = 0) -> _Symbol:
        """What *expr* names in *module*; None when it leads out of the tree."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, ast.Name):
            return self._name(module, expr.id, depth)
        if not isinstance(expr, ast.Attribute):
            return None
        owner = self.symbol(module, expr.value, depth + 1)
        if isinstance(owner, _Module):
            return self._name(owner, expr.attr, depth)
        if owner and isinstance(owner[1], ast.ClassDef):
            value = _class_attrs(owner[1]).get(expr.attr)
            return (owner[0], value) if value is not None else None
        if owner and expr.attr == "value":  # an Enum member's value
            return owner
        return None

    def _name(self, module: _Module, name: str, depth: int) -> _Symbol:
        if name in module.classes:
            return (module, module.classes[name])
        if name in module.assigns:
            value = module.assigns[name]
            if isinstance(value, ast.Name | ast.Attribute):
                return self.symbol(module, value, depth + 1) or (module, value)
            return (module, value)
        target = module.imports.get(name)
        if target is None:
            return None
        found = self.module(target)
        if found is not None:
            return found
        owner_name, _, attr = target.rpartition(".")
        owner = self.module(owner_name) if owner_name else None
        return self._name(owner, attr, depth + 1) if owner is not None else None


def _reason(exc: Exception) -> str:
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg} (line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


# -- reading one handler -------------------------------------------------------------


def _lineage(
    tree: _Tree, module: _Module, cls: ast.ClassDef, seen: set[int] | None = None
) -> list[tuple[_Module, ast.ClassDef]]:
    """The class and its bases in the tree, in method-lookup order."""
    seen = set() if seen is None else seen
    seen.add(id(cls))
    order = [(module, cls)]
    for base in cls.bases:
        found = tree.symbol(module, base)
        if isinstance(found, tuple) and isinstance(found[1], ast.ClassDef):
            if id(found[1]) not in seen:
                order += _lineage(tree, found[0], found[1], seen)
        else:
            log.debug("%s: base %s is outside the tree", cls.name, ast.unparse(base))
    return order


def _methods(tree: _Tree, module: _Module, cls: ast.ClassDef) -> dict[str, Any]:
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    attrs: dict[str, tuple[_Module, ast.expr]] = {}
    for owner, klass in _lineage(tree, module, cls):
        for node in klass.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name.startswith("export_"):
                    functions.setdefault(node.name[len("export_") :], node)
        for name, value in _class_attrs(klass).items():
            attrs.setdefault(name, (owner, value))

    context = _Context(tree, attrs)
    return {
        name: _describe(function, context.types(name), context.auth(name))
        for name, function in sorted(functions.items())
    }


def _describe(
    function: ast.FunctionDef | ast.AsyncFunctionDef, types: list[str], auth: list[str]
) -> dict[str, Any]:
    spec = function.args
    params = [*spec.posonlyargs, *spec.args]
    static = any(
        isinstance(d, ast.Name) and d.id == "staticmethod"
        for d in function.decorator_list
    )
    if not static:
        params = params[1:]  # self or cls
    args = [p.arg for p in params]
    if spec.vararg is not None:
        args.append(f"*{spec.vararg.arg}")
    doc = (ast.get_docstring(function) or "").strip()
    return {
        "args": args,
        "types": types,
        "doc": doc.splitlines()[0].strip() if doc else "",
        "auth": auth,
        "required": max(0, len(params) - len(spec.defaults)),
    }


@dataclass
class _Context:
    """Evaluates ``types_`` and ``auth_`` values of one handler without running them."""

    tree: _Tree
    attrs: dict[str, tuple[_Module, ast.expr]]

    def types(self, method: str) -> list[str]:
        found = self.attrs.get(f"types_{method}")
        if found is None:
            return []
        names = self._type_list(*found, depth=0)
        if names is None:
            log.debug("types_%s: cannot read %s", method, ast.unparse(found[1]))
        return names or []

    def _type_list(
        self, module: _Module, expr: ast.expr, depth: int
    ) -> list[str] | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(expr, ast.List | ast.Tuple):
            return [self._type_name(module, element, depth) for element in expr.elts]
        if isinstance(expr, ast.BinOp):
            left = self._type_list(module, expr.left, depth + 1)
            if isinstance(expr.op, ast.Add):
                right = self._type_list(module, expr.right, depth + 1)
                return left + right if left is not None and right is not None else None
            count = expr.right
            if isinstance(expr.op, ast.Mult) and isinstance(count, ast.Constant):
                times = count.value if isinstance(count.value, int) else 0
                return left * times if left is not None else None
            return None
        value = self._value(module, expr)
        return self._type_list(*value, depth=depth + 1) if value else None

    def _value(
        self, module: _Module, expr: ast.expr
    ) -> tuple[_Module, ast.expr] | None:
        """A name's value: a class attribute of the handler, else through the tree."""
        if isinstance(expr, ast.Name) and expr.id in self.attrs:
            return self.attrs[expr.id]
        found = self.tree.symbol(module, expr)
        if isinstance(found, tuple) and isinstance(found[1], ast.expr):
            return found[0], found[1]
        return None

    def _type_name(self, module: _Module, expr: ast.expr, depth: int) -> str:
        if isinstance(expr, ast.Constant) and expr.value is None:
            return "any"
        if isinstance(expr, ast.List | ast.Tuple):
            return " | ".join(self._type_name(module, e, depth) for e in expr.elts)
        if isinstance(expr, ast.Call) and ast.unparse(expr) == "type(None)":
            return "NoneType"
        if isinstance(expr, ast.BinOp):  # [type(None)] + [str]: one of these
            names = self._type_list(module, expr, depth + 1)
            return " | ".join(names) if names is not None else ast.unparse(expr)
        if isinstance(expr, ast.Attribute):
            return expr.attr  # datetime.datetime -> datetime
        if isinstance(expr, ast.Name):
            value = self._value(module, expr) if depth < _MAX_DEPTH else None
            if value is not None and isinstance(value[1], ast.List | ast.Tuple):
                return self._type_name(value[0], value[1], depth + 1)
            return expr.id
        return ast.unparse(expr)

    def auth(self, method: str) -> list[str]:
        found = self.attrs.get(f"auth_{method}")
        if found is None:
            return []
        module, expr = found
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [p.strip() for p in expr.value.split(",") if p.strip()]
        if not isinstance(expr, ast.List | ast.Tuple):
            return [ast.unparse(expr)]
        return [self._text(module, element) for element in expr.elts]

    def _text(self, module: _Module, expr: ast.expr) -> str:
        """A string constant, followed through names, imports and Enum members."""
        node: tuple[_Module, ast.expr] | None = (module, expr)
        for _ in range(_MAX_DEPTH):
            if node is None:
                break
            if isinstance(node[1], ast.Constant) and isinstance(node[1].value, str):
                return node[1].value
            node = self._value(*node)
        return ast.unparse(expr)


# -- scanning a tree -----------------------------------------------------------------


def handler_files(root: Path) -> list[Path]:
    """``<System>System/Service/<Component>Handler.py`` files under *root*."""
    found = [
        path
        for path in root.rglob("*Handler.py")
        if path.parent.name == "Service"
        and path.parent.parent.name.endswith("System")
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]
    return sorted(found)


def _package_root(handler: Path) -> Path:
    """The top-level package directory above ``<System>System``."""
    top = handler.parents[2]
    while (top.parent / "__init__.py").is_file():
        top = top.parent
    return top


def _module_name(path: Path, top: Path) -> str:
    relative = path.relative_to(top.parent).with_suffix("")
    return ".".join(relative.parts)


def scan(
    sources: Sequence[Path], extra_roots: Mapping[str, Path] | None = None
) -> Catalog:
    """Scan the handler modules of *sources*, later sources overriding earlier.

    *extra_roots* (top-level package name -> directory) are searched for base
    classes only.
    """
    files = {source: handler_files(source) for source in sources}
    roots = dict(extra_roots or {})
    for found in files.values():
        roots.update({top.name: top for top in map(_package_root, found)})
    tree = _Tree(roots)
    catalog = Catalog([str(s) for s in sources])

    for found in files.values():
        for path in found:
            handler = _scan_handler(tree, path)
            if handler is not None:
                catalog.handlers[handler.service] = handler
    catalog.skipped = dict(sorted(tree.skipped.items()))
    catalog.files = sorted(str(p) for p in tree.read)
    return catalog


def _scan_handler(tree: _Tree, path: Path) -> Handler | None:
    top = _package_root(path)
    module = tree.module(_module_name(path, top))
    if module is None:
        return None  # unreadable: already recorded as skipped
    component = path.name.removesuffix("Handler.py")
    system = path.parent.parent.name.removesuffix("System")
    cls = module.classes.get(f"{component}Handler")
    if cls is None:
        tree.skip(path, LookupError(f"no class {component}Handler in it"))
        return None
    direct = sum(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("export_")
        for klass in module.classes.values()
        for node in klass.body
    )
    relative = str(path.relative_to(top.parent))
    methods = _methods(tree, module, cls)
    return Handler(f"{system}/{component}", cls.name, relative, direct, methods)


# -- sources and the cache -----------------------------------------------------------


def installed_sources() -> list[Path]:
    """DIRAC and its extensions, from package metadata (nothing is imported).

    ``$DIRACSH_DIRAC_SOURCES`` replaces the search. DIRAC comes first, so an
    extension's handler overrides DIRAC's of the same name.
    """
    explicit = os.environ.get(ENV_SOURCES)
    if explicit:
        return [Path(p).expanduser() for p in explicit.split(os.pathsep) if p]
    from importlib.metadata import entry_points

    found: dict[str, Path] = {}
    for point in entry_points(group="dirac"):
        top = point.module.split(".")[0]
        if point.dist is None:
            continue
        location = Path(str(point.dist.locate_file(top)))
        if location.is_dir():
            found[top] = location
    order = sorted(found, key=lambda name: (name != "DIRAC", name))
    return [found[name] for name in order]


def _fingerprint(files: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for name in sorted(set(files)):
        try:
            stat = os.stat(name)
            digest.update(f"{name}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
        except OSError:
            digest.update(f"{name}\0gone\n".encode())
    return digest.hexdigest()


def _cache_path(sources: Sequence[Path]) -> Path:
    key = hashlib.sha256("\n".join(map(str, sources)).encode()).hexdigest()[:16]
    return paths().cache / "catalog" / f"{key}.json"


def build_catalog(sources: Sequence[Path], *, refresh: bool = False) -> Catalog:
    """The catalog of *sources*: from the cache when no file changed, else scanned."""
    sources = [Path(s).resolve() for s in sources]
    for source in sources:
        if not source.is_dir():
            raise FileNotFoundError(
                f"{source} is not a directory: give a DIRAC source tree or "
                "installed package, e.g. .../site-packages/DIRAC"
            )
    handlers = [str(p) for source in sources for p in handler_files(source)]
    cache = _cache_path(sources)
    if not refresh:
        cached = _read_cached(cache, handlers)
        if cached is not None:
            return cached

    extra = {p.name: p for p in installed_sources() if p.is_dir()}
    catalog = scan(sources, extra)
    _write_cached(cache, catalog, _fingerprint([*handlers, *catalog.files]))
    return catalog


def _read_cached(cache: Path, handlers: list[str]) -> Catalog | None:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("format") != CACHE_FORMAT:
            return None
        if data["fingerprint"] != _fingerprint([*handlers, *data["files"]]):
            return None
        return Catalog.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable catalog cache %s: %s", cache, exc)
        return None


def _write_cached(cache: Path, catalog: Catalog, fingerprint: str) -> None:
    data = {"format": CACHE_FORMAT, "fingerprint": fingerprint, **catalog.to_json()}
    try:
        private_dir(cache.parent)
        write_private(cache, json.dumps(data))
    except OSError as exc:
        log.warning("cannot cache the catalog in %s: %s", cache, exc)


_default: Catalog | None = None
_default_lock = threading.Lock()


def default_catalog() -> Catalog:
    """The catalog of the installed DIRAC sources, built once per process."""
    global _default
    with _default_lock:
        if _default is None:
            sources = [s for s in installed_sources() if s.is_dir()]
            try:
                _default = build_catalog(sources) if sources else Catalog([])
            except (OSError, RecursionError) as exc:
                log.warning("no catalog from %s: %s", sources, exc)
                _default = Catalog([str(s) for s in sources])
        return _default


# -- for the shell -------------------------------------------------------------------


def methods_for(
    service_name: str,
    listing: Mapping[str, Any] | None,
    *,
    catalog: Catalog | None = None,
) -> dict[str, dict[str, Any]]:
    """The methods of a service, keyed by name, each with ``args``, ``types``,
    ``doc``, ``auth`` and ``name`` (and ``required`` when scanned).

    *listing* is the ``Value`` of the service's ``listMethods`` when it has
    one; otherwise the catalog (default: :func:`default_catalog`) is asked
    for *service_name*, a ``System/Component`` or an https URL. The built-ins
    are always there.
    """
    if listing is None:
        name = urlsplit(service_name).path if "://" in service_name else service_name
        found = (catalog or default_catalog()).methods(name)
        if found:
            return found
        listing = {}
    merged = {**BUILTIN_METHODS, **{str(n): _entry(i) for n, i in listing.items()}}
    return {name: {**info, "name": name} for name, info in sorted(merged.items())}


def _entry(info: Any) -> dict[str, Any]:
    """A listing entry with the catalog's keys and types, whatever was sent."""
    info = info if isinstance(info, Mapping) else {}
    doc = str(info.get("doc") or "").strip()
    entry = {
        key: [str(v) for v in info.get(key) or []] for key in ("args", "types", "auth")
    }
    return {**entry, "doc": doc.splitlines()[0] if doc else ""}


_TYPES: dict[str, type] = {
    t.__name__: t for t in (int, float, str, bytes, bool, list, dict, tuple, object)
}
_TYPES.update({"NoneType": type(None), "datetime": datetime, "date": date})


def check_call(
    entry: Mapping[str, Any], args: Sequence[Any], method: str | None = None
) -> str | None:
    """What DIRAC's type check would say about calling *entry* with *args*, or None.

    The values are checked as the server decodes them (a tuple arrives as a
    list). A type the catalog names but Python does not know is not checked.
    """
    name = method or str(entry.get("name") or "this method")
    types = list(entry.get("types") or [])
    for index, (want, arg) in enumerate(zip(types, args, strict=False)):
        allowed = _python_types(str(want))
        arrived = list(arg) if isinstance(arg, tuple) else arg
        if allowed is not None and not isinstance(arrived, allowed):
            return (
                f"Type mismatch in parameter {index} (starting with param 0) "
                f"Received {type(arrived)}, expected {want}"
            )

    minimum = max(len(types), int(entry.get("required") or 0))
    if len(args) < minimum:
        return f"Function {name} expects at least {minimum} arguments"
    params = [str(p) for p in entry.get("args") or []]
    if "args" in entry and not any(p.startswith("*") for p in params):
        if len(args) > len(params):
            names = f" ({', '.join(params)})" if params else ""
            return (
                f"Function {name} takes at most {len(params)} arguments{names}, "
                f"{len(args)} given"
            )
    return None


def _python_types(want: str) -> tuple[type, ...] | None:
    names = [part.strip() for part in want.split("|")]
    if "any" in names or any(n not in _TYPES for n in names):
        return None
    return tuple(_TYPES[n] for n in names)


# -- diracsh catalog [PATH] [SERVICE] ------------------------------------------------


def _catalog_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diracsh catalog",
        description="Build (and cache) the method catalog of DIRAC handler sources; "
        "summarise it, or show one service's methods.",
    )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="PATH|SERVICE",
        help="a DIRAC source tree or package directory (default: the installed "
        "DIRAC), then System/Component",
    )
    parser.add_argument("--refresh", action="store_true", help="scan again, no cache")
    return parser


def main_catalog(argv: list[str]) -> int:
    """``diracsh catalog [PATH] [SERVICE]``: exit 0 shown, 1 unknown service,
    2 usage, 3 no sources."""
    try:
        args = _catalog_parser().parse_args(argv)
        path, service = _split_targets(args.targets)
    except SystemExit as exc:
        return int(exc.code or 0)
    except ValueError as exc:
        _emit(f"diracsh catalog: {exc}", error=True)
        return 2

    sources = [path] if path is not None else installed_sources()
    if not sources:
        _emit(
            "diracsh catalog: no DIRAC sources found: install DIRAC in this "
            "environment, set DIRACSH_DIRAC_SOURCES, or give a PATH",
            error=True,
        )
        return 3
    started = time.monotonic()
    try:
        catalog = build_catalog(sources, refresh=args.refresh)
    except OSError as exc:
        _emit(f"diracsh catalog: {exc}", error=True)
        return 3
    how = "cached" if catalog.from_cache else "scanned"
    took = time.monotonic() - started
    _emit(f"# {', '.join(catalog.sources)} ({how}, {took:.2f} s)", error=True)
    if service is None:
        _print_summary(catalog)
        return 0
    return _print_service(catalog, service)


def _split_targets(targets: list[str]) -> tuple[Path | None, str | None]:
    if len(targets) > 2:
        raise ValueError("give at most a PATH and a SERVICE")
    if len(targets) == 2:
        return Path(targets[0]).expanduser(), targets[1]
    if not targets:
        return None, None
    target = targets[0]
    if Path(target).expanduser().is_dir() or target.startswith((".", "/", "~")):
        return Path(target).expanduser(), None
    return None, target


def _print_summary(catalog: Catalog) -> None:
    handlers = catalog.handlers.values()
    services = catalog.services()
    https = sum(1 for h in handlers if h.https)
    total = sum(len(catalog.methods(name)) for name in services)
    direct = sum(h.direct for h in handlers)
    _emit(
        f"{len(catalog.handlers)} handler modules with {direct} export_ methods "
        "defined in them directly"
    )
    _emit(
        f"{len(services)} services ({https} with an HTTPS handler), {total} methods "
        "counting mixins, bases and built-ins"
    )
    for path, reason in catalog.skipped.items():
        _emit(f"skipped {path}: {reason}")
    width = max((len(name) for name in services), default=0)
    for name in services:
        handler = catalog.lookup(name)
        assert handler is not None
        kind = "https" if handler.https else "dips only"
        count = len(catalog.methods(name))
        _emit(f"{name:<{width}}  {count:>3} methods  {kind:<9}  {handler.handler}")


def _print_service(catalog: Catalog, service: str) -> int:
    handler = catalog.lookup(service)
    if handler is None:
        close = difflib.get_close_matches(service, catalog.services(), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        _emit(f"diracsh catalog: no handler for {service}{hint}", error=True)
        return 1
    methods = catalog.methods(service)
    kind = "" if handler.https else "; no HTTPS handler: DIRAC serves it over dips://"
    _emit(
        f"{_logical(handler.service)}: {handler.handler} in {handler.file}, "
        f"{len(methods)} methods{kind}"
    )
    for name, info in methods.items():
        _emit(signature(name, info))
        if info.get("doc"):
            _emit(f"    {info['doc']}")
        if info.get("auth"):
            _emit(f"    who may call: {', '.join(info['auth'])}")
    return 0


def _emit(line: str, *, error: bool = False) -> None:
    print(line, file=sys.stderr if error else sys.stdout)  # noqa: T201 - CLI front end
