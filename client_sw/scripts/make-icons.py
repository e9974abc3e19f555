"""Draw the demo's app icons (a white check mark on the theme colour) as real PNG files.

Plain zlib + struct so it needs nothing beyond Python. Full-bleed background, mark inside
the central safe zone, so the same image also works as a maskable icon.
Usage: python3 client_sw/scripts/make-icons.py
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

BACKGROUND = (0x2F, 0x5D, 0x8A)
MARK = (0xFF, 0xFF, 0xFF)
# The check mark as a polyline in unit coordinates.
POINTS = [(0.30, 0.52), (0.44, 0.66), (0.71, 0.36)]


def _distance(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def render(size: int) -> bytes:
    half_width = 0.045
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter type 0 for each scanline
        for x in range(size):
            px, py = (x + 0.5) / size, (y + 0.5) / size
            d = min(_distance(px, py, POINTS[i], POINTS[i + 1]) for i in range(len(POINTS) - 1))
            # One pixel of anti-aliasing at the stroke edge.
            cover = max(0.0, min(1.0, (half_width - d) * size + 0.5))
            row += bytes(round(bg + (mk - bg) * cover)
                         for bg, mk in zip(BACKGROUND, MARK, strict=True))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "demo" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        (out / f"icon-{size}.png").write_bytes(render(size))
        print(f"wrote {out / f'icon-{size}.png'}")
