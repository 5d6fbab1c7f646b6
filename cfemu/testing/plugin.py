"""cfemu's pytest plugin, registered through the ``pytest11`` entry point.

Fixtures:

- ``emulator``: a started :class:`cfemu.Emulator` for the project's wrangler config, on a
  :class:`~cfemu.clock.VirtualClock`, with fresh in-memory state per test and the D1
  migrations applied.
- ``env``: the primary Worker's ``env``.
- ``client``: an ``httpx.AsyncClient`` into the Worker's ``fetch`` (no socket).

Which config: the ``cfemu_config`` marker (``@pytest.mark.cfemu_config("path/wrangler.toml")``),
else the ``cfemu_config`` ini option, else the first ``wrangler.json``/``.jsonc``/``.toml``
found from the rootdir. The fixtures are async and run on anyio's pytest plugin (installed
with anyio); tests that use them are marked ``anyio`` automatically.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

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
        "markers", "cfemu_config(path): the wrangler config file the cfemu fixtures load"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if _FIXTURES.intersection(names) and item.get_closest_marker("anyio") is None:
            item.add_marker(pytest.mark.anyio)


def _config_path(request: pytest.FixtureRequest) -> Path:
    from cfemu.config import find_config

    marker = request.node.get_closest_marker("cfemu_config")
    root = Path(str(request.config.rootpath))
    if marker is not None and marker.args:
        path = Path(marker.args[0])
        return path if path.is_absolute() else root / path
    configured = str(request.config.getini("cfemu_config") or "")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else root / path
    return find_config(root)


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """A started emulator on a virtual clock, fresh in-memory state, migrations applied."""
    from cfemu.clock import VirtualClock
    from cfemu.emulator import Emulator

    path = _config_path(request)
    instance = Emulator.from_config(path, clock=VirtualClock())
    apply = str(request.config.getini("cfemu_apply_migrations")).lower() not in ("false", "0")
    async with instance:
        if apply:
            for db in instance.configs[0].d1_databases:
                if db.migrations_path(instance.configs[0].path.parent).is_dir():
                    await instance.apply_migrations(db.binding)
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
