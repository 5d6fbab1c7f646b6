"""Workers AI over the Cloudflare API: ``POST /accounts/{account_id}/ai/run/{model}``.

The body is the model's input; the answer's ``result`` is what ``env.AI.run`` returns, from
the same local AI binding the Workers use (spec: rest-api.md §5).
"""

from __future__ import annotations

import re
from typing import Any

from cfemu.ai.binding import AiBinding
from cfemu.ai.stream import AiStream
from cfemu.api._http import ApiError, ApiRequest, ApiResponse, Router, ok
from cfemu.errors import AiError

__all__ = ["add_routes"]

_CODED = re.compile(r"^(\d{4,5}): (.*)$", re.DOTALL)


def add_routes(router: Router, binding: AiBinding) -> None:
    """Route ``/ai/run/{model}`` to ``binding``."""

    async def run(request: ApiRequest) -> ApiResponse:
        model = request.params["model"]
        inputs = request.json()
        if not isinstance(inputs, dict):
            raise ApiError(400, 5006, "the request body must be a JSON object of inputs")
        try:
            result: Any = await binding.run(model, inputs)
        except AiError as exc:
            raise _ai_error(exc) from None
        if isinstance(result, AiStream):  # image/png, or text/event-stream for stream: true
            return ApiResponse(
                200, result.to_bytes(), {"content-type": result.content_type}, raw=True
            )
        return ok(result)

    router.add("POST", "/accounts/{account_id}/ai/run/{model:path}", run)


def _ai_error(exc: AiError) -> ApiError:
    """Workers AI's ``<code>: <message>`` as an API error (input errors are 400)."""
    text = str(exc)
    found = _CODED.match(text)
    code = int(found.group(1)) if found else 5000
    message = found.group(2) if found else text
    if code in (5006, 5007) or 1000 <= code < 2000:
        return ApiError(400, code, message)
    return ApiError(500, code, message, retry=True)
