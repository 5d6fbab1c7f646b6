"""Loading Workers and dispatching fetch, queue and scheduled events to ``Default``."""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.errors import WorkerError
from cfemu.runtime import ExecutionContext, Request, ScheduledController, Worker

pytestmark = pytest.mark.anyio

SAMPLE = Path(__file__).parent / "worker_files" / "sample.py"


@dataclass
class FakeMessage:
    body: Any
    acked: bool = False

    def ack(self) -> None:
        self.acked = True


@dataclass
class FakeBatch:
    """The shape of the broker's MessageBatch that a queue handler touches."""

    queue: str = "jobs"
    messages: list[FakeMessage] = field(default_factory=list)


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "entry.py"
    path.write_text(textwrap.dedent(source))
    return path


def load(
    main: Path | str, *, tracker: TaskTracker | None = None, dev_mode: bool = False, **env: Any
) -> Worker:
    return Worker.load(
        main,
        name="w",
        env=env,
        clock=VirtualClock(),
        tracker=TaskTracker() if tracker is None else tracker,
        dev_mode=dev_mode,
    )


NO_HANDLERS = "from workers import WorkerEntrypoint\nclass Default(WorkerEntrypoint): ...\n"


# --- loading ---------------------------------------------------------------------------
def test_load_sample_worker_finds_its_handlers() -> None:
    worker = load(SAMPLE, GREETING="hi", SEEN=[])
    assert worker.handlers == {"fetch", "queue", "scheduled"}
    assert worker.has_handler("queue") and not worker.has_handler("email")


def test_load_by_dotted_module_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "cfemu_test_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "entry.py").write_text(
        "from workers import WorkerEntrypoint, Response\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self):\n"
        "        return Response('dotted')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    worker = load("cfemu_test_pkg.entry")
    assert worker.module.__name__ == "cfemu_test_pkg.entry"


def test_missing_file_and_bad_names_are_worker_errors(tmp_path: Path) -> None:
    with pytest.raises(WorkerError, match="does not exist"):
        load(tmp_path / "missing.py")
    with pytest.raises(WorkerError, match="dotted module name"):
        load("not a module")
    with pytest.raises(WorkerError, match="importing module 'no_such_cfemu_module' failed"):
        load("no_such_cfemu_module")


def test_import_error_in_the_worker_is_one_message_with_the_users_line(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("X = 1\n\nraise ValueError('broken at import')\n")
    path = write(tmp_path, "import os\nimport helper\n")
    with pytest.raises(WorkerError) as info:
        load(path)
    assert str(info.value) == (
        f"Worker 'w': importing {path} failed: ValueError: broken at import\n"
        f"    at {tmp_path / 'helper.py'}:3: raise ValueError('broken at import')"
    )
    # No chain through importlib and cfemu: printed, it is just that message.
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_a_syntax_error_in_the_worker_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x = 1\ndef broken(:\n")
    with pytest.raises(WorkerError) as info:
        load(path)
    assert f"SyntaxError: invalid syntax\n    at {path}:2: def broken(:" in str(info.value)


def test_no_handler_at_all_names_what_was_found_and_why(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        async def on_fetch(request, env):
            pass

        def fetch(request, env):
            pass
        """,
    )
    with pytest.raises(WorkerError) as info:
        load(path)
    message = str(info.value)
    assert "`class Default(WorkerEntrypoint)`" in message
    assert "on_fetch() (ignored: python_no_global_handlers is on" in message
    assert "2025-08-14" in message
    assert "module-level fetch() (a plain module function is never a handler" in message


def test_no_default_and_nothing_else(tmp_path: Path) -> None:
    path = write(tmp_path, "X = 1\n")
    with pytest.raises(WorkerError, match="defines no WorkerEntrypoint subclass"):
        load(path)


def test_default_must_derive_from_worker_entrypoint(tmp_path: Path) -> None:
    path = write(tmp_path, "class Default:\n    async def fetch(self):\n        pass\n")
    with pytest.raises(WorkerError, match=r"must be a class deriving from workers\.WorkerEntry"):
        load(path)


async def test_sync_handler_methods_run(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            def fetch(self, request):
                return Response("sync")

            def queue(self, batch, env, ctx):
                batch.messages[0].ack()
        """,
    )
    worker = load(path)
    assert await (await worker.fetch(Request("http://w/"))).text() == "sync"
    batch = FakeBatch(messages=[FakeMessage("a")])
    await worker.queue(batch)
    assert batch.messages[0].acked


async def test_decorated_handler_returning_a_plain_value_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        import functools
        from workers import WorkerEntrypoint

        def decorate(fn):
            @functools.wraps(fn)
            def wrapper(*args):
                args[1].messages[0].ack()
                return None
            return wrapper

        class Default(WorkerEntrypoint):
            @decorate
            async def queue(self, batch, env, ctx):
                pass
        """,
    )
    batch = FakeBatch(messages=[FakeMessage("a")])
    await load(path).queue(batch)
    assert batch.messages[0].acked


# --- fetch -------------------------------------------------------------------------------
@pytest.mark.parametrize("signature", ["self", "self, request", "self, request, *rest"])
async def test_fetch_arities(tmp_path: Path, signature: str) -> None:
    path = write(
        tmp_path,
        f"""
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch({signature}):
                return Response("ok:" + ("request" in locals() and request.url or "-"))
        """,
    )
    response = await load(path).fetch(Request("http://w/x"))
    expected = "ok:-" if signature == "self" else "ok:http://w/x"
    assert await response.text() == expected


async def test_fetch_exception_is_a_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    worker = load(SAMPLE, GREETING="hi", SEEN=[])
    with caplog.at_level(logging.ERROR, logger="cfemu.runtime"):
        response = await worker.fetch(Request("http://w/boom"))
    assert response.status == 500
    body = await response.text()
    assert body == "Worker threw exception"
    assert "kaboom" not in body
    record = next(r for r in caplog.records if r.name == "cfemu.runtime")
    assert record.exc_info is not None and "kaboom" in str(record.exc_info[1])


async def test_fetch_exception_shows_traceback_in_dev_mode() -> None:
    worker = load(SAMPLE, dev_mode=True, GREETING="hi", SEEN=[])
    response = await worker.fetch(Request("http://w/boom"))
    body = await response.text()
    assert response.status == 500
    assert "Traceback" in body and "RuntimeError: kaboom" in body and "sample.py" in body


async def test_fetch_returning_a_non_response_is_a_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path,
        """
        from workers import WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return "plain string"
        """,
    )
    worker = load(path, dev_mode=True)
    response = await worker.fetch(Request("http://w/"))
    assert response.status == 500
    assert "fetch() must return a workers.Response, got str" in await response.text()


async def test_missing_fetch_handler_is_a_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path, "from workers import WorkerEntrypoint\nclass Default(WorkerEntrypoint): ...\n"
    )
    worker = load(path, dev_mode=True)
    response = await worker.fetch(Request("http://w/"))
    assert response.status == 500
    assert "Handler does not export a fetch() function." in await response.text()


async def test_request_body_over_the_limit_is_413_without_running_the_worker(
    tmp_path: Path,
) -> None:
    seen: list[str] = []
    worker = Worker.load(
        SAMPLE,
        name="w",
        env={"GREETING": "hi", "SEEN": seen},
        clock=VirtualClock(),
        tracker=TaskTracker(),
        max_request_body_bytes=4,
    )
    ok = await worker.fetch(Request("http://w/echo", method="POST", body=b"1234"))
    assert ok.status == 200
    too_big = await worker.fetch(Request("http://w/echo", method="POST", body=b"12345"))
    assert too_big.status == 413
    assert "limited to 4 bytes" in await too_big.text()


async def test_fresh_entrypoint_instance_per_event(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from workers import WorkerEntrypoint, Response

        class Default(WorkerEntrypoint):
            async def fetch(self):
                self.count = getattr(self, "count", 0) + 1
                return Response(str(self.count))
        """,
    )
    worker = load(path)
    texts = [await (await worker.fetch(Request("http://w/"))).text() for _ in range(3)]
    assert texts == ["1", "1", "1"]


# --- waitUntil ---------------------------------------------------------------------------
async def test_wait_until_runs_after_the_response_on_the_tracker() -> None:
    seen: list[str] = []
    tracker = TaskTracker()
    worker = load(SAMPLE, tracker=tracker, GREETING="hi", SEEN=seen)
    response = await worker.fetch(Request("http://w/wait"))
    assert response.status == 202
    assert seen == [] and len(tracker) == 1  # the response did not wait for the work
    await tracker.wait_idle()
    assert seen == ["after response"]


async def test_wait_until_failure_after_fetch_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(
        tmp_path,
        """
        from workers import WorkerEntrypoint, Response, wait_until

        async def fail():
            raise ValueError("background failure")

        async def fine(seen):
            seen.append("fine")

        class Default(WorkerEntrypoint):
            async def fetch(self):
                self.ctx.waitUntil(fail())
                wait_until(fine(self.env.SEEN))  # the module-level spelling
                return Response("ok")
        """,
    )
    seen: list[str] = []
    tracker = TaskTracker()
    worker = load(path, tracker=tracker, SEEN=seen)
    with caplog.at_level(logging.ERROR, logger="cfemu.runtime"):
        response = await worker.fetch(Request("http://w/"))
        await tracker.wait_idle()
    assert response.status == 200
    assert seen == ["fine"]  # one failure does not cancel the other work
    assert any("waitUntil() task failed" in r.getMessage() for r in caplog.records)


def test_wait_until_rejects_non_awaitables() -> None:
    ctx = ExecutionContext(TaskTracker())
    with pytest.raises(TypeError, match="expects a coroutine or awaitable, got int"):
        ctx.waitUntil(42)  # type: ignore[arg-type]
    ctx.passThroughOnException()
    assert ctx.pass_through_on_exception and ctx.props == {}


# --- queue -------------------------------------------------------------------------------
QUEUE_WORKER = """
from workers import WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def queue({signature}):
        for message in batch.messages:
            self.env.SEEN.append(message.body)
            message.ack()
        self.env.SEEN.append(("extra", {extra}))
"""


@pytest.mark.parametrize(
    ("signature", "extra", "expected"),
    [
        ("self, batch, env, ctx", "(env, ctx)", (None, None)),
        ("self, batch, env=None, ctx=None", "(env, ctx)", (None, None)),
        ("self, batch, *args", "args", (None, None)),
    ],
)
async def test_queue_arities_get_none_for_env_and_ctx(
    tmp_path: Path, signature: str, extra: str, expected: Any
) -> None:
    seen: list[Any] = []
    worker = load(write(tmp_path, QUEUE_WORKER.format(signature=signature, extra=extra)), SEEN=seen)
    batch = FakeBatch(messages=[FakeMessage("a"), FakeMessage("b")])
    await worker.queue(batch)
    assert seen == ["a", "b", ("extra", expected)]
    assert all(m.acked for m in batch.messages)


async def test_missing_queue_handler(tmp_path: Path) -> None:
    path = write(
        tmp_path, "from workers import WorkerEntrypoint\nclass Default(WorkerEntrypoint): ...\n"
    )
    worker = load(path)
    with pytest.raises(WorkerError, match=r"^Handler does not export a queue\(\) function\.$"):
        await worker.queue(FakeBatch())
    with pytest.raises(WorkerError, match=r"^Handler does not export a scheduled\(\) function\.$"):
        await worker.scheduled("* * * * *")


async def test_queue_handler_exception_propagates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from workers import WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def queue(self, batch, env, ctx):
                raise KeyError("bad message")
        """,
    )
    with pytest.raises(KeyError, match="bad message"):
        await load(path).queue(FakeBatch())


async def test_queue_waits_for_wait_until_and_a_failure_fails_the_batch(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from workers import WorkerEntrypoint

        async def step(seen, name, fail):
            seen.append(name)
            if fail:
                raise RuntimeError(f"{name} failed")

        class Default(WorkerEntrypoint):
            async def queue(self, batch, env=None, ctx=None):
                fail = batch.queue == "failing"
                self.ctx.waitUntil(step(self.env.SEEN, "first", fail))
                self.ctx.wait_until(step(self.env.SEEN, "second", False))
        """,
    )
    seen: list[str] = []
    worker = load(path, SEEN=seen)
    await worker.queue(FakeBatch(queue="fine"))
    assert sorted(seen) == ["first", "second"]  # both finished before queue() returned
    seen.clear()
    with pytest.raises(RuntimeError, match="first failed"):
        await worker.queue(FakeBatch(queue="failing"))
    assert sorted(seen) == ["first", "second"]


# --- scheduled -------------------------------------------------------------------------
async def test_scheduled_gets_a_controller_with_the_clock_time() -> None:
    seen: list[Any] = []
    worker = Worker.load(
        SAMPLE,
        name="w",
        env={"GREETING": "hi", "SEEN": seen},
        clock=VirtualClock(1_800_000_000.5),
        tracker=TaskTracker(),
    )
    controller = await worker.scheduled("*/5 * * * *")
    assert seen == [("scheduled", "*/5 * * * *", 1_800_000_000_500)]
    assert isinstance(controller, ScheduledController)
    assert (controller.type, controller.no_retry) == ("scheduled", False)
    when = datetime(2026, 3, 1, tzinfo=UTC)
    await worker.scheduled("0 0 * * *", when)
    assert seen[-1] == ("scheduled", "0 0 * * *", int(when.timestamp() * 1000))


async def test_scheduled_no_retry(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from workers import WorkerEntrypoint

        class Default(WorkerEntrypoint):
            async def scheduled(self, controller, env=None, ctx=None):
                controller.noRetry()
        """,
    )
    controller = await load(path).scheduled("* * * * *", 60.0)
    assert controller.no_retry and controller.scheduledTime == 60_000


async def test_empty_worker_handles_nothing() -> None:
    worker = Worker.empty(name="no-main", env={"A": "1"})
    assert worker.handlers == frozenset() and worker.env.A == "1"
    assert (await worker.fetch(Request("http://w/"))).status == 500
    with pytest.raises(WorkerError, match="queue"):
        await worker.queue(FakeBatch())


@pytest.mark.anyio
async def test_wait_until_work_cancelled_before_it_starts_is_closed_not_left_unawaited() -> None:
    from cfemu._tasks import TaskTracker
    from cfemu.runtime import ExecutionContext

    async def work() -> None:
        raise AssertionError("must not run")

    tracker = TaskTracker()
    ctx = ExecutionContext(tracker)
    coro = work()
    ctx.waitUntil(coro)
    await tracker.aclose()  # cancels the task before its first step
    assert coro.cr_frame is None  # closed: Python will not warn "never awaited"
