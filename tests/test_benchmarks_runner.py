"""The parser behind ``python -m benchmarks``'s table (benchmarks/_summary.py): it must find
every ratio a benchmark prints, with the target and verdict of each. No benchmark runs here."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from benchmarks._summary import ratios, summarise, table

D1_TABLE = """\
2,000 operations each, best of 2 interleaved runs, thread CPU time
case            sqlite3 ops/s    cfemu ops/s   ratio  target
point select          360,381         97,450   27.0%  >= 20% ok
single insert         331,425         61,935   18.7%  -
batch insert          625,730        302,848   48.4%  >= 50% MISSED

a line after the table with 3% in it
"""

HTTP = """\
c=1   cfemu dev:      2,147 requests/s
c=1   bare app:       2,600 requests/s
c=1   ratio:            83%  (meets the 80% target)
c=50  cfemu dev:      1,900 requests/s
c=50  bare app:       2,700 requests/s
c=50  ratio:            70%  (MISSES the 80% target)
"""

QUEUES = """\
messages: 2000, best of 1 rounds
bare asyncio loop, batches of 100:      1,234,567 msg/s
cfemu sendBatch/ack, batches of 100:      345,678 msg/s
ratio cfemu / bare:                         28.0%  (target >= 20%: OK)
latency send -> handler (real clock, max_batch_timeout=0): median 140 us, p99 310 us
send path, flat bodies (send + sendBatch, CPU): 900,000 msg/s; the RPC value check is 3.1% \
of it (target < 5% for flat bodies)
"""


def test_every_row_of_a_table_with_a_ratio_column_is_a_ratio() -> None:
    found = ratios(D1_TABLE)
    assert found == [
        {"label": "point select", "ratio": "27.0%", "target": ">= 20%", "verdict": "pass"},
        {"label": "single insert", "ratio": "18.7%", "target": None, "verdict": None},
        {"label": "batch insert", "ratio": "48.4%", "target": ">= 50%", "verdict": "FAIL"},
    ]


QUEUES_MATRIX = """\
messages: 2000 (sendBatch of 100), latency: 200 round trips, best of 1 rounds
storage  batch       bare msg/s  cfemu msg/s   p50 µs   p99 µs  bare p50 µs   ratio  target
memory   batch=1        256,244       28,581       46       89          9.6   11.2%  -
memory   batch=100    1,568,946      283,227      312    2,066         41.2   18.1%  >= 30% MISSED
file     batch=100      340,412       38,247      809    4,973         41.7   11.2%  -
"""


def test_table_rows_keep_their_text_columns_in_the_label() -> None:
    found = ratios(QUEUES_MATRIX)
    assert [(r["label"], r["ratio"], r["verdict"]) for r in found] == [
        ("memory batch=1", "11.2%", None),
        ("memory batch=100", "18.1%", "FAIL"),
        ("file batch=100", "11.2%", None),
    ]
    row = "all 10k rows   memory              68           37     27,221.1   54.1%  >= 50% ok"
    assert ratios(f"case storage ops/s ratio target\n{row}\n")[0]["label"] == "all 10k rows memory"


def test_one_failing_ratio_fails_the_benchmark_and_every_ratio_is_kept() -> None:
    summary = summarise(HTTP)
    assert [(r["label"], r["ratio"], r["verdict"]) for r in summary["ratios"]] == [
        ("c=1 ratio", "83%", "pass"),
        ("c=50 ratio", "70%", "FAIL"),
    ]
    assert summary["ratio"] == "83%"  # the first, as before, for readers of old JSON files
    assert summary["verdict"] == "FAIL"
    assert summary["figure"] == "c=1 cfemu dev: 2,147 requests/s"


def test_percentages_that_are_not_ratios_are_ignored() -> None:
    summary = summarise(QUEUES)
    assert [(r["label"], r["ratio"]) for r in summary["ratios"]] == [
        ("ratio cfemu / bare", "28.0%")
    ]
    assert summary["target"] == "target >= 20%"
    assert summary["verdict"] == "pass"
    assert summary["figure"] == "bare asyncio loop, batches of 100: 1,234,567 msg/s"


def test_a_target_without_a_verdict_word_is_judged_by_the_numbers() -> None:
    output = (
        "      sql.exec point reads/s:       81,604\n"
        "  sql.exec / raw point reads:          18% (target >= 20%)\n"
        "    storage ops / raw kv ops:         267%\n"
    )
    summary = summarise(output)
    assert [r["verdict"] for r in summary["ratios"]] == ["FAIL", None]
    assert summary["verdict"] == "FAIL"
    assert summary["figure"] == "sql.exec point reads/s: 81,604"


def test_yes_and_no_verdicts() -> None:
    output = (
        "ratio persisted / in-memory:   44.9%  (target >= 25%: yes)\n"
        "ratio persisted / raw inserts: 22.6%  (target >= 30%: no)\n"
    )
    assert [r["verdict"] for r in ratios(output)] == ["pass", "FAIL"]


def test_a_cost_ceiling_is_judged_by_its_verdict_word() -> None:
    output = (
        "point SELECT run(): 9.9 µs counted, 9.8 µs uncounted; counting costs 1.0% "
        "(ratio - 1), target <= 10% (within)\n"
        "point UPDATE run(): 14 µs counted, 12 µs uncounted; counting costs 16.0% "
        "(ratio - 1), target <= 10% (over)\n"
    )
    found = ratios(output)
    assert [(r["ratio"], r["target"], r["verdict"]) for r in found] == [
        ("1.0%", "target <= 10%", "pass"),
        ("16.0%", "target <= 10%", "FAIL"),
    ]
    assert summarise(output)["verdict"] == "FAIL"


def test_output_without_ratios_keeps_the_first_target_line() -> None:
    output = "model test: 50 passed in 3.1 s\nwall time within the 80% target\n"
    summary = summarise(output)
    assert summary["ratios"] == [] and summary["ratio"] is None
    assert (summary["target"], summary["verdict"]) == ("the 80% target", "pass")
    explorer = summarise("slowest list page 21.3 ms (target < 300 ms: yes)\n  page 1: 2.1 ms\n")
    assert (explorer["target"], explorer["verdict"]) == ("target < 300 ms", "pass")
    assert explorer["figure"] == "slowest list page 21.3 ms (target < 300 ms: yes)"
    plain = summarise("backend: hashed vectors; loaded in 0.1 s\nmodel-a 900 embeddings/s\n")
    assert plain["ratios"] == [] and plain["ratio"] is None and plain["verdict"] is None
    assert plain["figure"] == "backend: hashed vectors; loaded in 0.1 s"


def test_a_table_header_is_not_a_figure() -> None:
    assert summarise(D1_TABLE.split("\n", 1)[1])["figure"] is None


def test_table_has_one_row_per_ratio_when_there_are_several() -> None:
    results = [
        {"name": "http", **summarise(HTTP)},
        {"name": "queues", **summarise(QUEUES)},
        {"name": "import", "figure": "import cfemu 15 ms", "ratio": None, "ratios": [],
         "target": "import <= 150 ms", "verdict": "pass"},
    ]  # fmt: skip
    lines = table(results).splitlines()
    assert lines[0].split() == ["benchmark", "figure", "ratio", "target", "verdict"]
    assert lines[1].startswith("http ") and lines[1].rstrip().endswith("FAIL")
    assert lines[2].split()[:3] == ["c=1", "ratio", "83%"]
    assert lines[3].split()[:3] == ["c=50", "ratio", "70%"]
    assert lines[4].startswith("queues ") and " 28.0% " in lines[4]  # one ratio: one row
    assert lines[5].startswith("import ")
    assert len(lines) == 6
    column = lines[0].index("ratio")
    assert lines[2][column:].startswith("83%") and lines[4][column:].startswith("28.0%")


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@given(
    st.lists(
        st.tuples(
            st.lists(_LABEL, min_size=1, max_size=3).map(" ".join),
            st.integers(1, 10**7),
            st.integers(1, 10**7),
            st.integers(0, 9999),  # the ratio in tenths of a percent
            st.none() | st.integers(1, 100),  # the target, a percentage
            st.booleans(),  # whether the line says its verdict in words
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_table_in_bench_d1s_format_parses_back(
    rows: list[tuple[str, int, int, int, int | None, bool]],
) -> None:
    lines = ["case  sqlite3 ops/s  cfemu ops/s  ratio  target"]
    expected = []
    for label, raw, ours, tenths, target, worded in rows:
        ratio = f"{tenths / 10:.1f}%"
        if target is None:
            goal, verdict = "-", None
        else:
            met = tenths / 10 >= target
            word = ("ok" if met else "MISSED") if worded else ""
            goal, verdict = f">= {target}% {word}".rstrip(), "pass" if met else "FAIL"
        lines.append(f"{label:<20} {raw:>12,} {ours:>12,} {ratio:>7}  {goal}")
        expected.append((label, ratio, verdict))
    output = "\n".join(lines) + "\n"
    found = ratios(output)
    assert [(r["label"], r["ratio"], r["verdict"]) for r in found] == expected
    verdicts = {v for _, _, v in expected}
    overall = "FAIL" if "FAIL" in verdicts else "pass" if "pass" in verdicts else None
    assert summarise(output)["verdict"] == overall
