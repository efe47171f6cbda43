"""Scanning DIRAC handler sources: each handler's methods, types and authorisation.

See :mod:`diracsh.catalog` for which files are handlers and how their bases and
mixins are searched.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diracsh.catalog.model import Catalog, Handler
from diracsh.catalog.tree import _MAX_DEPTH, _class_attrs, _Module, _Tree

log = logging.getLogger("diracsh")


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
