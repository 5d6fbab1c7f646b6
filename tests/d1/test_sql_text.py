"""Statement splitting and statement kinds (cfemu.d1._sql), incl. properties."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cfemu.d1._sql import is_blank, leading_verb, pragma_name_and_value, split_statements


def test_split_honours_strings_identifiers_comments_and_trigger_bodies() -> None:
    sql = (
        "SELECT 'a;b' AS \"c;d\"; -- x; y\n"
        "/* ; */ INSERT INTO [t;] VALUES (`;`);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;\n"
        "SELECT 3"
    )
    assert split_statements(sql) == [
        "SELECT 'a;b' AS \"c;d\";",
        "-- x; y\n/* ; */ INSERT INTO [t;] VALUES (`;`);",
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; SELECT 2; END;",
        "SELECT 3",
    ]


@pytest.mark.parametrize("sql", ["", " ", ";;", "-- a\n", "/* b */", " ; -- c\n ;"])
def test_blank_texts_have_no_statements(sql: str) -> None:
    assert split_statements(sql) == []
    assert is_blank(sql)


@pytest.mark.parametrize(
    ("statement", "verb"),
    [
        ("select 1", "SELECT"),
        ("  /* c */ -- d\n insert into t values (1)", "INSERT"),
        ("WITH x AS (SELECT 1) UPDATE t SET v = 1", "UPDATE"),
        ("WITH RECURSIVE x(n) AS (VALUES (1)) SELECT * FROM x", "SELECT"),
        ("with a as (select 1), b as materialized (select 2) delete from t", "DELETE"),
        ("(SELECT 1)", "SELECT"),
        ("PRAGMA table_info(t)", "PRAGMA"),
        ("", ""),
    ],
)
def test_leading_verb(statement: str, verb: str) -> None:
    assert leading_verb(statement) == verb


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("PRAGMA foreign_keys", ("foreign_keys", False)),
        ("PRAGMA foreign_keys = OFF", ("foreign_keys", True)),
        ("pragma main.defer_foreign_keys=1", ("defer_foreign_keys", True)),
        ('PRAGMA "table_info"(t)', ("table_info", True)),
    ],
)
def test_pragma_name_and_value(statement: str, expected: tuple[str, bool]) -> None:
    assert pragma_name_and_value(statement) == expected


fragment = st.one_of(
    st.sampled_from(["SELECT 1", "SELECT 'a;b'", 'SELECT "x;"', "SELECT 2 /* c; */", "SELECT [;]"]),
    st.text(alphabet="abc;' ", max_size=6).map(lambda s: "SELECT '" + s.replace("'", "''") + "'"),
)


@given(
    statements=st.lists(fragment, min_size=1, max_size=6), gap=st.sampled_from([";", ";\n", "; "])
)
@settings(max_examples=150, deadline=None)
def test_joined_statements_split_back_into_the_same_statements(
    statements: list[str], gap: str
) -> None:
    sql = "".join(s + gap for s in statements) + "-- trailing; comment"
    parts = split_statements(sql)
    assert len(parts) == len(statements)
    for part in parts:
        assert sqlite3.complete_statement(part + "\n;")


@given(text=st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_splitting_any_text_never_fails_and_loses_no_statement_text(text: str) -> None:
    parts = split_statements(text)
    assert all(part and part == part.strip() for part in parts)
    remaining = text
    for part in parts:
        index = remaining.find(part)
        assert index >= 0
        remaining = remaining[index + len(part) :]
