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
        default="true",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cfemu_config(*paths): the wrangler config file(s) the cfemu fixtures load "
        "(several paths: several Workers, the first one primary)",
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


def _resolve(request: pytest.FixtureRequest, value: str | Path) -> Path:
    path = Path(value)
    if path.is_absolute():
        return path
    at_root = Path(str(request.config.rootpath)) / path
    if at_root.exists():
        return at_root
    beside_test = Path(str(request.node.path)).parent / path
    return beside_test if beside_test.exists() else at_root


def _config_paths(request: pytest.FixtureRequest) -> list[Path]:
    from cfemu.config import find_config

    marker = request.node.get_closest_marker("cfemu_config")
    if marker is not None and marker.args:
        return [_resolve(request, arg) for arg in marker.args]
    configured = str(request.config.getini("cfemu_config") or "")
    if configured:
        return [_resolve(request, configured)]
    return [find_config(Path(str(request.config.rootpath)))]


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

    instance = Emulator.from_configs(_config_paths(request), clock=VirtualClock())
    apply = str(request.config.getini("cfemu_apply_migrations")).lower() not in ("false", "0")
    async with instance:
        if apply:
            await apply_all_migrations(instance)
        yield instance


@pytest.fixture
def env(emulator: Emulator) -> Env:
    """The primary Worker's ``env`` (bindings, vars and secrets by name)."""
    return emulator.env


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An ``httpx.AsyncClient`` whose requests go straight to the Worker's ``fetch``."""
    async with emulator.client() as http:
        yield http
