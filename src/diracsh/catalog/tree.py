"""Reading the modules of a source tree with :mod:`ast`, never importing them.

Names are followed through imports, aliases and class attributes, up to
a few steps; a file that cannot be parsed is skipped, with a warning.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("diracsh")

_MAX_DEPTH = 8  # how far names are followed through imports and aliases


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
