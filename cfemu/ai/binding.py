"""``AiBinding``: the ``env.AI`` a Worker sees, answering locally, from user models or remotely.

Wrangler always sends ``env.AI.run`` to Cloudflare (there is no local simulator; spec:
workers-and-config.md §3.4). cfemu picks, per call:

1. a model registered with :meth:`AiBinding.register` for that exact model name;
2. else, with ``AiSettings(mode="remote")``, Cloudflare's REST API;
3. else the built-in deterministic stand-in (:mod:`cfemu.ai.local`), with the configured
   latency (waited on the emulator's clock) and failure rate (a seeded RNG).

Every call first consults fault injection (``faults.check("ai.run", model)``).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

from cfemu._faults import Faults
from cfemu._js import JsDict, check_rpc, to_js_dict
from cfemu.ai.inputs import CODE_BAD_INPUT, validate_model_name, validate_text_generation
from cfemu.ai.remote import RemoteAi
from cfemu.ai.run_local import check_options, local_result, needs_thread, validate_for_model
from cfemu.ai.settings import AiSettings
from cfemu.clock import Clock
from cfemu.errors import AiError, InferenceUpstreamError

__all__ = ["CODE_OUT_OF_CAPACITY", "AiBinding", "AiStats", "ModelRunner", "UserModel"]

#: Workers AI's internal code for "Out of capacity"; the built-in model fails with it.
CODE_OUT_OF_CAPACITY = 3040
#: How many recent latencies :meth:`AiBinding.stats` keeps.
RECENT_LATENCIES = 50


@runtime_checkable
class ModelRunner(Protocol):
    """An object that answers for a model: ``run(inputs)`` returning (or awaiting) the output."""

    def run(self, inputs: dict[str, Any], /) -> Any:
        """Answer ``inputs``: a ``dict`` (e.g. ``{"response": ...}``) or a ``str``."""


#: What :meth:`AiBinding.register` accepts: ``fn(inputs)`` (sync or async) or a ModelRunner.
UserModel = Callable[[dict[str, Any]], Any] | ModelRunner


@dataclass(frozen=True)
class AiStats:
    """A snapshot of the binding's recent activity (cfemu's own API, not Cloudflare's)."""

    mode: str
    calls: int
    succeeded: int
    failed: int
    in_flight: int
    calls_by_model: dict[str, int] = field(default_factory=dict)
    failures_by_model: dict[str, int] = field(default_factory=dict)
    recent_latencies: tuple[float, ...] = ()
    last_error: str | None = None

    @property
    def last_latency_seconds(self) -> float | None:
        """Latency of the most recent successful call, in seconds of the emulator's clock."""
        return self.recent_latencies[-1] if self.recent_latencies else None

    @property
    def average_latency_seconds(self) -> float | None:
        """Mean latency over :attr:`recent_latencies`, or ``None`` before any success."""
        if not self.recent_latencies:
            return None
        return sum(self.recent_latencies) / len(self.recent_latencies)


class AiBinding:
    """The Workers AI binding (``[ai] binding = "AI"``): ``await env.AI.run(model, inputs)``.

    ``clock`` times latency (under a ``VirtualClock`` the built-in model's latency costs no
    real time); ``faults`` is the emulator's fault switchboard; ``transport`` replaces the
    network for the REST mode (``httpx.MockTransport`` in tests); ``environ`` is where
    ``CLOUDFLARE_ACCOUNT_ID``/``CLOUDFLARE_API_TOKEN`` are read from (``os.environ``).
    """

    def __init__(
        self,
        clock: Clock,
        faults: Faults | None = None,
        settings: AiSettings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._clock = clock
        self._faults = faults
        self._transport = transport
        self._environ = os.environ if environ is None else environ
        self._models: dict[str, UserModel] = {}
        self._remote: RemoteAi | None = None
        self._settings = AiSettings()
        self._rng = random.Random()
        self._calls = 0
        self._succeeded = 0
        self._failed = 0
        self._in_flight = 0
        self._calls_by_model: Counter[str] = Counter()
        self._failures_by_model: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=RECENT_LATENCIES)
        self._last_error: str | None = None
        self._apply(settings or AiSettings())

    # --- configuration (cfemu API) ----------------------------------------------------------
    @property
    def settings(self) -> AiSettings:
        """The settings in force."""
        return self._settings

    @property
    def default_model(self) -> str:
        """``settings.default_model``: the model demos and probes name."""
        return self._settings.default_model

    def configure(self, **changes: Any) -> AiSettings:
        """Change settings while running, e.g. ``configure(fail_rate=0.5)``; returns the new ones.

        A changed ``seed`` restarts the failure RNG; changed credentials rebuild the client.
        """
        self._apply(AiSettings.model_validate({**self._settings.model_dump(), **changes}))
        return self._settings

    def _apply(self, settings: AiSettings) -> None:
        old = self._settings
        if settings.mode == "remote":
            account_id = settings.account_id or self._environ.get("CLOUDFLARE_ACCOUNT_ID")
            api_token = settings.api_token or self._environ.get("CLOUDFLARE_API_TOKEN")
            missing = [
                name
                for name, value in (
                    ("account_id (or CLOUDFLARE_ACCOUNT_ID)", account_id),
                    ("api_token (or CLOUDFLARE_API_TOKEN)", api_token),
                )
                if not value
            ]
            if missing:
                raise AiError(
                    "AiSettings(mode='remote') needs a Cloudflare "
                    + " and ".join(missing)
                    + "; set them in AiSettings or in the environment"
                )
            assert account_id is not None and api_token is not None
            self._remote = RemoteAi(
                account_id,
                api_token,
                base_url=settings.base_url,
                timeout_seconds=settings.timeout_seconds,
                transport=self._transport,
            )
        else:
            self._remote = None
        if settings.seed != old.seed or self._calls == 0:
            self._rng = random.Random(f"cfemu.ai:{settings.seed}")
        self._settings = settings

    def register(self, model: str, fn: UserModel) -> None:
        """Answer ``model`` with ``fn``: ``fn(inputs)`` (sync or async) or ``fn.run(inputs)``.

        The answer may be a ``dict`` (returned as the Worker's result) or a ``str``
        (returned as ``{"response": str}``). Registering a name again replaces it.
        """
        validate_model_name(model)
        if not callable(fn) and not isinstance(fn, ModelRunner):
            raise TypeError(
                f"register({model!r}, ...) needs a callable or an object with run(inputs), "
                f"got {type(fn).__name__}"
            )
        self._models[model] = fn

    def unregister(self, model: str) -> None:
        """Forget the model registered for ``model`` (a no-op if none is)."""
        self._models.pop(model, None)

    @property
    def registered_models(self) -> tuple[str, ...]:
        """Names of the user models, in registration order."""
        return tuple(self._models)

    # --- the Cloudflare-facing call --------------------------------------------------------
    async def run(
        self,
        model: str,
        inputs: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``model`` on ``inputs``; Cloudflare's ``env.AI.run(model, inputs, options?)``.

        Text generation takes ``{"prompt": str}`` or ``{"messages": [{"role", "content"}]}``
        and answers ``{"response": str, "usage": {...}}`` (a ``JsDict``); Responses-style
        ``{"input": ..., "instructions": ...}`` (``@cf/openai/gpt-oss-*``) gets a Responses
        object (``output_text``, ``output``, ``usage``). Keyword arguments
        are the ``options`` object, as Python Workers pass it (``gateway=...``); AI Gateway
        options are accepted and ignored locally.

        Raises ``InferenceUpstreamError`` (``"<code>: <message>"``) for invalid inputs and
        failed inference, like the binding on Cloudflare, and ``TypeError: <class 'tuple'>
        cannot be sent over RPC.`` for a tuple or bytearray anywhere in the arguments, as
        Cloudflare's Python SDK does.
        """
        for argument in (model, inputs, options, kwargs):
            check_rpc(argument)  # what Cloudflare's Python SDK refuses first (spec §2.2)
        model = validate_model_name(model)
        merged: dict[str, Any] = {**(options or {}), **kwargs}
        self._calls += 1
        self._in_flight += 1
        self._calls_by_model[model] += 1
        started = self._clock.now()
        try:
            if self._faults is not None:
                self._faults.check("ai.run", model)
            result = await self._dispatch(model, inputs, merged)
        except BaseException as exc:
            self._failed += 1
            self._failures_by_model[model] += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._in_flight -= 1
        self._succeeded += 1
        self._latencies.append(max(0.0, self._clock.now() - started))
        return result

    async def _dispatch(
        self, model: str, inputs: Mapping[str, Any] | None, options: dict[str, Any]
    ) -> Any:
        check_options(options)
        result = await self._answer(model, inputs, options)
        if options.get("returnRawResponse"):
            from cfemu.ai.stream import raw_response

            return raw_response(result)
        return result

    async def _answer(
        self, model: str, inputs: Mapping[str, Any] | None, options: dict[str, Any]
    ) -> Any:
        user_model = self._models.get(model)
        if user_model is not None:
            _validate_if_text(inputs)
            return await self._run_user_model(model, user_model, inputs)
        if self._remote is not None:
            if inputs is None:  # Workers AI has nothing to run: refuse it as the local model does
                raise InferenceUpstreamError(
                    f"{CODE_BAD_INPUT}: inputs must be an object such as {{'prompt': '...'}}, "
                    "got NoneType"
                )
            _validate_if_text(inputs)
            return _to_result(model, await self._remote.run(model, inputs, options))
        info, checked = validate_for_model(model, inputs)
        settings = self._settings
        if settings.latency_seconds > 0:
            await self._clock.sleep(settings.latency_seconds)
        if self._rng.random() < settings.fail_rate:
            raise InferenceUpstreamError(
                f"{CODE_OUT_OF_CAPACITY}: No more data centers to forward the request to "
                f"(cfemu local model, fail_rate={settings.fail_rate:g})"
            )
        now = int(self._clock.now())
        if needs_thread(info):  # a real model: seconds of CPU, kept off the event loop
            return await asyncio.to_thread(local_result, info, checked, settings.seed, now)
        return local_result(info, checked, settings.seed, now)

    @staticmethod
    async def _run_user_model(
        model: str, user_model: UserModel, inputs: Mapping[str, Any] | None
    ) -> Any:
        # Inputs cross the JS boundary on Cloudflare, so the model gets its own copy.
        arg: dict[str, Any] = to_js_dict(dict(inputs)) if inputs is not None else JsDict()
        target: Any
        run = getattr(user_model, "run", None)
        target = run if callable(run) else user_model
        answer = target(arg)
        if inspect.isawaitable(answer):
            answer = await _await(answer)
        return _to_result(model, answer)

    async def models(self, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """``env.AI.models(params?)``: the catalogue as ``[{id, source, name, description,
        task: {id, name, description}, tags, properties}]``, filtered by ``task`` (a task
        name) and ``search`` (a substring of the name). Ids are cfemu's (a UUID derived from
        the name), not Cloudflare's; ``properties`` holds ``max_input_tokens``-style facts
        cfemu does not know, so it is empty."""
        from cfemu.ai.catalogue import describe_models

        merged: dict[str, Any] = {**(params or {}), **kwargs}
        return to_js_dict(describe_models(merged.get("task"), merged.get("search")))

    # --- inspection (cfemu API) ------------------------------------------------------------
    def stats(self) -> AiStats:
        """Counts of calls, successes and failures, and recent latencies."""
        return AiStats(
            mode=self._settings.mode,
            calls=self._calls,
            succeeded=self._succeeded,
            failed=self._failed,
            in_flight=self._in_flight,
            calls_by_model=dict(self._calls_by_model),
            failures_by_model=dict(self._failures_by_model),
            recent_latencies=tuple(self._latencies),
            last_error=self._last_error,
        )

    async def aclose(self) -> None:
        """Release the REST client, if one was opened."""
        if self._remote is not None:
            await self._remote.aclose()

    def __repr__(self) -> str:
        models = ", ".join(self._models) or "none"
        return f"AiBinding(mode={self._settings.mode!r}, registered={models})"


async def _await(value: Awaitable[Any]) -> Any:
    return await value


def _validate_if_text(inputs: Mapping[str, Any] | None) -> None:
    """Validate text-generation fields when present; other shapes (embeddings...) pass."""
    if inputs is None:
        return
    if not isinstance(inputs, Mapping):
        raise InferenceUpstreamError(f"{CODE_BAD_INPUT}: inputs must be an object")
    if "prompt" in inputs or "messages" in inputs:
        validate_text_generation(inputs)


def _to_result(model: str, answer: Any) -> Any:
    if getattr(type(answer), "js_class", None) == "ReadableStream":
        return answer
    if isinstance(answer, str):
        return JsDict({"response": answer})
    if isinstance(answer, Mapping):
        return to_js_dict(dict(answer))
    if isinstance(answer, bytes | list):
        return to_js_dict(answer)
    raise AiError(
        f"model {model!r} answered with {type(answer).__name__}; expected a dict "
        "(e.g. {'response': ...}) or a str"
    )
