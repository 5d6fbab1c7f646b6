"""``cfemu ai models`` lists the catalogue, filters by task type, prints JSON."""

from __future__ import annotations

import json

import pytest

from cfemu.ai.catalogue import CATALOGUE
from cfemu.cli import main


def test_models_lists_every_catalogue_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ai", "models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "task", "output"]
    assert {line.split()[0] for line in lines[1:]} == set(CATALOGUE)


def test_models_filter_by_task_and_print_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ai", "models", "--task", "text embeddings", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    dims = {row["name"]: row["dimensions"] for row in rows}
    assert dims["@cf/baai/bge-small-en-v1.5"] == 384
    assert dims["@cf/baai/bge-large-en-v1.5"] == 1024
    assert all(row["task"] == "Text Embeddings" and row["input"]["required"] for row in rows)


def test_an_unknown_task_type_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ai", "models", "--task", "Dreaming"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("✘ [ERROR] no task type 'Dreaming'") and "Translation" in err


@pytest.mark.anyio
async def test_env_ai_models_lists_and_filters_the_catalogue() -> None:
    from cfemu.ai import AiBinding
    from cfemu.clock import VirtualClock

    ai = AiBinding(VirtualClock())
    everything = await ai.models()
    assert {m.name for m in everything} == set(CATALOGUE)
    embeddings = await ai.models({"task": "Text Embeddings"})
    assert embeddings and all(m.task.name == "Text Embeddings" for m in embeddings)
    found = await ai.models(search="whisper")
    assert {m.name for m in found} == {"@cf/openai/whisper", "@cf/openai/whisper-tiny-en"}
    assert len({m.id for m in everything}) == len(everything)
