"""``[assets] run_worker_first`` route rules: validation at load, matching at request time.

spec: kv-assets-workflows-ai.md §2.6. ``"/api/*"`` sends matching paths to the Worker;
``"!/api/docs/*"`` sends them to assets and is checked first. ``*`` is the only wildcard and
matches any characters, ``/`` included; a rule matches the whole pathname.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MAX_RULES", "MAX_RULE_LENGTH", "check_run_worker_first", "route_pattern"]

#: At most this many rules (wrangler's limit).
MAX_RULES = 100
#: At most this many characters per rule.
MAX_RULE_LENGTH = 100


def route_pattern(rule: str) -> re.Pattern[str]:
    """The pattern of one rule (without its ``!``), matched with ``fullmatch`` on a path."""
    return re.compile(".*".join(re.escape(part) for part in rule.split("*")), re.DOTALL)


def check_run_worker_first(rules: Sequence[str]) -> str | None:
    """Wrangler's complaint about a ``run_worker_first`` rule list, or ``None`` if valid.

    The per-rule wording below the ``Invalid routes`` heading is cfemu's (wrangler's exact
    text is unconfirmed); the headings and the count messages are wrangler's.
    """
    if not rules:
        return "No `run_worker_first` rules were provided; must provide at least 1 rule."
    if len(rules) > MAX_RULES:
        return (
            f"Too many `run_worker_first` rules were provided; {len(rules)} rules provided "
            f"exceeds max of {MAX_RULES}."
        )
    problems: list[str] = []
    seen: set[str] = set()
    for rule in rules:
        if rule.startswith("!"):
            if not rule.startswith("!/"):
                problems.append(f"'{rule}': negative rules must start with '!/'")
                continue
        elif not rule.startswith("/"):
            problems.append(f"'{rule}': rules must start with '/' or '!/'")
            continue
        if len(rule) > MAX_RULE_LENGTH:
            problems.append(f"'{rule}': rules must be at most {MAX_RULE_LENGTH} characters")
            continue
        if rule in seen:
            problems.append(f"'{rule}': rule is a duplicate")
            continue
        seen.add(rule)
    if not problems:
        for rule in rules:
            negative = rule.startswith("!")
            body = rule[1:] if negative else rule
            for glob in rules:
                if glob == rule or glob.startswith("!") != negative or "*" not in glob:
                    continue
                glob_body = glob[1:] if negative else glob
                if route_pattern(glob_body).fullmatch(body):
                    problems.append(f"'{rule}': rule '{glob}' makes it redundant")
                    break
    if problems:
        return "Invalid routes in `run_worker_first`:\n" + "\n".join(problems)
    if all(rule.startswith("!") for rule in rules):
        return (
            "Only negative `run_worker_first` rules were provided; must provide at least 1 "
            "non-negative rule"
        )
    return None
