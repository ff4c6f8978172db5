"""The airlock's PNG rules, chunk by chunk: unknown or large ancillary chunks, data after IEND, pixel data that does
not match the image's size, incompressible pixels (PNG specification, chapters 5 and 7)."""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

from dari.pods import output_rules as R  # noqa: N812 (the rule table, read as R.PNG_CHUNKS …)

if TYPE_CHECKING:
    from dari.pods.output_findings import FindingLog

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlace: int) -> int:
    """Bytes of the filtered scanlines a PNG of this header decompresses to (PNG spec, 7.2 and Adam7)."""
    bits = _CHANNELS[colour] * depth

    def size(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if interlace == 0:
        return size(width, height)
    return sum(
        size((width - x0 + dx - 1) // dx if width > x0 else 0, (height - y0 + dy - 1) // dy if height > y0 else 0)
        for x0, y0, dx, dy in _ADAM7
    )


def check_png(data: bytes, ctx: FindingLog) -> None:
    """Every chunk of a PNG, what follows IEND, and the pixel data against the image header."""
    s, pos, header, idat, text_bytes = ctx.settings, len(PNG_SIGNATURE), None, [], 0
    ended = False
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4 or zlib.crc32(ctype + body) != struct.unpack(">I", crc)[0]:
            ctx.add("png_pixels", detail="a truncated or corrupt chunk")
            return
        pos += 12 + length
        name = ctype.decode("latin-1")
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body[:13])
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            ended = True
            break
        elif ctype in R.PNG_TEXT_CHUNKS:
            text_bytes += length
        elif ctype not in R.PNG_CHUNKS:
            ctx.add("png_chunk", detail=f"chunk {name!a}")
        elif length > 65_536:
            ctx.add("png_chunk", detail=f"chunk {name} of {length} bytes")
    if text_bytes > s.max_png_text_bytes:
        ctx.add("png_chunk", detail=f"{text_bytes} bytes of text chunks")
    if ended and pos < len(data):
        ctx.add("png_trailing", detail=f"{len(data) - pos} bytes after IEND")
    if header is None or not ended or header[3] not in _CHANNELS:
        ctx.add("png_pixels", detail="no complete image header and end")
        return
    width, height, depth, colour, _, _, interlace = header
    expected = _png_raw_size(width, height, depth, colour, interlace)
    stream = b"".join(idat)
    inflater = zlib.decompressobj()
    raw = inflater.decompress(stream, expected + 1)  # bounded: a decompression bomb stops one byte over
    if len(raw) != expected or inflater.unconsumed_tail or inflater.unused_data or not inflater.eof:
        ctx.add("png_pixels", detail="pixel data longer or shorter than the image")
    if expected >= s.dense_min_raw_bytes and len(stream) >= s.dense_ratio * expected:
        ctx.add("image_dense", detail=f"compressed to {len(stream) / expected:.0%} of the raw pixels")
