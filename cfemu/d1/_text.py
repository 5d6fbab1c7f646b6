"""Text as JavaScript sees it: invalid UTF-8 and lone surrogates become U+FFFD."""

from __future__ import annotations

import functools
from typing import Any, Final

__all__ = ["UNDECODABLE", "lenient_text", "scrub"]

#: The start of ``sqlite3``'s error for TEXT that is not valid UTF-8.
UNDECODABLE: Final = "Could not decode to UTF-8"
#: Decodes TEXT as JavaScript does (workerd hands SQLite's bytes to V8): invalid UTF-8
#: becomes U+FFFD instead of failing. A C call, but ~0.2 µs per value more than ``str``, so
#: read-only queries use ``str`` and fall back to this only when a value needs it.
lenient_text: Final = functools.partial(str, encoding="utf-8", errors="replace")


def scrub(value: Any) -> Any:
    """Lone surrogates become U+FFFD, as JavaScript's UTF-8 encoding does."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value
