"""``import cfemu`` is lazy (issue 20): the package loads its parts on first use, and the
``cfemu`` command answers ``--version`` and ``--help`` without the emulator's dependencies.

Each check runs in a fresh interpreter: this test process has imported everything already.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cfemu

#: Third-party and stdlib packages that a bare ``import cfemu`` must not load.
HEAVY = ("pydantic", "pydantic_core", "httpx", "uvicorn", "aiosqlite", "watchfiles", "orjson",
         "asyncio", "sqlite3")  # fmt: skip
#: What the ``cfemu`` command must not load to print its version or help (sqlite3 is cheap).
CLI_HEAVY = tuple(name for name in HEAVY if name != "sqlite3")


def _modules_after(code: str) -> set[str]:
    """The top-level and ``cfemu.*`` modules loaded by running ``code`` in a new interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in names)


def test_import_cfemu_loads_no_submodule_and_no_heavy_dependency() -> None:
    modules = _modules_after("import cfemu")
    assert _loaded(modules, HEAVY) == []
    assert sorted(m for m in modules if m.startswith("cfemu.")) == []


def test_a_clock_costs_no_config_models_nor_http_client() -> None:
    modules = _modules_after("from cfemu import VirtualClock\nVirtualClock()")
    assert "cfemu.clock" in modules
    assert _loaded(modules, ("pydantic", "httpx", "uvicorn", "aiosqlite")) == []
    assert "cfemu.emulator" not in modules


def test_the_emulator_does_not_load_bindings_no_config_uses() -> None:
    modules = _modules_after("from cfemu import Emulator")
    assert "cfemu.emulator" in modules
    # Workers AI (httpx client, pydantic settings), KV, Durable Objects, the dev server:
    # imported by a config that uses them, never by the package itself.
    unused = ("cfemu.ai", "cfemu.kv", "cfemu.durable_objects", "cfemu.workflows", "cfemu.cli")
    assert sorted(m for m in modules if m.startswith(unused)) == []
    assert _loaded(modules, ("uvicorn", "watchfiles")) == []


def test_ai_settings_cost_no_ai_binding() -> None:
    """``cfemu dev`` reads ``AiSettings`` for every config; the binding is for [ai] configs."""
    modules = _modules_after("from cfemu.ai import AiSettings\nAiSettings()")
    assert "cfemu.ai.settings" in modules
    assert "cfemu.ai.binding" not in modules
    assert _loaded(modules, ("httpx",)) == []


def test_a_running_emulator_loads_only_the_kinds_its_config_uses(tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(
        "from workers import Response, WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        return Response('ok')\n"
    )
    config = tmp_path / "wrangler.toml"
    config.write_text('name = "lean"\nmain = "worker.py"\ncompatibility_date = "2026-01-01"\n')
    code = (
        "import asyncio\n"
        "from cfemu import Emulator, VirtualClock\n"
        "async def main():\n"
        f"    async with Emulator.from_config({str(config)!r}, clock=VirtualClock()) as emu:\n"
        "        async with emu.client() as client:\n"
        "            assert (await client.get('/')).text == 'ok'\n"
        "asyncio.run(main())\n"
    )
    modules = _modules_after(code)
    assert "cfemu.runtime.worker" in modules  # it did run the Worker
    unused = ("cfemu.ai.binding", "cfemu.kv", "cfemu.durable_objects", "cfemu.workflows",
              "cfemu.assets", "cfemu.cli", "cfemu.api", "cfemu.explorer")  # fmt: skip
    assert sorted(m for m in modules if m.startswith(unused)) == []
    assert _loaded(modules, ("uvicorn", "watchfiles")) == []


LAZY_PACKAGES = ["cfemu", "cfemu.ai"]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_public_name_resolves_to_its_module_object(package: str) -> None:
    import importlib

    lazy = importlib.import_module(package)
    sources: dict[str, str] = lazy._SOURCES
    assert set(sources) == set(lazy.__all__) - {"__version__"}
    for name, module in sources.items():
        assert getattr(lazy, name) is getattr(importlib.import_module(module), name), name
    assert set(dir(lazy)) >= set(lazy.__all__)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_type_checking_imports_match_the_runtime_map(package: str) -> None:
    """mypy reads the ``if TYPE_CHECKING`` imports; the runtime reads ``_SOURCES``: one list."""
    import importlib

    lazy = importlib.import_module(package)
    tree = ast.parse(Path(str(lazy.__file__)).read_text(encoding="utf-8"))
    guarded = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
    )
    typed = {
        alias.name: node.module
        for node in guarded.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert typed == lazy._SOURCES


def test_star_import_binds_every_public_name_and_unknown_names_fail() -> None:
    namespace: dict[str, object] = {}
    exec("from cfemu import *", namespace)
    assert set(cfemu.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        cfemu.NoSuchThing  # noqa: B018
    with pytest.raises(ImportError):
        exec("from cfemu import NoSuchThing", {})


def _cli(arg: str) -> tuple[str, set[str]]:
    code = (
        "import contextlib, io, sys\n"
        "from cfemu.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        f"    main([{arg!r}])\n"
        "print(json.dumps(out.getvalue()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + code + "print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    printed, modules = done.stdout.strip().splitlines()[-2:]
    return json.loads(printed), set(json.loads(modules))


def test_cfemu_version_loads_nothing_of_the_emulator() -> None:
    printed, modules = _cli("--version")
    assert printed == f"cfemu {cfemu.__version__}\n"
    assert _loaded(modules, CLI_HEAVY) == []
    assert sorted(m for m in modules if m.startswith("cfemu.")) == ["cfemu.cli", "cfemu.errors"]


def test_cfemu_help_lists_every_command_without_loading_the_emulator() -> None:
    printed, modules = _cli("--help")
    listed = re.findall(r"^ {4}([a-z0-9-]+)", printed, flags=re.MULTILINE)
    assert listed == ["dev", "d1", "durable-objects", "kv", "queues", "workflows", "ai"]
    assert _loaded(modules, CLI_HEAVY) == []
    loaded = sorted(m for m in modules if m.startswith("cfemu.") and not m.startswith("cfemu.cli"))
    assert loaded == ["cfemu._log", "cfemu.errors", "cfemu.limits"]


def test_the_version_shortcut_agrees_with_the_parser() -> None:
    from cfemu.cli import build_parser

    parser = build_parser()
    (action,) = [a for a in parser._actions if "--version" in a.option_strings]
    assert getattr(action, "version", None) == f"cfemu {cfemu.__version__}"
