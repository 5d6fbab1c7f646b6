"""``workers.gateway``: the options shared by the ASGI and WSGI adapters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = ["BaseOptions", "EncodeBody"]

EncodeBody = Literal["automatic", "manual"]


@dataclass(frozen=True, kw_only=True)
class BaseOptions:
    """``encode_body``: ``"automatic"`` (default) or ``"manual"`` (the app's body is sent
    as it is, already encoded per its ``Content-Encoding``)."""

    encode_body: EncodeBody = "automatic"

    def __post_init__(self) -> None:
        if self.encode_body not in get_args(EncodeBody):
            raise ValueError(
                f"encode_body must be one of {get_args(EncodeBody)}, got {self.encode_body!r}"
            )

    def response_init(self) -> dict[str, Any]:
        """Extra options for the response (``encodeBody`` when not automatic)."""
        return {} if self.encode_body == "automatic" else {"encodeBody": self.encode_body}
