"""Every handler form Cloudflare accepts, on both sides of the 2025-08-14 switch."""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.compat import resolve
from cfemu.errors import WorkerError
from cfemu.runtime import Request, ScheduledController, Worker

pytestmark = pytest.mark.anyio

OLD = "2025-08-13"  # the last day module-level handlers work by default
NEW = "2025-08-14"


@dataclass
class FakeMessage:
    body: Any
    acked: bool = False

    def ack(self) -> None:
        self.acked = True


@dataclass
class FakeBatch:
    queue: str = "jobs"
    messages: list[FakeMessage] = field(default_factory=list)


def load(tmp_path: Path, source: str, date: str | None, *flags: str, **env: Any) -> Worker:
    path = tmp_path / "entry.py"
    path.write_text(textwrap.dedent(source))
    return Worker.load(
        path,
        name="w",
        env=env,
        clock=VirtualClock(),
        tracker=TaskTracker(),
        compat=resolve(date, flags),
    )


async def body(worker: Worker, url: str = "http://w/x") -> tuple[int, str]:
    response = await worker.fetch(Request(url))
    return response.status, await response.text()


# --- module-level (legacy) handlers ------------------------------------------------------
LEGACY_FETCH = """
from workers import Response

{kind} on_fetch({signature}):
    seen = {seen}
    return Response(repr(seen))
"""


@pytest.mark.parametrize("kind", ["def", "async def"])
@pytest.mark.parametrize(
    ("signature", "seen", "expected"),
    [
        ("", "()", "()"),
        ("request", "(request.url,)", "('http://w/x',)"),
        ("request, env", "(request.url, env.NAME)", "('http://w/x', 'v')"),
        (
            "request, env, ctx",
            "(request.url, env.NAME, callable(ctx.waitUntil))",
            "('http://w/x', 'v', True)",
        ),
        ("*args", "(len(args),)", "(3,)"),
    ],
)
async def test_module_on_fetch_is_called_relaxed_before_the_cutoff(
    tmp_path: Path, kind: str, signature: str, seen: str, expected: str
) -> None:
    source = LEGACY_FETCH.format(kind=kind, signature=signature, seen=seen)
    worker = load(tmp_path, source, OLD, NAME="v")
    assert worker.handlers == {"fetch"} and worker.entrypoint is None
    assert await body(worker) == (200, expected)


async def test_module_on_queue_on_scheduled_and_test_before_the_cutoff(tmp_path: Path) -> None:
    seen: list[Any] = []
    worker = load(
        tmp_path,
        """
        def on_queue(batch, env):
            for message in batch.messages:
                env.SEEN.append(("queue", message.body))
                message.ack()

        async def on_scheduled(controller, env, ctx):
            env.SEEN.append(("scheduled", controller.cron))

        def test(controller, env):
            env.SEEN.append(("test", controller))
        """,
        OLD,
        SEEN=seen,
    )
    assert worker.handlers == {"queue", "scheduled", "test"}
    batch = FakeBatch(messages=[FakeMessage(1)])
    await worker.queue(batch)
    assert isinstance(await worker.scheduled("* * * * *"), ScheduledController)
    await worker.test()
    assert seen == [("queue", 1), ("scheduled", "* * * * *"), ("test", None)]
    assert batch.messages[0].acked
    assert (await worker.fetch(Request("http://w/"))).status == 500  # no on_fetch defined


async def test_module_on_fetch_is_ignored_from_the_cutoff(tmp_path: Path) -> None:
    source = "async def on_fetch(request):\n    pass\n"
    with pytest.raises(WorkerError) as info:
        load(tmp_path, source, NEW)
    message = str(info.value)
    assert "module-level on_fetch() (ignored: python_no_global_handlers is on" in message
    assert f"compatibility_date {NEW} is on or after 2025-08-14" in message


@pytest.mark.parametrize(
    ("date", "flags", "legacy"),
    [
        (OLD, (), True),
        (NEW, (), False),
        (None, (), False),  # no date: the newest
        (NEW, ("disable_python_no_global_handlers",), True),
        (OLD, ("python_no_global_handlers",), False),
    ],
)
async def test_the_global_handler_switch_follows_date_and_flags(
    tmp_path: Path, date: str | None, flags: tuple[str, ...], legacy: bool
) -> None:
    source = """
    from workers import Response, WorkerEntrypoint

    def on_fetch(request):
        return Response("module")

    class Other(WorkerEntrypoint):
        pass
    """
    worker = load(tmp_path, source, date, *flags)
    assert worker.compat.global_handlers is legacy
    assert await body(worker) == ((200, "module") if legacy else (500, "Worker threw exception"))


@pytest.mark.parametrize("date", [OLD, NEW])
async def test_plain_module_functions_are_never_handlers(tmp_path: Path, date: str) -> None:
    source = """
    from workers import Response

    async def fetch(request):
        return Response("plain")

    def queue(batch, env, ctx):
        pass
    """
    with pytest.raises(WorkerError) as info:
        load(tmp_path, source, date)
    message = str(info.value)
    assert "module-level fetch() (a plain module function is never a handler" in message
    assert "module-level queue() (a plain module function" in message
    assert ("name it on_fetch() or define it" in message) is (date == OLD)


async def test_legacy_fetch_unwraps_a_js_response_attribute(tmp_path: Path) -> None:
    worker = load(
        tmp_path,
        """
        from workers import Response

        class Wrapped:
            js_response = Response("unwrapped", status=201)

        def on_fetch(request):
            return Wrapped()
        """,
        OLD,
    )
    assert await body(worker) == (201, "unwrapped")


# --- the Default class ---------------------------------------------------------------------
DEFAULT_FETCH = """
from workers import Response, WorkerEntrypoint

def on_fetch(request):
    return Response("module")

class Default(WorkerEntrypoint):
    {kind} {method}(self, request):
        return Response("class")
"""


@pytest.mark.parametrize("kind", ["def", "async def"])
async def test_default_fetch_from_the_cutoff_wins_over_module_handlers(
    tmp_path: Path, kind: str
) -> None:
    worker = load(tmp_path, DEFAULT_FETCH.format(kind=kind, method="fetch"), NEW)
    assert await body(worker) == (200, "class")


async def test_default_fetch_before_the_cutoff_is_looked_up_as_on_fetch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cfemu.runtime"):
        worker = load(tmp_path, DEFAULT_FETCH.format(kind="def", method="fetch"), OLD)
    assert "Method on_fetch does not exist" in caplog.text and "2025-08-14" in caplog.text
    worker.dev_mode = True
    status, text = await body(worker)
    assert status == 500
    assert "TypeError: Method on_fetch does not exist" in text
    assert "cfemu: before compatibility date 2025-08-14" in text  # the note says why


async def test_default_on_fetch_before_the_cutoff_is_the_fetch_handler(tmp_path: Path) -> None:
    worker = load(tmp_path, DEFAULT_FETCH.format(kind="async def", method="on_fetch"), OLD)
    assert await body(worker) == (200, "class")  # and not the module's on_fetch
    newer = load(tmp_path, DEFAULT_FETCH.format(kind="async def", method="on_fetch"), NEW)
    assert not newer.has_handler("fetch")


async def test_default_on_queue_before_the_cutoff_fails_as_workerd_does(tmp_path: Path) -> None:
    source = """
    from workers import WorkerEntrypoint

    class Default(WorkerEntrypoint):
        def on_queue(self, batch, env, ctx):
            pass
    """
    worker = load(tmp_path, source, OLD)
    with pytest.raises(TypeError, match=r"^Method queue does not exist\n"):
        await worker.queue(FakeBatch())


@pytest.mark.parametrize("event", ["queue", "scheduled"])
async def test_queue_and_scheduled_are_called_strictly(
    tmp_path: Path, event: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = f"""
    from workers import WorkerEntrypoint

    class Default(WorkerEntrypoint):
        async def {event}(self, event):
            pass
    """
    with caplog.at_level(logging.WARNING, logger="cfemu.runtime"):
        worker = load(tmp_path, source, NEW)
    assert f"every {event} invocation will fail with TypeError" in caplog.text
    with pytest.raises(TypeError, match="takes 2 positional arguments but 4 were given") as info:
        if event == "queue":
            await worker.queue(FakeBatch())
        else:
            await worker.scheduled("* * * * *")
    assert any("env=None, ctx=None" in note for note in info.value.__notes__)


async def test_static_and_class_methods_are_not_handlers(tmp_path: Path) -> None:
    source = """
    from workers import Response, WorkerEntrypoint

    class Default(WorkerEntrypoint):
        @staticmethod
        def fetch(request):
            return Response("static")

        @classmethod
        def queue(cls, batch, env, ctx):
            pass

        def scheduled(self, controller, env, ctx):
            pass
    """
    worker = load(tmp_path, source, NEW)
    assert worker.handlers == {"scheduled"}


async def test_inherited_mixin_methods_are_handlers(tmp_path: Path) -> None:
    source = """
    from workers import Response, WorkerEntrypoint

    class Mixin:
        async def fetch(self):
            return Response("mixin")

    class Default(Mixin, WorkerEntrypoint):
        pass
    """
    assert await body(load(tmp_path, source, NEW)) == (200, "mixin")


async def test_named_entrypoints_without_default_load_with_no_handler(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = """
    from workers import WorkerEntrypoint

    def on_fetch(request):
        pass

    class Api(WorkerEntrypoint):
        async def fetch(self, request):
            pass
    """
    with caplog.at_level(logging.WARNING, logger="cfemu.runtime"):
        worker = load(tmp_path, source, NEW)
    assert worker.handlers == frozenset()
    assert "on_fetch() (ignored" in caplog.text
    assert (await worker.fetch(Request("http://w/"))).status == 500


async def test_handlers_see_their_workers_compat(tmp_path: Path) -> None:
    source = """
    from workers import Response, WorkerEntrypoint
    from cfemu.runtime._scope import current_compat

    class Default(WorkerEntrypoint):
        def fetch(self):
            compat = current_compat()
            return Response(f"{compat.date} {compat.python_version} {compat.js_null_is_none}")
    """
    assert await body(load(tmp_path, source, "2025-09-01")) == (200, "2025-09-01 3.12.1 True")
    assert await body(load(tmp_path, source, "2025-09-29")) == (200, "2025-09-29 3.13.2 False")


@pytest.mark.parametrize(
    ("date", "flags", "expected"),
    [
        (OLD, (), "False True False"),
        (NEW, ("nodejs_compat",), "True True True"),
        ("2024-01-01", ("python_no_global_handlers",), "True False False"),
    ],
)
async def test_cloudflare_compat_flags_module_answers_for_the_running_worker(
    tmp_path: Path, date: str, flags: tuple[str, ...], expected: str
) -> None:
    source = """
    from workers import Response, WorkerEntrypoint

    class Default(WorkerEntrypoint):
        def on_fetch(self):
            return self.fetch()

        def fetch(self):
            import _cloudflare_compat_flags as f

            on = (f.python_no_global_handlers, f.queues_json_messages, f.nodejs_compat)
            return Response(" ".join(map(str, on)))
    """
    assert await body(load(tmp_path, source, date, *flags)) == (200, expected)


@pytest.mark.parametrize("flags", [(), ("queue_consumer_no_wait_for_wait_until",)])
async def test_queue_waits_for_wait_until_unless_the_flag_says_not_to(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    source = """
    from workers import WorkerEntrypoint

    async def later(seen):
        seen.append("waitUntil ran")
        raise RuntimeError("waitUntil failed")

    class Default(WorkerEntrypoint):
        def queue(self, batch, env, ctx):
            self.ctx.waitUntil(later(self.env.SEEN))
    """
    seen: list[str] = []
    worker = load(tmp_path, source, NEW, *flags, SEEN=seen)
    if flags:
        await worker.queue(FakeBatch())  # the outcome is the handler's: it succeeded
        assert seen == []  # the waitUntil work was not waited for...
        await worker.tracker.wait_idle()
        assert seen == ["waitUntil ran"]  # ...but still ran
    else:
        with pytest.raises(RuntimeError, match="waitUntil failed"):
            await worker.queue(FakeBatch())
        assert seen == ["waitUntil ran"]


@pytest.mark.parametrize("date", [OLD, NEW])
async def test_default_test_method_is_called_relaxed_at_every_date(
    tmp_path: Path, date: str
) -> None:
    seen: list[Any] = []
    source = """
    from workers import WorkerEntrypoint

    def test(controller):  # module-level: a handler only before the cut-off, and Default wins
        raise AssertionError("not this one")

    class Default(WorkerEntrypoint):
        async def test(self, controller):
            self.env.SEEN.append(controller)
    """
    worker = load(tmp_path, source, date, SEEN=seen)
    assert worker.has_handler("test")
    await worker.test()
    assert seen == [None]
