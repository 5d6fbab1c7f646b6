"""Light SQL text analysis for D1: statement splitting and statement kinds.

This is not a parser. It tokenizes just enough (strings, quoted identifiers, comments,
parentheses, words) to split a text into statements the way SQLite would run them one
after another, and to tell what each statement does (its leading verb). SQLite itself
decides where a trigger body ends: a candidate ``;`` only ends a statement when
``sqlite3.complete_statement`` says the text up to it is complete.

Every function here runs once per distinct SQL text (the database caches the analysis),
never per execution.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

__all__ = [
    "READ_VERBS",
    "is_blank",
    "leading_verb",
    "pragma_name_and_value",
    "split_statements",
]

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^']|'')*'?)
    | (?P<ident>"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|\[[^\]]*\]?)
    | (?P<word>[^\W\d][\w$]*)
    | (?P<semi>;)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<other>.)
    """,
    re.S | re.X,
)

#: Verbs of statements that cannot change the database.
READ_VERBS = frozenset({"SELECT", "VALUES", "EXPLAIN"})
_WITH_BODY_VERBS = frozenset({"SELECT", "VALUES", "INSERT", "REPLACE", "UPDATE", "DELETE"})
_TRIVIA = frozenset({"ws", "comment"})


def _tokens(sql: str) -> Iterator[tuple[str, str, int, int]]:
    """``(kind, text, start, end)`` for each token of ``sql``."""
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup
        assert kind is not None
        yield kind, match.group(), match.start(), match.end()


def is_blank(sql: str) -> bool:
    """True when ``sql`` holds no statement: only whitespace, comments and semicolons."""
    return all(kind in _TRIVIA or kind == "semi" for kind, _, _, _ in _tokens(sql))


def split_statements(sql: str) -> list[str]:
    """Split ``sql`` into its statements, in order, dropping blank ones.

    Each statement keeps its text as written (including its ``;``), stripped of the
    whitespace around it. Semicolons inside strings, quoted identifiers, comments and
    ``CREATE TRIGGER ... BEGIN ... END`` bodies do not split.
    """
    statements: list[str] = []
    start = 0
    substantive = False
    for kind, _, _, end in _tokens(sql):
        if kind == "semi":
            chunk = sql[start:end]
            if substantive and sqlite3.complete_statement(chunk.replace("\x00", " ")):
                statements.append(chunk.strip())
                start, substantive = end, False
            elif not substantive:
                start = end  # a stray ';' (or blank statement): nothing to run
        elif kind not in _TRIVIA:
            substantive = True
    if substantive:
        statements.append(sql[start:].strip())
    return statements


def _words(sql: str) -> Iterator[tuple[str, int]]:
    """Upper-cased bare words of ``sql`` with their parenthesis depth."""
    depth = 0
    for kind, text, _, _ in _tokens(sql):
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
        elif kind == "word":
            yield text.upper(), depth


def leading_verb(statement: str) -> str:
    """The verb of one statement: ``SELECT``, ``INSERT``, ``CREATE``, ``PRAGMA``, ...

    A ``WITH`` statement's verb is that of its body (``WITH x AS (...) DELETE ...`` is a
    ``DELETE``). Returns ``""`` when the statement has no leading word.
    """
    words = _words(statement)
    first = next(words, None)
    if first is None:
        return ""
    verb = first[0]
    if verb != "WITH":
        return verb
    for word, depth in words:
        if depth == 0 and word in _WITH_BODY_VERBS:
            return word
    return verb


def pragma_name_and_value(statement: str) -> tuple[str, bool]:
    """For a ``PRAGMA`` statement: its lower-cased name and whether it has an argument
    (``PRAGMA x = v`` or ``PRAGMA x(v)``). ``PRAGMA main.x`` names ``x``."""
    names: list[str] = []
    for kind, text, _, _ in _tokens(statement):
        if kind in ("word", "ident"):
            names.append(text.strip('"`[]').lower())
        elif text in ("=", "("):
            return (names[-1] if len(names) > 1 else ""), True
    return (names[-1] if len(names) > 1 else ""), False
