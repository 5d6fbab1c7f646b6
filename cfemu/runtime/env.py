"""``Env``: the object a Worker sees as ``self.env``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Env"]


class Env(Mapping[str, Any]):
    """Every binding, var and secret of one Worker, by its binding name.

    ``env.DB``, ``env.AI_QUEUE``, ``env.API_HOST``; a missing name raises ``AttributeError``
    naming it and listing the names that exist. It is also a read-only mapping, so
    ``"DB" in env`` and ``env["DB"]`` work.
    """

    __slots__ = ("_bindings",)

    def __init__(self, bindings: Mapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_bindings", dict(bindings or {}))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._bindings[name]
        except KeyError:
            if name.startswith("__") and name.endswith("__"):
                raise AttributeError(name) from None
            known = ", ".join(sorted(self._bindings)) or "none"
            raise AttributeError(
                f"env has no binding named {name!r}; bindings defined: {known}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"env is read-only (cannot set {name!r})")

    def __getitem__(self, name: str) -> Any:
        return self._bindings[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._bindings)

    def __len__(self) -> int:
        return len(self._bindings)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._bindings))

    def __repr__(self) -> str:
        return f"Env({', '.join(sorted(self._bindings))})"
