"""Tell a gRPC port from a broken HTTP server.

A gRPC server speaks HTTP/2 only: sent an HTTP/1.1 request, it answers with its HTTP/2 SETTINGS frame (and a
GOAWAY), which httpx reports only as `RemoteProtocolError: illegal request line`, without the bytes. So after such
an error one more plain connection reads the first 9 bytes of the reply: an HTTP/2 frame header of type SETTINGS
on stream 0, with a length that is a multiple of 6, proves an HTTP/2-only server (seen from grpcio 1.85's server).
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx

FRAME_HEADER_BYTES = 9
SETTINGS_FRAME = 0x04
SETTING_BYTES = 6


def is_http2_settings_frame(head: bytes) -> bool:
    """Whether `head` is the 9-byte header of an HTTP/2 SETTINGS frame on stream 0 (RFC 9113 §4.1, §6.5)."""
    if len(head) < FRAME_HEADER_BYTES:
        return False
    length = int.from_bytes(head[0:3], "big")
    stream = int.from_bytes(head[5:9], "big") & 0x7FFF_FFFF
    return head[3] == SETTINGS_FRAME and stream == 0 and length % SETTING_BYTES == 0


async def speaks_http2_only(url: str, timeout_s: float) -> bool:
    """Whether the plain-http server at `url` answers an HTTP/1.1 request with an HTTP/2 SETTINGS frame. False for
    https (TLS negotiates the protocol), and on any failure: this only adds a hint to an error already raised."""
    parsed = httpx.URL(url)
    if parsed.scheme != "http" or not parsed.host:
        return False
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(parsed.host, parsed.port or 80)
            host = parsed.netloc.decode("ascii", "replace")
            writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode("ascii", "replace"))
            await writer.drain()
            head = await reader.readexactly(FRAME_HEADER_BYTES)
    except (OSError, EOFError, TimeoutError, ValueError):  # IncompleteReadError is an EOFError
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return is_http2_settings_frame(head)
