"""Local secrets: ``.dev.vars`` and ``.env`` files beside the wrangler config.

spec: workers-and-config.md §3.3. ``wrangler dev`` reads ``.dev.vars.<env>`` when an
environment is selected and that file exists, else ``.dev.vars``. Only when neither exists
(and ``CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV`` is not ``false``) it reads ``.env``,
``.env.local``, ``.env.<env>`` and ``.env.<env>.local``, later files overriding earlier ones.

The format is dotenv's: ``KEY=value`` lines, an optional ``export`` prefix, ``#`` comments,
blank lines, and values quoted with ``"``, ``'`` or a backtick (quoted values may span
lines; ``\\n`` and ``\\r`` are expanded inside double quotes). cfemu is stricter than dotenv
in one way: a line it cannot read is a :class:`~cfemu.errors.ConfigError` naming the file and
line, instead of being skipped silently.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cfemu.errors import ConfigError

__all__ = ["dev_vars_files", "load_dev_vars", "parse_dotenv"]

_LINE = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z0-9_.-]+)[ \t]*(?:=|:(?=[ \t]))(.*)")
_QUOTES = "\"'`"
_TAIL_OK = re.compile(r"[ \t]*(?:#.*)?")
DOT_ENV_SWITCH = "CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV"


def _closing_quote(text: str, start: int, quote: str) -> int:
    """Index of the quote closing the value opened at ``start``, or -1 (``\\<q>`` escapes)."""
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] == quote:
            i += 2
            continue
        if ch == quote:
            return i
        i += 1
    return -1


def parse_dotenv(text: str, *, file: Path | str | None = None) -> dict[str, str]:
    """Parse dotenv ``text`` into a dict (a later duplicate key wins).

    Raises :class:`~cfemu.errors.ConfigError` with ``file`` and ``line`` for a line that is
    not ``KEY=value``, an unterminated quoted value, or text after a closing quote.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    result: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        lineno = i + 1
        stripped = line.strip()
        i += 1
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            column = len(line) - len(line.lstrip()) + 1
            raise ConfigError(
                f"expected KEY=value, got {stripped[:40]!r}", file=file, line=lineno, column=column
            )
        key, rest = match.group(1), match.group(2)
        value = rest.lstrip(" \t")
        value_at = len(line) - len(value)
        if value[:1] in _QUOTES and value:
            quote = value[0]
            tail = value
            end = _closing_quote(tail, 0, quote)
            if end == -1:
                # The value may continue on the following lines until its closing quote.
                tail = "\n".join([value, *lines[i:]])
                end = _closing_quote(tail, 0, quote)
            if end == -1:
                raise ConfigError(
                    f"unterminated quoted value for {key}",
                    file=file,
                    line=lineno,
                    column=value_at + 1,
                )
            body = tail[1:end]
            consumed_lines = body.count("\n")
            after = tail[end + 1 :].split("\n", 1)[0]
            if not _TAIL_OK.fullmatch(after):
                raise ConfigError(
                    f"unexpected text after the closing quote of {key}: {after.strip()[:40]!r}",
                    file=file,
                    line=lineno + consumed_lines,
                )
            i += consumed_lines
            if quote == '"':
                body = body.replace("\\n", "\n").replace("\\r", "\r")
            result[key] = body
        else:
            result[key] = value.split("#", 1)[0].strip()
    return result


def _read(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("file is not valid UTF-8", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=path) from None
    return parse_dotenv(text, file=path)


def dev_vars_files(config_dir: Path | str, environment: str | None = None) -> list[Path]:
    """The files ``wrangler dev`` would read secrets from, in the order they apply."""
    base = Path(config_dir)
    if environment:
        specific = base / f".dev.vars.{environment}"
        if specific.is_file():
            return [specific]
    generic = base / ".dev.vars"
    if generic.is_file():
        return [generic]
    if os.environ.get(DOT_ENV_SWITCH, "").strip().lower() == "false":
        return []
    names = [".env", ".env.local"]
    if environment:
        names += [f".env.{environment}", f".env.{environment}.local"]
    return [base / n for n in names if (base / n).is_file()]


def load_dev_vars(
    config_dir: Path | str, environment: str | None = None
) -> tuple[dict[str, str], list[Path]]:
    """Read local secrets beside a config: the merged values and the files they came from."""
    files = dev_vars_files(config_dir, environment)
    merged: dict[str, str] = {}
    for path in files:
        merged.update(_read(path))
    return merged, files
