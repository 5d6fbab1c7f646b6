"""The binding-kind seam: the Emulator builds, orders and asks services it knows no name of."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

import cfemu.emulator
from cfemu import Emulator, VirtualClock
from cfemu.bindings import NOT_MINE, SERVICES, BindingService, NotMine, ServiceKind
from cfemu.config import WorkerConfig
from cfemu.errors import CfemuError

pytestmark = pytest.mark.anyio

calls: list[str] = []


class Thermometer:
    """A made-up binding: what a new kind's env entry could be."""

    def __init__(self, worker: str) -> None:
        self.worker = worker


class ThermometerService(BindingService):
    kind: ClassVar[str] = "thermometers"

    async def start(self) -> None:
        calls.append("start")

    def bindings_for(self, config: WorkerConfig) -> Mapping[str, object]:
        calls.append(f"bindings_for {config.name}")
        return {"THERMO": Thermometer(config.name)}

    def attach(self) -> None:
        calls.append(f"attach {sorted(self.ctx.workers)}")

    def begin(self) -> None:
        calls.append("begin")

    async def stop(self) -> None:
        calls.append("stop")

    async def aclose(self) -> None:
        calls.append("aclose")

    def fault_targets(self, point: str) -> Collection[str] | NotMine | None:
        return {"kitchen"} if point == "thermo.read" else NOT_MINE

    def busy(self) -> list[str]:
        return ["thermometer warming up"]


def _worker(tmp_path: Path) -> Path:
    (tmp_path / "worker.py").write_text(
        "from workers import Response, WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        return Response(self.env.THERMO.worker)\n"
    )
    config = tmp_path / "wrangler.toml"
    config.write_text('name = "kitchen"\nmain = "worker.py"\n')
    return config


@pytest.fixture
def with_thermometers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls.clear()
    entry = ServiceKind("thermometers", f"{__name__}:ThermometerService", lambda c: True)
    monkeypatch.setattr(cfemu.emulator, "SERVICES", (*SERVICES, entry))


@pytest.mark.usefixtures("with_thermometers")
async def test_a_registered_kind_runs_its_lifecycle_in_order_and_binds_env(
    tmp_path: Path,
) -> None:
    emulator = Emulator.from_config(_worker(tmp_path), clock=VirtualClock())
    async with emulator:
        async with emulator.client() as client:
            assert (await client.get("/")).text == "kitchen"
        assert emulator.service(ThermometerService).kind == "thermometers"
    assert calls == [
        "start",
        "bindings_for kitchen",
        "attach ['kitchen']",
        "begin",
        "stop",
        "aclose",
    ]


@pytest.mark.usefixtures("with_thermometers")
async def test_fault_targets_and_busy_parts_come_from_the_kind(tmp_path: Path) -> None:
    async with Emulator.from_config(_worker(tmp_path), clock=VirtualClock()) as emulator:
        rule = emulator.faults.arm("thermo.read", "kitchen", error=lambda: OSError("cold"))
        with pytest.raises(OSError, match="cold"):
            emulator.faults.check("thermo.read", "kitchen")
        assert rule.fired == 1
        with pytest.raises(ValueError, match=r"no thermo\.read target named 'garage'.*kitchen"):
            emulator.faults.arm("thermo.read", "garage", error=lambda: OSError("cold"))
        assert "thermometer warming up" in emulator._busy_summary()


async def test_a_kind_no_config_uses_is_not_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = ServiceKind("thermometers", f"{__name__}:ThermometerService", lambda c: False)
    monkeypatch.setattr(cfemu.emulator, "SERVICES", (*SERVICES, entry))
    emulator = Emulator.from_config(_worker(tmp_path), clock=VirtualClock())
    assert "thermometers" not in emulator.services
    with pytest.raises(CfemuError, match="no 'thermometers' bindings in this emulator's configs"):
        emulator.service(ThermometerService)
