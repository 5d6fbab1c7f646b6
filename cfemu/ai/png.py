"""A tiny PNG encoder (zlib only) for the local text-to-image models, and a size reader."""

from __future__ import annotations

import struct
import zlib

__all__ = ["PNG_SIGNATURE", "encode_png", "png_size"]

#: The eight bytes every PNG file starts with.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(width: int, height: int, color: tuple[int, int, int], band: int = 0) -> bytes:
    """An RGB PNG of ``width`` x ``height``: a vertical gradient from ``color``, shifted by
    ``band`` (so different prompts give visibly different images). Rows repeat a pattern, so
    even 2048x2048 compresses in milliseconds."""
    if width < 1 or height < 1:
        raise ValueError(f"a PNG needs a positive size, got {width}x{height}")
    r, g, b = color
    rows = []
    for y in range(height):
        shade = (y * 255 // max(1, height - 1) + band) % 256
        pixel = bytes(((r + shade) // 2, (g + shade) // 2, (b + 255 - shade) // 2))
        rows.append(b"\x00" + pixel * width)  # filter type 0 (None) per row
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a PNG's header, or ``None`` if ``data`` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
