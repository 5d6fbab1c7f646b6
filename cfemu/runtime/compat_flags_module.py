"""``_cloudflare_compat_flags``: the running Worker's compatibility flags, as workerd exposes them.

Inside a Python Worker, ``import _cloudflare_compat_flags`` gives a module whose attributes
are the enable names of compatibility flags: ``_cloudflare_compat_flags.python_no_global_handlers``
is ``True`` when the flag is on for this Worker (its date or its ``compatibility_flags``),
``False`` otherwise (spec: python-runtime.md §7). Cloudflare's Python SDK reads it; cfemu
answers from :mod:`cfemu.compat` for the Worker whose code is running.
"""

from __future__ import annotations

from cfemu.runtime._scope import current_compat

__all__: list[str] = []


def __getattr__(name: str) -> bool:
    """``True`` if the compatibility flag ``name`` is on for the running Worker."""
    if name.startswith("__"):
        raise AttributeError(name)
    return current_compat().enabled(name)
