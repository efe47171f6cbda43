"""What a catalog holds: handlers by service, with their methods."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from diracsh.methods import BUILTIN_METHODS


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
