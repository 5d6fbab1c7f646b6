"""The files of an asset directory: which are served, their content types and ETags.

spec: kv-assets-workflows-ai.md §2.8, §2.9. ``_headers``, ``_redirects`` and
``.assetsignore`` are never served; ``.assetsignore`` excludes more with gitignore syntax;
symlinks and directories are skipped; a file over 25 MiB is refused when the directory is
read. The list of files is read once (restart to see added or removed files); a file's
contents and ETag are re-read when its size or modification time changes, so an edited
file is served fresh.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pathspec

from cfemu.errors import ConfigError

__all__ = [
    "MAX_ASSET_BYTES",
    "MAX_ASSET_COUNT",
    "AssetFile",
    "Manifest",
    "content_type_of",
]

#: Cloudflare's limit on one asset file (25 MiB).
MAX_ASSET_BYTES: Final = 25 * 1024 * 1024
#: Cloudflare's limit on the number of asset files (the code's; older docs say 20,000).
MAX_ASSET_COUNT: Final = 100_000
#: Files of the asset directory that configure it and are never served.
SPECIAL_FILES: Final = frozenset({"_headers", "_redirects", ".assetsignore"})

# Python's own table only (not /etc/mime.types), so every machine answers alike; a few
# entries follow the ``mime`` package Cloudflare uses where Python's table differs.
_TYPES = mimetypes.MimeTypes(filenames=())
_OVERRIDES: Final = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ico": "image/vnd.microsoft.icon",
    ".webmanifest": "application/manifest+json",
    ".md": "text/markdown",
    ".txt": "text/plain",
    ".xml": "application/xml",
}


def content_type_of(name: str) -> str | None:
    """The ``Content-Type`` Cloudflare sends for a file name (``None``: unknown extension).

    ``text/*`` types get ``; charset=utf-8``.
    """
    suffix = os.path.splitext(name)[1].lower()
    found = _OVERRIDES.get(suffix)
    if found is None:
        found, _ = _TYPES.guess_type("x" + suffix, strict=True)
    if found is None:
        return None
    return found + "; charset=utf-8" if found.startswith("text/") else found


@dataclass
class AssetFile:
    """One servable file: its URL path (``/a/b.html``), where it is, and its cached body."""

    path: str
    file: Path
    content_type: str | None
    _stamp: tuple[int, int] | None = None
    _body: bytes = b""
    _etag: str = ""

    def load(self) -> tuple[bytes, str]:
        """The file's bytes and ETag (a hash of the contents), re-read when it changed."""
        try:
            stat = self.file.stat()
        except OSError:
            return self._body, self._etag or _etag(b"")
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            body = self.file.read_bytes()
            self._body, self._etag, self._stamp = body, _etag(body), stamp
        return self._body, self._etag


def _etag(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


class Manifest:
    """Every servable file of an asset directory, by URL path, plus its rule files' text."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, AssetFile] = {}
        self.headers_text = _read_optional(directory / "_headers")
        self.redirects_text = _read_optional(directory / "_redirects")
        ignore = _read_optional(directory / ".assetsignore")
        spec = pathspec.GitIgnoreSpec.from_lines(ignore.splitlines()) if ignore else None
        self._scan(spec)

    @classmethod
    def read(cls, directory: Path, *, config_file: Path | None = None) -> Manifest:
        """Read ``directory``; a missing one is a ``ConfigError`` naming ``assets.directory``."""
        if not directory.is_dir():
            raise ConfigError(
                f'The directory specified by the "assets.directory" field in your '
                f"configuration file does not exist: {directory}",
                file=config_file,
                key_path="assets.directory",
            )
        return cls(directory)

    def _scan(self, spec: pathspec.GitIgnoreSpec | None) -> None:
        root = self.directory
        for folder, dirs, names in os.walk(root):
            base = Path(folder)
            relative_dir = base.relative_to(root).as_posix()
            prefix = "" if relative_dir == "." else relative_dir + "/"
            # Symlinked folders are not followed (os.walk's default); prune ignored folders.
            if spec is not None:
                dirs[:] = [d for d in dirs if not spec.match_file(prefix + d + "/")]
            dirs.sort()
            for name in sorted(names):
                relative = prefix + name
                if not prefix and name in SPECIAL_FILES:
                    continue
                file = base / name
                if file.is_symlink() or not file.is_file():
                    continue
                if spec is not None and spec.match_file(relative):
                    continue
                size = file.stat().st_size
                if size > MAX_ASSET_BYTES:
                    raise ConfigError(
                        f"Asset too large: {file} is {size} bytes; Cloudflare serves assets "
                        f"of at most {MAX_ASSET_BYTES} bytes (25 MiB). Add it to "
                        f".assetsignore to leave it out."
                    )
                self.files["/" + relative] = AssetFile("/" + relative, file, content_type_of(name))
                if len(self.files) > MAX_ASSET_COUNT:
                    raise ConfigError(
                        f"Too many assets in {root}: more than {MAX_ASSET_COUNT} files"
                    )

    def get(self, path: str) -> AssetFile | None:
        """The file served at the decoded URL path ``path``, or ``None``."""
        return self.files.get(path)


def _read_optional(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        return ""
