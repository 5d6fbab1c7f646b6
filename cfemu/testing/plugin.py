"""cfemu's pytest plugin, registered through the ``pytest11`` entry point.

Fixtures:

- ``emulator``: a started :class:`cfemu.Emulator` for the project's wrangler config, on a
  :class:`~cfemu.clock.VirtualClock`, with fresh in-memory state per test and the D1
  migrations applied.
- ``env``: the primary Worker's ``env``.
- ``client``: an ``httpx.AsyncClient`` into the Worker's ``fetch`` (no socket).

Which config: the ``cfemu_config`` marker (``@pytest.mark.cfemu_config("path/wrangler.toml")``;
several paths make several Workers, the first one primary), else the ``cfemu_config`` ini
option, else the first ``wrangler.json``/``.jsonc``/``.toml`` found from the rootdir upwards.
Relative paths are resolved against the rootdir, else the test file's folder. The
``cfemu_apply_migrations`` ini option (default true) says whether the D1 migrations of every
Worker are applied.

The fixtures are async and run on anyio's pytest plugin (it ships with anyio): tests that use
them are marked ``anyio`` automatically (unless already marked ``asyncio``, for
pytest-asyncio). cfemu runs on asyncio; under anyio's ``trio`` backend the fixtures skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cfemu.errors import ConfigError, WorkerError

if TYPE_CHECKING:
    import httpx

    from cfemu.emulator import Emulator
    from cfemu.runtime.env import Env

__all__ = ["client", "emulator", "env"]

_FIXTURES = frozenset({"emulator", "env", "client"})


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("cfemu_config", "wrangler config file the cfemu fixtures load", default="")
    parser.addini(
        "cfemu_apply_migrations",
        "apply D1 migrations in the cfemu emulator fixture (true/false)",
        type="bool",
        default=True,
    )
    parser.addini(
        "cfemu_strict",
        "make a wrangler config key that wrangler does not know (a typo) an error (true/false)",
        type="bool",
        default=False,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cfemu_config(*paths): the wrangler config file(s) the cfemu fixtures load "
        "(several paths: several Workers, the first one primary)",
    )


def _parametrizes(metafunc: pytest.Metafunc, argname: str) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if isinstance(names, str):
            names = [name.strip() for name in names.split(",")]
        if argname in names:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # anyio's ``anyio_backend`` fixture is parametrized over every installed backend (trio
    # too, when it is installed): tests using cfemu's fixtures would run once per backend and
    # skip on all but asyncio. Run them on asyncio only, through the ``anyio_backend`` fixture
    # in force (indirectly, so a conftest override still decides the value), unless the test
    # parametrizes ``anyio_backend`` itself. Done as a parametrize mark so pytest's fixture
    # parametrization, which runs after this hook, gives way to it.
    if (
        _FIXTURES.intersection(metafunc.fixturenames)
        and "anyio_backend" in metafunc.fixturenames
        and not _parametrizes(metafunc, "anyio_backend")
    ):
        metafunc.definition.add_marker(
            pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if (
            _FIXTURES.intersection(names)
            and item.get_closest_marker("anyio") is None
            and item.get_closest_marker("asyncio") is None
        ):
            item.add_marker(pytest.mark.anyio)


def _resolve(value: object, bases: list[Path], source: str) -> Path:
    if not isinstance(value, str | Path) or not str(value):
        pytest.fail(
            f"{source}: expected a path to a wrangler config file, got {value!r}", pytrace=False
        )
    path = Path(value)
    candidates = [path] if path.is_absolute() else [base / path for base in bases]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    where = ", ".join(str(c) for c in dict.fromkeys(candidates))
    pytest.fail(
        f"{source}: config file {str(value)!r} not found (looked for {where})", pytrace=False
    )


def _config_paths(request: pytest.FixtureRequest) -> list[Path]:
    from cfemu.config import find_config

    root = Path(str(request.config.rootpath))
    marker = request.node.get_closest_marker("cfemu_config")
    if marker is not None:
        if not marker.args:
            pytest.fail(
                "@pytest.mark.cfemu_config(...) needs at least one config path", pytrace=False
            )
        beside = Path(str(request.node.path)).parent
        bases = [root, beside, *beside.parents]
        return [_resolve(arg, bases, "@pytest.mark.cfemu_config") for arg in marker.args]
    configured = str(request.config.getini("cfemu_config") or "")
    if configured:
        inipath = request.config.inipath
        bases = [Path(str(inipath)).parent] if inipath is not None else []
        return [_resolve(configured, [*bases, root], "ini option cfemu_config")]
    try:
        return [find_config(root)]
    except ConfigError as exc:
        pytest.fail(
            f"{exc.reason}; name one with @pytest.mark.cfemu_config(path) or the "
            "cfemu_config ini option",
            pytrace=False,
        )


@pytest.fixture
async def emulator(request: pytest.FixtureRequest, anyio_backend: Any) -> AsyncIterator[Emulator]:
    """A started emulator on a virtual clock, fresh in-memory state, migrations applied."""
    # Requesting ``anyio_backend`` puts every test using the fixtures (directly or through
    # other fixtures) under anyio's plugin at collection time, parametrization included.
    name = anyio_backend if isinstance(anyio_backend, str) else anyio_backend[0]
    if name != "asyncio":
        pytest.skip(f"cfemu's fixtures run on asyncio, not on anyio's {name!r} backend")
    from cfemu.clock import VirtualClock
    from cfemu.emulator import Emulator
    from cfemu.testing._reset import apply_all_migrations

    paths = _config_paths(request)
    strict = bool(request.config.getini("cfemu_strict"))
    failure = None
    try:
        instance = Emulator.from_configs(paths, clock=VirtualClock(), strict=strict)
        await instance.start()
    except (ConfigError, WorkerError) as exc:  # the project's code, not cfemu's: no traceback
        failure = f"cfemu could not start the Worker: {exc}"
    if failure is not None:  # outside the except block: one message, no exception chain
        pytest.fail(failure, pytrace=False)
    try:
        if request.config.getini("cfemu_apply_migrations"):
            await apply_all_migrations(instance)
        yield instance
    finally:
        await instance.aclose()


@pytest.fixture
def env(emulator: Emulator) -> Env:
    """The primary Worker's ``env`` (bindings, vars and secrets by name)."""
    return emulator.env


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` whose requests go straight to the Worker's ``fetch``."""
    async with emulator.client() as http:
        yield http
