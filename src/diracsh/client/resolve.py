"""Resolving ``System/Component`` to the service's URLs.

Resolution through a DIRAC configuration (local ``dirac.cfg`` or the
Configuration Server) is not written yet: a bare name fails with a message
that says to give the full URL.
"""

from __future__ import annotations

__all__ = ["resolve_service_urls"]


def resolve_service_urls(name: str) -> list[str]:
    """The URLs of service *name* (``System/Component``); LookupError if unknown."""
    system, _, component = name.partition("/")
    if not system or not component or "/" in component:
        raise LookupError(
            f"{name!r} is neither an https:// URL nor a System/Component name"
        )
    raise LookupError(
        "diracsh cannot read a DIRAC configuration yet; give the service's full "
        f"URL, e.g. https://host:8443/{system}/{component}"
    )
