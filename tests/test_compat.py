"""Compatibility dates and flags resolve as workerd resolves them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfemu.compat import FLAGS, LATEST, resolve
from cfemu.errors import ConfigError


@pytest.mark.parametrize(
    ("flag", "date"),
    [(f.name, f.date) for f in FLAGS if f.date is not None],
)
def test_each_dated_flag_turns_on_on_its_date(flag: str, date: str) -> None:
    year, month, day = (int(x) for x in date.split("-"))
    day_before = (
        f"{year:04d}-{month:02d}-{day - 1:02d}" if day > 1 else f"{year:04d}-{month - 1:02d}-28"
    )
    assert not resolve(day_before).enabled(flag)
    assert resolve(date).enabled(flag)
    assert resolve(None).enabled(flag)  # no date: the newest


@pytest.mark.parametrize("info", [f for f in FLAGS if f.date and f.disable], ids=lambda f: f.name)
def test_disable_and_enable_flags_override_the_date(info: object) -> None:
    from cfemu.compat import Flag

    assert isinstance(info, Flag) and info.date and info.disable
    assert not resolve(info.date, [info.disable]).enabled(info.name)
    assert resolve("2000-01-01", [info.name]).enabled(info.name)


def test_contradictory_and_repeated_flags_are_refused() -> None:
    with pytest.raises(ConfigError, match="mutually contradictory: queues_json_messages vs no_"):
        resolve("2024-01-01", ["queues_json_messages", "no_queues_json_messages"])
    with pytest.raises(ConfigError, match="specified multiple times: nodejs_compat"):
        resolve("2024-01-01", ["nodejs_compat", "nodejs_compat"])


def test_unknown_flags_are_kept_and_change_nothing() -> None:
    compat = resolve("2024-01-01", ["nodejs_compat"])
    assert compat.enabled("nodejs_compat") and not compat.enabled("queues_json_messages")


@pytest.mark.parametrize(
    ("date", "flags", "pyodide", "python", "none_for_null"),
    [
        ("2025-09-28", (), "0.26.0a2", "3.12.1", True),
        ("2025-09-29", (), "0.28.2", "3.13.2", False),
        ("2025-12-01", ("no_python_workers_20250116",), "0.26.0a2", "3.12.1", True),
        ("2024-01-01", ("python_workers_20250116",), "0.28.2", "3.13.2", False),
        ("2026-09-07", (), "0.28.2", "3.13.2", False),
        ("2026-09-08", (), "314.0.4", "3.14.2", False),
        ("2025-01-01", ("python_workers_20260610",), "314.0.4", "3.14.2", False),
        ("2026-10-01", ("python_workers_20260817",), "314.0.5", "3.14.2", False),
    ],
)
def test_the_python_version_flag_with_the_highest_precedence_wins(
    date: str, flags: tuple[str, ...], pyodide: str, python: str, none_for_null: bool
) -> None:
    compat = resolve(date, ("python_workers", *flags))
    assert (compat.pyodide_version, compat.python_version) == (pyodide, python)
    assert compat.js_null_is_none is none_for_null


def test_why_names_the_flag_the_date_and_the_switch() -> None:
    assert resolve("2025-01-01").why("python_no_global_handlers") == (
        "python_no_global_handlers is off: compatibility_date 2025-01-01 is before 2025-08-14"
    )
    assert "turn it off with disable_python_no_global_handlers" in resolve("2026-01-01").why(
        "python_no_global_handlers"
    )


@given(
    st.dates().map(lambda d: d.isoformat()),
    st.lists(st.sampled_from([n for f in FLAGS for n in (f.name, f.disable) if n]), unique=True),
)
def test_resolution_is_monotonic_in_the_date(date: str, flags: list[str]) -> None:
    """With the same flags, a later date never turns a dated flag off."""
    try:
        earlier, later = resolve(date, flags), resolve(LATEST, flags)
    except ConfigError:
        return
    dated = {f.name for f in FLAGS if f.date or f.implied_by}
    assert earlier.flags & dated <= later.flags


def test_the_docs_table_lists_every_flag_cfemu_honours() -> None:
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "compatibility.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    for info in FLAGS:
        row = next((r for r in rows if r.startswith(f"| `{info.name}` /")), None)
        assert row is not None, f"{info.name} missing from docs/compatibility.md"
        if info.disable:
            assert f"`{info.disable}`" in row
        if info.date:
            assert f"| {info.date} |" in row
