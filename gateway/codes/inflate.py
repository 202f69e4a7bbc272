"""Bounded DEFLATE decompression: codes are small, so a bomb stops at a fixed size."""

from __future__ import annotations

import zlib

# Far above any real pass, certificate or health card (at most some tens of KiB).
MAX_INFLATED = 64 * 1024

ZLIB = zlib.MAX_WBITS  # RFC 1950 stream with header and checksum (COSE codes)
RAW = -zlib.MAX_WBITS  # bare RFC 1951 DEFLATE (SMART Health Cards)


def inflate(data: bytes, *, wbits: int) -> bytes:
    """The decompressed data; ValueError says what is wrong (also a too large result)."""
    inflater = zlib.decompressobj(wbits)
    try:
        # One byte more than allowed: getting it proves the limit is crossed, whether the
        # rest waits in the input or already inside the inflater.
        inflated = inflater.decompress(data, MAX_INFLATED + 1)
    except zlib.error:
        raise ValueError("corrupt DEFLATE data") from None
    if len(inflated) > MAX_INFLATED:
        raise ValueError(f"inflates to more than {MAX_INFLATED} bytes")
    if not inflater.eof:
        raise ValueError("truncated DEFLATE data")
    if inflater.unused_data:
        raise ValueError("bytes after the end of the DEFLATE data")
    return inflated
