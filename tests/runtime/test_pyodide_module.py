"""cfemu's ``pyodide`` package: ``pyodide.ffi``, ``pyodide.http`` and ``pyodide.code``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest

import cfemu.runtime.js_module as js
import cfemu.runtime.pyodide_module as pyodide
from cfemu._tasks import TaskTracker
from cfemu.clock import VirtualClock
from cfemu.errors import NotEmulatedError
from cfemu.runtime import Request, Worker
from cfemu.runtime.pyodide_module import ffi
from cfemu.runtime.pyodide_module.code import relaxed_call, relaxed_wrap
from cfemu.runtime.pyodide_module.http import (
    AbortError,
    BodyUsedError,
    FetchResponse,
    HttpStatusError,
    pyfetch,
)

pytestmark = pytest.mark.anyio


def test_to_js_converts_deeply_as_pyodide_0_28() -> None:
    converted = ffi.to_js({"a": [1, (2, 3)], "b": {"c": None}, "s": {1}, "raw": b"\x01"})
    assert isinstance(converted, ffi.JsMap) and converted.a[1].to_py() == [2, 3]
    assert converted.b.get("c") is None and isinstance(converted.s, ffi.JsSet)
    assert isinstance(converted.raw, ffi.JsBuffer) and converted.raw.to_bytes() == b"\x01"
    assert converted.to_py() == {
        "a": [1, [2, 3]],
        "b": {"c": None},
        "s": {1},
        "raw": memoryview(b"\x01"),
    }
    plain = ffi.to_js({"k": {"n": 1}}, dict_converter=js.Object.fromEntries)
    assert isinstance(plain, js.Object.new().__class__) and plain.k.n == 1
    assert ffi.to_js([[1]], depth=1)[0] == [1]  # one level only: the inner list stays Python
    assert ffi.to_js("s") == "s" and ffi.to_js(None) is None
    custom = ffi.to_js(object, default_converter=lambda value, convert, cache: "converted")
    assert custom == "converted"


def test_proxy_types_serve_isinstance_checks() -> None:
    assert isinstance(js.Array.of(1), ffi.JsArray) and isinstance(js.Array.of(1), ffi.JsProxy)
    assert isinstance(js.Uint8Array.new(1), ffi.JsTypedArray)
    assert isinstance(js.fetch, ffi.JsCallable)
    assert isinstance(js.Promise.resolve(1), ffi.JsPromise)
    assert isinstance(ffi.jsnull, ffi.JsNull) and not ffi.jsnull
    error = ffi.JsException("TypeError", "bad")
    assert isinstance(error, Exception) and isinstance(error, ffi.JsProxy)
    assert str(error) == "TypeError: bad" and error.stack.startswith("TypeError")
    assert issubclass(ffi.ConversionError, Exception) and ffi.IN_BROWSER is False


def test_create_proxy_and_destroy() -> None:
    calls: list[int] = []
    proxy = ffi.create_proxy(calls.append)
    proxy(1)
    proxy(2)
    assert calls == [1, 2] and proxy.unwrap() == calls.append and proxy.typeof == "function"
    ffi.destroy_proxies(js.Array.of(proxy))
    with pytest.raises(ffi.JsException, match="destroyed"):
        proxy(3)
    holder = ffi.create_proxy(io.BytesIO(b"abc"))
    assert holder.read() == b"abc" and holder.typeof == "object"


def test_a_once_callable_refuses_a_second_call() -> None:
    once = ffi.create_once_callable(lambda x: x + 1)
    assert once(1) == 2
    with pytest.raises(ffi.JsException, match=r"^Error: OnceProxy can only be called once$"):
        once(1)


def test_run_sync_needs_a_request() -> None:
    assert not ffi.can_run_sync()
    with pytest.raises(RuntimeError, match=r"^No suspender$"):
        ffi.run_sync(js.Promise.resolve(1))


def test_relaxed_call_drops_what_the_function_does_not_take() -> None:
    def two(a: int, b: int = 0, *, c: int = 0) -> tuple[int, int, int]:
        return (a, b, c)

    assert relaxed_call(two, 1, 2, 3, 4, c=5, d=6) == (1, 2, 5)
    assert relaxed_wrap(two)(7, 8, 9) == (7, 8, 0)
    assert relaxed_call(lambda *a, **k: (a, k), 1, x=2) == ((1,), {"x": 2})
    with pytest.raises(TypeError):
        relaxed_call(two)  # missing arguments still fail


def test_other_pyodide_names_are_not_emulated() -> None:
    assert pyodide.__version__.startswith("0.28")
    with pytest.raises(NotEmulatedError, match=r"pyodide\.webloop"):
        pyodide.webloop  # noqa: B018
    with pytest.raises(NotEmulatedError, match=r"pyodide\.code\.run_js"):
        exec("from cfemu.runtime.pyodide_module.code import run_js")


def _upstream(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("hello.txt", "hi")
        return httpx.Response(200, content=buffer.getvalue())
    status = 404 if request.url.path == "/missing" else 200
    headers = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "application/json")]
    return httpx.Response(status, headers=headers, content=b'{"n": 1}')


def _worker(tmp_path: Path, source: str, **env: object) -> Worker:
    (tmp_path / "entry.py").write_text(source)
    return Worker.load(
        tmp_path / "entry.py",
        name="w",
        env=env,
        clock=VirtualClock(),
        tracker=TaskTracker(),
        outbound=httpx.MockTransport(_upstream),
    )


async def test_pyfetch_response_reads_like_pyodides(tmp_path: Path) -> None:
    results: dict[str, object] = {}

    async def exercise() -> None:
        response = await pyfetch("https://up.example/data")
        results["status"] = (response.status, response.ok, response.status_text)
        results["headers"] = response.headers
        results["json"] = await response.clone().json()
        results["text"] = await response.clone().text()
        results["string"] = await response.clone().string()
        results["bytes"] = await response.clone().bytes()
        results["memoryview"] = bytes(await response.clone().memoryview())
        results["buffer"] = (await response.clone().buffer()).to_bytes()
        await response.text()
        try:
            await response.text()
        except BodyUsedError as exc:
            results["used"] = str(exc)
        missing = await pyfetch("https://up.example/missing")
        try:
            missing.raise_for_status()
        except HttpStatusError as exc:
            results["status_error"] = str(exc)
        archive = await pyfetch("https://up.example/zip")
        await archive.unpack_archive(extract_dir=str(tmp_path / "out"), format="zip")

    worker = _worker(
        tmp_path,
        "from workers import Response, WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        await self.env.RUN()\n"
        "        return Response('ran')\n",
        RUN=exercise,
    )
    assert await (await worker.fetch(Request("http://w/"))).text() == "ran"
    assert results["status"] == (200, True, "OK")
    assert results["headers"] == {"set-cookie": "a=1, b=2", "content-type": "application/json"}
    assert results["json"] == {"n": 1} and results["text"] == results["string"] == '{"n": 1}'
    assert results["bytes"] == results["memoryview"] == results["buffer"] == b'{"n": 1}'
    assert results["used"] == "Response body is already used"
    assert (
        results["status_error"] == "404 Client Error: Not Found for url: https://up.example/missing"
    )
    assert (tmp_path / "out" / "hello.txt").read_text() == "hi"
    assert issubclass(AbortError, OSError) and issubclass(HttpStatusError, OSError)
    assert isinstance(FetchResponse, type)


async def test_pyfetch_failure_is_an_abort_error(tmp_path: Path) -> None:
    worker = _worker(
        tmp_path,
        "from pyodide.http import pyfetch\n"
        "from workers import Response, WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        try:\n"
        "            await pyfetch('not-a-url://')\n"
        "        except OSError as exc:\n"
        "            return Response(type(exc).__name__)\n",
    )
    response = await worker.fetch(Request("http://w/"))
    assert await response.text() == "AbortError"
