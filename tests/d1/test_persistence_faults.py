"""Databases on disk, ``database_file`` and fault injection."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfemu._faults import FaultRule, Faults
from cfemu.d1 import database_file, open_database
from cfemu.errors import D1Error

pytestmark = pytest.mark.anyio


def test_database_file_is_under_the_d1_folder(tmp_path: Path) -> None:
    assert database_file(tmp_path, "a1b2-c3d4") == tmp_path / "d1" / "a1b2-c3d4.sqlite"
    assert database_file(str(tmp_path), "my_db.v2") == tmp_path / "d1" / "my_db.v2.sqlite"


@pytest.mark.parametrize("key", ["../escape", "a/b", "a b", "..", ".", "", "émoji😀", "x" * 300])
def test_unsafe_storage_keys_are_sanitized_and_stay_distinct(tmp_path: Path, key: str) -> None:
    path = database_file(tmp_path, key)
    assert path.parent == tmp_path / "d1"
    assert path.suffix == ".sqlite" and "/" not in path.name and len(path.name) < 100
    assert path.name not in ("..sqlite", "...sqlite")
    assert database_file(tmp_path, key) == path
    assert database_file(tmp_path, key + "!") != path


def test_keys_that_sanitize_alike_get_different_files(tmp_path: Path) -> None:
    assert database_file(tmp_path, "a/b") != database_file(tmp_path, "a b")


async def test_a_file_database_uses_wal_and_persists(tmp_path: Path) -> None:
    path = database_file(tmp_path, "db-id")
    db = open_database(path, binding="MAIN")
    assert db.path == path and db.binding == "MAIN"
    assert "MAIN" in repr(db)
    await db.exec("CREATE TABLE t (v)\nINSERT INTO t VALUES (42)")
    assert db._engine.trusted("PRAGMA journal_mode")[0][0] == "wal"
    db.close()
    assert path.is_file()
    again = open_database(path)
    try:
        assert await again.prepare("SELECT v FROM t").first("v") == 42
        assert await again.prepare("PRAGMA foreign_keys").first("foreign_keys") == 1
    finally:
        again.close()


async def test_an_in_memory_database_is_private_to_its_binding() -> None:
    a, b = open_database(None), open_database(None)
    try:
        await a.exec("CREATE TABLE t (v)")
        with pytest.raises(D1Error, match="no such table"):
            await b.prepare("SELECT * FROM t").all()
        assert a.path is None and "memory" in repr(a)
    finally:
        a.close()
        b.close()


def _network_lost() -> BaseException:
    return D1Error("Network connection lost.")


async def test_an_injected_fault_fails_the_statement_before_it_runs() -> None:
    faults = Faults()
    db = open_database(None, binding="DB", faults=faults)
    try:
        await db.exec("CREATE TABLE t (v)")
        faults.add(FaultRule("d1.statement", "DB", _network_lost, times=1))
        with pytest.raises(D1Error) as info:
            await db.prepare("INSERT INTO t VALUES (1)").run()
        assert str(info.value) == "D1_ERROR: Network connection lost."
        assert faults.counts[("d1.statement", "DB")] == 1
        assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 0
        await db.prepare("INSERT INTO t VALUES (1)").run()  # the fault is spent
        assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 1
    finally:
        db.close()


async def test_faults_apply_to_batch_exec_and_sessions_of_the_targeted_binding() -> None:
    faults = Faults()
    db = open_database(None, binding="DB", faults=faults)
    other = open_database(None, binding="OTHER", faults=faults)
    try:
        await db.exec("CREATE TABLE t (v)")
        faults.add(FaultRule("d1.statement", "DB", _network_lost, times=3))
        with pytest.raises(D1Error, match="Network connection lost"):
            await db.batch([db.prepare("INSERT INTO t VALUES (1)")])
        with pytest.raises(D1Error, match="Network connection lost"):
            await db.exec("INSERT INTO t VALUES (1)")
        with pytest.raises(D1Error, match="Network connection lost"):
            await db.withSession().prepare("INSERT INTO t VALUES (1)").run()
        await other.exec("SELECT 1")  # another binding is not targeted
        assert await db.prepare("SELECT count(*) AS n FROM t").first("n") == 0
    finally:
        db.close()
        other.close()
