"""Friction 5 of issue 15, on the real process: ``cfemu dev`` names the D1 migrations not
applied yet and the command that applies them; ``--apply-migrations`` applies them first,
with ``--in-memory`` too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.devproc import cfemu_dev, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CONFIG = """\
name = "notes"
main = "worker.py"
compatibility_date = "2026-11-01"

[[d1_databases]]
binding = "DB"
database_name = "notes-db"
"""

WORKER = """\
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        rows = await self.env.DB.prepare("SELECT count(*) AS n FROM notes").first("n")
        return Response(str(rows))
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "wrangler.toml").write_text(CONFIG)
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "migrations").mkdir()
    (tmp_path / "migrations" / "0001_notes.sql").write_text("CREATE TABLE notes (body TEXT);\n")
    (tmp_path / "migrations" / "0002_seed.sql").write_text("INSERT INTO notes VALUES ('a');\n")
    return tmp_path


async def test_dev_names_pending_migrations_and_the_command_that_applies_them(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    async with cfemu_dev(cwd=project) as dev:
        assert (
            "▲ [WARNING] D1 database notes-db (env.DB) has 2 migration(s) not applied: "
            "0001_notes.sql, 0002_seed.sql\n"
        ) in dev.lines
        hint = next(line for line in dev.lines if line.startswith("  apply them: "))
        command = hint.removeprefix("  apply them: ").split(" (or ")[0]
        assert command == "cfemu d1 migrations apply notes-db"
        async with dev.client() as http:
            assert (await http.get("/")).status_code == 500  # no such table, before
        status, out, err = run_cli(*command.split()[1:], cwd=project)
        assert status == 0, out + err
        async with dev.client() as http:
            assert (await http.get("/")).text == "1"  # the running dev sees the schema


async def test_apply_migrations_works_in_memory(tmp_path: Path) -> None:
    project = _project(tmp_path)
    async with cfemu_dev("--in-memory", "--apply-migrations", cwd=project) as dev:
        assert (
            "⎔ Applied 2 migration(s) to D1 database notes-db: 0001_notes.sql, 0002_seed.sql\n"
        ) in dev.lines
        async with dev.client() as http:
            assert (await http.get("/")).text == "1"
    assert "not applied" not in dev.output


async def test_in_memory_without_the_flag_points_at_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    async with cfemu_dev("--in-memory", cwd=project) as dev:
        assert "  apply them: restart with --apply-migrations (the state is in memory)\n" in (
            dev.lines
        )
