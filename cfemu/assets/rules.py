"""``_redirects`` and ``_headers``: parsing with Cloudflare's limits, and URL matching.

spec: kv-assets-workflows-ai.md §2.7, §2.8. A rule's source is a path (``/blog/*``,
``/users/:id``) or an absolute ``https://host/path`` URL; ``*`` (one per rule, greedy) is
``:splat`` in the destination or header values, ``:name`` matches one path segment
(``[^/.]+`` in the host). Lines that break a rule are skipped with a warning, as wrangler
does, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "HeaderRule",
    "Headers",
    "RedirectRule",
    "Redirects",
    "UrlPattern",
    "parse_headers",
    "parse_redirects",
]

MAX_STATIC_REDIRECTS: Final = 2000
MAX_DYNAMIC_REDIRECTS: Final = 100
MAX_HEADER_RULES: Final = 100
MAX_LINE_LENGTH: Final = 2000
REDIRECT_CODES: Final = frozenset({200, 301, 302, 303, 307, 308})
_PLACEHOLDER = re.compile(r":([A-Za-z]\w*)")
_LOOP_WARNING: Final = (
    "Infinite loop detected in this rule and has been ignored. This will cause a redirect "
    "to strip `.html` or `/index` and end up triggering this rule again. Please fix or "
    "remove this rule to silence this warning."
)


class UrlPattern:
    """A rule source compiled for matching: ``match(host, path)`` → its captures or ``None``."""

    __slots__ = ("absolute", "regex", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.absolute = "://" in source
        if self.absolute:
            parts = urlsplit(source)
            host = _compile_part(parts.netloc, "[^/.]+")
            path = _compile_part(parts.path or "/", "[^/]+")
            pattern = f"https://{host}{path}"
        else:
            pattern = _compile_part(source, "[^/]+")
        self.regex = re.compile(pattern, re.DOTALL)

    def match(self, host: str, path: str) -> dict[str, str] | None:
        """The captures (``splat`` and placeholders) if the request matches, else ``None``."""
        subject = f"https://{host}{path}" if self.absolute else path
        found = self.regex.fullmatch(subject)
        return None if found is None else found.groupdict()


def _compile_part(text: str, placeholder: str) -> str:
    out: list[str] = []
    position = 0
    for token in re.finditer(r"\*|:[A-Za-z]\w*", text):
        out.append(re.escape(text[position : token.start()]))
        name = token.group()
        if name == "*":
            out.append("(?P<splat>.*)")
        elif f"(?P<{name[1:]}>" in "".join(out):
            out.append(re.escape(name))  # a repeated placeholder is literal text
        else:
            out.append(f"(?P<{name[1:]}>{placeholder})")
        position = token.end()
    out.append(re.escape(text[position:]))
    return "".join(out)


def substitute(template: str, captures: dict[str, str]) -> str:
    """``template`` with ``:splat`` and ``:name`` replaced by the captures."""
    return _PLACEHOLDER.sub(lambda m: captures.get(m.group(1), m.group()), template)


def _is_dynamic(source: str) -> bool:
    return "*" in source or _PLACEHOLDER.search(source) is not None


@dataclass
class RedirectRule:
    """One ``_redirects`` line: ``source destination [status]``."""

    source: str
    destination: str
    status: int
    pattern: UrlPattern
    line: int


@dataclass
class Redirects:
    """A parsed ``_redirects`` file: exact rules by source, then dynamic rules in order."""

    static: dict[str, RedirectRule] = field(default_factory=dict)
    dynamic: list[RedirectRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def match(self, host: str, path: str) -> tuple[RedirectRule, dict[str, str]] | None:
        """The first rule matching the request, with its captures."""
        for key in (path, f"https://{host}{path}"):
            rule = self.static.get(key)
            if rule is not None:
                return rule, {}
        for rule in self.dynamic:
            captures = rule.pattern.match(host, path)
            if captures is not None:
                return rule, captures
        return None


def _strip_comment(line: str) -> str:
    index = line.find(" #")
    return line if index < 0 else line[:index]


def parse_redirects(text: str, *, html_handling: str = "auto-trailing-slash") -> Redirects:
    """Parse a ``_redirects`` file; bad lines are skipped and listed in ``warnings``."""
    result = Redirects()
    seen: set[str] = set()
    dynamic_mode = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"_redirects:{number}"
        if len(line) > MAX_LINE_LENGTH:
            result.warnings.append(
                f"{where}: Ignoring line as it exceeds the maximum allowed length of "
                f"{MAX_LINE_LENGTH}."
            )
            continue
        tokens = _strip_comment(line).split()
        if len(tokens) not in (2, 3):
            result.warnings.append(
                f"{where}: Expected exactly 2 or 3 whitespace-separated tokens. Got {len(tokens)}."
            )
            continue
        source, destination = tokens[0], tokens[1]
        status = 302
        if len(tokens) == 3:
            try:
                status = int(tokens[2])
            except ValueError:
                status = -1
            if status not in REDIRECT_CODES:
                result.warnings.append(
                    f"{where}: Valid status codes are 200, 301, 302 (default), 303, 307, or "
                    f"308. Got {tokens[2]}."
                )
                continue
        if status == 200 and "://" in destination:
            result.warnings.append(
                f"{where}: Proxy (200) redirects can only point to relative paths. Got "
                f"{destination}"
            )
            continue
        if _is_loop(source, destination, html_handling):
            result.warnings.append(f"{where}: {_LOOP_WARNING}")
            continue
        if source.count("*") > 1:
            result.warnings.append(f"{where}: Only one splat (*) is allowed in a rule.")
            continue
        if source in seen:
            result.warnings.append(f"{where}: Ignoring duplicate rule for path {source}.")
            continue
        dynamic_mode = dynamic_mode or _is_dynamic(source)
        if dynamic_mode and len(result.dynamic) >= MAX_DYNAMIC_REDIRECTS:
            result.warnings.append(
                f"{where}: Maximum number of dynamic rules supported is "
                f"{MAX_DYNAMIC_REDIRECTS}. Skipping remaining lines of file."
            )
            break
        if not dynamic_mode and len(result.static) >= MAX_STATIC_REDIRECTS:
            result.warnings.append(
                f"{where}: Maximum number of static rules supported is {MAX_STATIC_REDIRECTS}. "
                f"Skipping line."
            )
            continue
        seen.add(source)
        rule = RedirectRule(source, destination, status, UrlPattern(source), number)
        if dynamic_mode:
            result.dynamic.append(rule)
        else:
            result.static[source] = rule
    return result


def _is_loop(source: str, destination: str, html_handling: str) -> bool:
    if "://" in destination:
        return False
    target = destination.split("?", 1)[0].split("#", 1)[0]
    if source == "/*" and target in ("/index", "/index.html"):
        return True
    if html_handling != "none" and source.endswith("/"):
        return target in (source + "index", source + "index.html")
    return False


@dataclass
class HeaderRule:
    """One ``_headers`` block: a source and the headers it sets and unsets."""

    source: str
    pattern: UrlPattern
    set: dict[str, str] = field(default_factory=dict)
    unset: list[str] = field(default_factory=list)


@dataclass
class Headers:
    """A parsed ``_headers`` file: its rules in file order."""

    rules: list[HeaderRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def apply(self, host: str, path: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``headers`` (name, value) after every matching rule, in file order."""
        out = list(headers)
        replaced: set[str] = set()
        for rule in self.rules:
            captures = rule.pattern.match(host, path)
            if captures is None:
                continue
            for name in rule.unset:
                out = [(k, v) for k, v in out if k != name]
            for name, value in rule.set.items():
                value = substitute(value, captures)
                if name in replaced:
                    out = [(k, f"{v}, {value}" if k == name else v) for k, v in out]
                    if not any(k == name for k, _ in out):
                        out.append((name, value))
                else:
                    out = [(k, v) for k, v in out if k != name]
                    out.append((name, value))
                    replaced.add(name)
        return out


def parse_headers(text: str) -> Headers:
    """Parse a ``_headers`` file; bad lines are skipped and listed in ``warnings``."""
    result = Headers()
    current: HeaderRule | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"_headers:{number}"
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(raw) > MAX_LINE_LENGTH:
            result.warnings.append(
                f"{where}: Ignoring line as it exceeds the maximum allowed length of "
                f"{MAX_LINE_LENGTH}."
            )
            continue
        if not raw[0].isspace() and (stripped.startswith("/") or "://" in stripped):
            if len(result.rules) >= MAX_HEADER_RULES:
                result.warnings.append(
                    f"{where}: Maximum number of rules supported is {MAX_HEADER_RULES}. "
                    f"Skipping remaining lines of file."
                )
                current = None
                break
            if stripped.count("*") > 1:
                result.warnings.append(f"{where}: Only one splat (*) is allowed in a path.")
                current = None
                continue
            current = HeaderRule(stripped, UrlPattern(stripped))
            result.rules.append(current)
            continue
        if current is None:
            result.warnings.append(f"{where}: Expected a path beginning with at least one '/'")
            continue
        if stripped.startswith("!"):
            current.unset.append(stripped[1:].strip().lower())
            continue
        name, colon, value = stripped.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or not name or " " in name:
            result.warnings.append(
                f"{where}: Expected a colon-separated header pair (e.g. name: value)"
            )
            continue
        if not value:
            result.warnings.append(f"{where}: No header value specified for {name}")
            continue
        existing = current.set.get(name)
        current.set[name] = value if existing is None else f"{existing}, {value}"
    return result
