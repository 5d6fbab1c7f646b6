"""``cfemu kv ...`` on the same files the emulator uses (wrangler's verbs and flags)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cfemu import Emulator, VirtualClock
from cfemu.cli import main
from cfemu.kv import namespace_file

CONFIG = """\
name = "demo"
compatibility_date = "2026-01-01"

[[kv_namespaces]]
binding = "CACHE"
id = "cache-id"

[[kv_namespaces]]
binding = "SESSIONS"
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "wrangler.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_namespace_list_prints_the_configs_namespaces(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "kv", "namespace", "list")
    assert code == 0
    assert json.loads(out) == [
        {"id": "cache-id", "title": "CACHE"},
        {"id": "SESSIONS", "title": "SESSIONS"},
    ]


def test_put_get_list_delete_round_trip(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "kv", "key", "put", "greeting", "hello", "--binding", "CACHE",
        "--metadata", '{"by": "cli"}', "--ttl", "3600",
    )  # fmt: skip
    assert code == 0
    assert out.strip() == 'Writing the value "hello" to key "greeting" on namespace cache-id.'
    assert namespace_file(project / ".cfemu" / "state", "cache-id").exists()
    assert run(capsys, "kv", "key", "get", "greeting", "--binding", "CACHE", "--text")[1] == (
        "hello\n"
    )
    code, out, _ = run(capsys, "kv", "key", "list", "--namespace-id", "cache-id", "--local")
    [listed] = json.loads(out)
    assert listed["name"] == "greeting" and listed["metadata"] == {"by": "cli"}
    assert isinstance(listed["expiration"], int)
    code, out, _ = run(capsys, "kv", "key", "delete", "greeting", "--binding", "CACHE")
    assert out.strip() == 'Deleting the key "greeting" on namespace cache-id.'
    assert run(capsys, "kv", "key", "get", "greeting", "--binding", "CACHE")[1] == (
        "Value not found\n"
    )


def test_put_from_a_file_and_prefix_listing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "blob.bin").write_bytes(b"\x00\x01")
    _, out, _ = run(
        capsys, "kv", "key", "put", "a/1", "--path", "blob.bin", "--binding", "SESSIONS"
    )
    assert out.strip() == 'Writing the contents of blob.bin to the key "a/1" on namespace SESSIONS.'
    run(capsys, "kv", "key", "put", "b/1", "x", "--binding", "SESSIONS")
    _, out, _ = run(capsys, "kv", "key", "list", "--binding", "SESSIONS", "--prefix", "a/")
    assert [k["name"] for k in json.loads(out)] == ["a/1"]


def test_errors_are_cloudflares_and_name_the_problem(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "kv", "key", "put", "k", "v", "--binding", "CACHE", "--ttl", "10")
    assert code == 1
    assert (
        "KV PUT failed: 400 Invalid expiration_ttl of 10. Expiration TTL must be at least 60."
        in err
    )
    code, _, err = run(capsys, "kv", "key", "get", "k", "--binding", "NOPE")
    assert code == 1 and 'binding name "NOPE" was not found' in err
    code, _, err = run(capsys, "kv", "key", "get", "k")
    assert code == 1 and "--binding or --namespace-id" in err
    code, _, err = run(capsys, "kv", "key", "get", "k", "--binding", "CACHE", "--remote")
    assert code == 1 and "--remote is not supported" in err


def test_the_cli_writes_what_the_emulator_reads(project: Path) -> None:
    assert main(["kv", "key", "put", "k", "from-cli", "--binding", "CACHE"]) == 0
    state = project / ".cfemu" / "state"

    async def read() -> object:
        async with Emulator.from_config(
            project / "wrangler.toml", persist_to=state, clock=VirtualClock()
        ) as emulator:
            return await emulator.env.CACHE.get("k")

    assert asyncio.run(read()) == "from-cli"
