"""Small hostile replies that once took gigabytes, minutes or forever: each is now refused within bounds.

The CLI runs as a subprocess against a hostile loopback server and its peak RSS is read (one child per case);
the readers and decoders are also driven in-process for the exact error. Time bounds only bound a hang.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from console.widgets.png_decode import PngError, decode_png, preview_size
from providers.adapters.ollama import OllamaAdapter
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.base import AdapterOptions, ChatRequest, Message
from providers.errors import ProtocolError, ServerError, StreamBrokenError
from providers.http import MAX_LISTING_BYTES, SSEParser, make_client, request_json
from providers.png_bounds import check_png
from providers.reply_bounds import ReplyBounds
from providers.router import Router
from providers.routing import Route, RouteTimeouts, Target
from tests.hostile.hostile_server import Request, canned, hostile_server, http_reply, stream_head
from tests.hostile.measured_cli import MeasuredRun, run_cli, write_config
from tests.providers.router_fakes import FakeAdapter, Script
from tests.waiting import HANG_S, bounded

RSS_ALLOWANCE_MB = 200.0
"""How far above the same command on a tiny, honest reply a hostile reply may push the peak RSS."""

TAGS = json.dumps({"models": [{"name": "m:1b", "model": "m:1b", "size": 1, "details": {}}]}).encode()


MEGABYTE = 1 << 20


def _repeated_deflate(prefix: bytes, byte: bytes, megabytes: int) -> bytes:
    """Raw deflate of `prefix`, then `megabytes` MB of one repeated byte (about 1 KB per MB). One megabyte is
    compressed and its output repeated: a full flush after each piece lets every copy decode on its own, so a
    gigabyte bomb costs the compression of one megabyte, not of a gigabyte."""

    def piece(data: bytes) -> bytes:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return packer.compress(data) + packer.flush(zlib.Z_FULL_FLUSH)

    final_empty_block = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    return piece(prefix) + piece(byte * MEGABYTE) * megabytes + final_empty_block


def _inflated(prefix: bytes, byte: bytes, megabytes: int) -> Iterator[bytes]:
    """What such a bomb inflates to, a megabyte at a time (for its checksum)."""
    yield prefix
    block = byte * MEGABYTE
    for _ in range(megabytes):
        yield block


def _gzip(megabytes: int, byte: bytes = b"\0", prefix: bytes = b"") -> bytes:
    """`prefix`, then `megabytes` MB of one repeated byte, as one gzip stream with its true CRC and size (about
    1 KB per MB): a decompression bomb."""
    crc = 0
    for data in _inflated(prefix, byte, megabytes):
        crc = zlib.crc32(data, crc)
    size = len(prefix) + megabytes * MEGABYTE
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # deflate, no name, no time, best compression
    return header + _repeated_deflate(prefix, byte, megabytes) + struct.pack("<II", crc, size & 0xFFFFFFFF)


def _zlib(megabytes: int) -> bytes:
    """`megabytes` MB of zeros as one zlib stream with its true Adler-32 (about 1 KB per MB)."""
    adler = 1
    for data in _inflated(b"", b"\0", megabytes):
        adler = zlib.adler32(data, adler)
    return b"\x78\xda" + _repeated_deflate(b"", b"\0", megabytes) + struct.pack(">I", adler)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """~1.2 MB that inflates to 1.2 GB, as in the report."""
    return _gzip(1200)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def png_bomb() -> bytes:
    """A 64x64 PNG whose image data inflates to 1 GB of zeros (~1 MB on the wire)."""
    return _png(64, 64, _zlib(1024))


def _ollama(url: str) -> dict[str, object]:
    return {"providers": [{"name": "box", "kind": "ollama", "base_url": url}]}


def _vllm(url: str, **replies: float) -> dict[str, object]:
    config: dict[str, object] = {"providers": [{"name": "box", "kind": "vllm", "base_url": url}]}
    if replies:
        config["replies"] = replies
    return config


def _one_line_failure(run: MeasuredRun, *needles: str) -> None:
    assert run.returncode != 0, run.stdout[-500:]
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    for needle in needles:
        assert needle in run.stderr, run.stderr[-2000:]


@pytest.fixture(scope="module")
def idle_rss_mb(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Peak RSS of `llmdeck models` on an honest one-model reply: the baseline every hostile case is held to."""
    directory = tmp_path_factory.mktemp("idle")
    with hostile_server({"GET /api/tags": canned(http_reply(TAGS)),
                         "GET /api/ps": canned(http_reply(b'{"models": []}'))}) as server:
        run = run_cli(write_config(directory, _ollama(server.url)), "models", "--json")
    assert run.returncode == 0, run.stderr
    return run.peak_rss_mb


# --- bodies ---------------------------------------------------------------------------------------------------


def test_gzip_bomb_on_tags_is_refused_by_models_within_the_memory_bound(gzip_bomb: bytes, idle_rss_mb: float,
                                                                        tmp_path: Path) -> None:
    reply = http_reply(gzip_bomb, headers={"Content-Encoding": "gzip"})
    with hostile_server({"GET /api/tags": canned(reply)}) as server:
        run = run_cli(write_config(tmp_path, _ollama(server.url)), "models")
    _one_line_failure(run, f"larger than {MAX_LISTING_BYTES} bytes (decompressed)")
    assert run.peak_rss_mb - idle_rss_mb < RSS_ALLOWANCE_MB, (run.peak_rss_mb, idle_rss_mb)


def test_gzip_bomb_on_every_probe_path_keeps_health_within_the_memory_bound(gzip_bomb: bytes, idle_rss_mb: float,
                                                                            tmp_path: Path) -> None:
    reply = http_reply(gzip_bomb, headers={"Content-Encoding": "gzip"})
    with hostile_server({}, default=canned(reply)) as server:
        run = run_cli(write_config(tmp_path, _ollama(server.url)), "health", "--json")
    assert "Traceback" not in run.stderr, run.stderr[-2000:]
    [row] = json.loads(run.stdout)
    assert row["status"] in ("down", "degraded") and "larger than" in row["detail"], row
    assert run.peak_rss_mb - idle_rss_mb < RSS_ALLOWANCE_MB, (run.peak_rss_mb, idle_rss_mb)


async def test_layered_or_unrequested_encodings_are_refused_not_inflated(gzip_bomb: bytes) -> None:
    twice = http_reply(gzip_bomb, headers={"Content-Encoding": "gzip, gzip"})
    brotli = http_reply(b"\x0b\x02\x80{}\x03", headers={"Content-Encoding": "br"})
    with hostile_server({"GET /twice": canned(twice), "GET /br": canned(brotli)}) as server:
        async with make_client() as client:
            for path in ("/twice", "/br"):
                with pytest.raises(ProtocolError, match="unsupported content-encoding"):
                    await request_json(client, "GET", server.url + path, provider="box")
            assert server.seen[0].headers["accept-encoding"] == "gzip, deflate"


async def test_error_body_bomb_is_read_only_for_its_message(gzip_bomb: bytes) -> None:
    reply = http_reply(gzip_bomb, status=500, headers={"Content-Encoding": "gzip"})
    with hostile_server({"GET /api/tags": canned(reply)}) as server:
        async with make_client() as client:
            adapter = OllamaAdapter(AdapterOptions(name="box", base_url=server.url, kind="ollama"), client)
            with pytest.raises(ServerError) as caught:
                await bounded(adapter.list_models())
    assert caught.value.status == 500


async def test_honest_gzip_and_both_deflate_forms_still_decode() -> None:
    body = json.dumps({"models": [{"name": f"m{i}"} for i in range(2000)]}).encode()
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)  # raw deflate, as some servers send "deflate"
    replies = {"GET /gzip": (gzip.compress(body), "gzip"), "GET /zlib": (zlib.compress(body), "deflate"),
               "GET /raw": (packer.compress(body) + packer.flush(), "deflate")}
    routes = {path: canned(http_reply(data, headers={"Content-Encoding": coding}))
              for path, (data, coding) in replies.items()}
    with hostile_server(routes) as server:
        async with make_client() as client:
            for path in replies:
                reply = await request_json(client, "GET", server.url + path.split()[1], provider="box")
                assert len(reply["models"]) == 2000, path


# --- streams --------------------------------------------------------------------------------------------------


def _chat_request() -> ChatRequest:
    return ChatRequest(model="m", messages=(Message("user", "hi"),))


def _text_event(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"


async def _long_line(_: Request) -> AsyncIterator[bytes]:
    yield stream_head()
    yield b"data: "
    for _ in range(160):  # 10 MiB without a newline
        yield b"x" * 65536


def test_ten_megabyte_sse_line_ends_chat_at_the_line_cap(idle_rss_mb: float, tmp_path: Path) -> None:
    with hostile_server({"POST /v1/chat/completions": _long_line}) as server:
        run = run_cli(write_config(tmp_path, _vllm(server.url)), "chat", "box/m", "hi")
    _one_line_failure(run, "a line longer than 1048576 characters")
    assert run.peak_rss_mb - idle_rss_mb < RSS_ALLOWANCE_MB


async def test_sse_parser_takes_a_long_line_in_linear_time() -> None:
    # 20 MB in 1 KiB pieces: the old parser copied the whole tail per piece (10 MB took 48 s); this is linear.
    parser = SSEParser("box", max_chars=64 << 20)

    async def feed() -> list[object]:
        events: list[object] = []
        piece = "x" * 1024
        events += parser.feed("data: ")
        for count in range(20 * 1024):
            events += parser.feed(piece)
            if count % 1024 == 0:
                await asyncio.sleep(0)  # let `bounded` end a hang
        return events + parser.feed("\n\n")

    [event] = await bounded(feed(), what="20 MB SSE line")
    assert len(event.data) == 20 * 1024 * 1024  # type: ignore[attr-defined]
    with pytest.raises(ProtocolError, match="line longer"):
        SSEParser("box").feed("y" * (1 << 20) + "y")


async def test_gzipped_stream_of_one_endless_line_stops_at_the_line_cap() -> None:
    # "data: " and 512 MB of one letter in one gzip stream (~0.5 MB on the wire): no newline ever comes.
    framed = _gzip(512, b"z", prefix=b"data: ")
    reply = stream_head(headers={"Content-Encoding": "gzip"}) + framed
    with hostile_server({"POST /v1/chat/completions": canned(reply)}) as server:
        async with make_client() as client:
            adapter = OpenAICompatAdapter(AdapterOptions(name="box", base_url=server.url, kind="vllm"), client)
            with pytest.raises(ProtocolError, match="line longer"):
                await bounded(_drain(adapter.chat_stream(_chat_request())))


async def _drain(stream: AsyncIterator[object]) -> int:
    count = 0
    async for _ in stream:
        count += 1
    return count


async def test_ndjson_line_without_newline_ends_an_ollama_chat_at_the_cap() -> None:
    async def reply(_: Request) -> AsyncIterator[bytes]:
        yield stream_head(content_type="application/x-ndjson")
        yield b'{"message": {"role": "assistant", "content": "'
        for _ in range(64):  # 4 MiB, never closed
            yield b"a" * 65536

    with hostile_server({"POST /api/chat": reply}) as server:
        async with make_client() as client:
            adapter = OllamaAdapter(AdapterOptions(name="box", base_url=server.url, kind="ollama"), client)
            with pytest.raises(ProtocolError, match="line longer"):
                await bounded(_drain(adapter.chat_stream(_chat_request())))


async def _endless_answer(_: Request) -> AsyncIterator[bytes]:
    yield stream_head()
    burst = _text_event("x" * 4000) * 16
    while True:
        yield burst


def test_endless_stream_of_valid_chunks_is_cut_at_the_answer_cap(idle_rss_mb: float, tmp_path: Path) -> None:
    with hostile_server({"POST /v1/chat/completions": _endless_answer}) as server:
        run = run_cli(write_config(tmp_path, _vllm(server.url)), "chat", "box/m", "hi", "--json")
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    doc = json.loads(run.stdout)
    assert "answer longer than 2000000 characters" in json.dumps(doc)
    assert 1_900_000 <= len(doc["text"]) <= 2_000_000  # the partial answer is kept, up to the cap
    assert run.peak_rss_mb - idle_rss_mb < RSS_ALLOWANCE_MB


def test_answer_cap_is_configurable(tmp_path: Path) -> None:
    with hostile_server({"POST /v1/chat/completions": _endless_answer}) as server:
        config = _vllm(server.url, max_answer_chars=10_000)
        run = run_cli(write_config(tmp_path, config), "chat", "box/m", "hi", "--json")
    doc = json.loads(run.stdout)
    assert run.returncode != 0 and "answer longer than 10000 characters" in json.dumps(doc)
    assert len(doc["text"]) <= 10_000


# --- deadlines ------------------------------------------------------------------------------------------------


async def _drip(_: Request) -> AsyncIterator[bytes]:
    yield stream_head()
    while True:
        yield b":"  # one byte of an SSE comment every 10 s: every read timeout is reset, no chunk ever comes
        await asyncio.sleep(10)


def test_drip_fed_direct_target_ends_at_the_total_deadline(tmp_path: Path) -> None:
    with hostile_server({"POST /v1/chat/completions": _drip}) as server:
        run = run_cli(write_config(tmp_path, _vllm(server.url, total_s=2)), "chat", "box/m", "hi")
    _one_line_failure(run, "deadline")


async def _one_chunk_then_drip(_: Request) -> AsyncIterator[bytes]:
    yield stream_head() + _text_event("Hello")
    while True:
        await asyncio.sleep(0.5)
        yield b":"


def test_idle_deadline_counts_chunks_not_bytes(tmp_path: Path) -> None:
    with hostile_server({"POST /v1/chat/completions": _one_chunk_then_drip}) as server:
        run = run_cli(write_config(tmp_path, _vllm(server.url, idle_s=1.5)), "chat", "box/m", "hi", "--json")
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    doc = json.loads(run.stdout)
    assert doc["text"] == "Hello" and "no chunk within 1.50s" in json.dumps(doc)


# --- images ---------------------------------------------------------------------------------------------------


def _a1111_reply(png: bytes) -> bytes:
    return http_reply(json.dumps({"images": [base64.b64encode(png).decode()], "parameters": {},
                                  "info": json.dumps({"seed": 1})}).encode())


def test_png_zlib_bomb_from_a1111_is_refused_before_it_is_saved(png_bomb: bytes, idle_rss_mb: float,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    with hostile_server({"POST /sdapi/v1/txt2img": canned(_a1111_reply(png_bomb))},
                        default=canned(http_reply(b"{}"))) as server:
        config = {"providers": [{"name": "sd", "kind": "a1111", "base_url": server.url}]}
        run = run_cli(write_config(tmp_path, config), "image", "sd", "a cat", "--out", str(out))
    _one_line_failure(run, "decompression bomb")
    assert not out.exists()
    assert run.peak_rss_mb - idle_rss_mb < RSS_ALLOWANCE_MB


def test_preview_decoder_refuses_the_bomb_and_oversized_headers(png_bomb: bytes) -> None:
    with pytest.raises(PngError, match="decompression bomb"):
        decode_png(png_bomb)
    huge = _png(100_000, 100_000, zlib.compress(b"\0" * 64))
    with pytest.raises(PngError, match="outside what a preview shows"):
        decode_png(huge)
    with pytest.raises(PngError, match="outside what a preview shows"):
        preview_size(huge[:33])
    with pytest.raises(ProtocolError, match="outside the budget"):
        check_png(huge, "sd")
    honest = _png(2, 1, zlib.compress(b"\0\xff\0\0\0\xff\0"))
    assert check_png(honest, "sd") == (2, 1)
    assert decode_png(honest).pixel(0, 0) == (255, 0, 0)


async def test_an_alias_without_timeouts_gets_the_default_idle_limit_and_its_own_win() -> None:
    stalled = FakeAdapter("box", Script(pieces=("Hello", " world"), gap_s=HANG_S * 2))
    bounds = ReplyBounds(RouteTimeouts(idle_s=0.3, total_s=HANG_S), max_answer_chars=1_000)
    plain = Route("plain", (Target("box", "m"),))
    own = Route("own", (Target("box", "m"),), timeouts=RouteTimeouts(idle_s=0.2, total_s=5.0))
    router = Router({"box": stalled}, [plain, own], bounds=bounds)
    assert router.resolve("own").timeouts == RouteTimeouts(idle_s=0.2, total_s=5.0)
    assert router.resolve("box/m").timeouts == bounds.timeouts
    with pytest.raises(StreamBrokenError, match=r"no chunk within 0\.30s") as caught:
        await bounded(router.chat("plain", _chat_request()))
    assert caught.value.partial == "Hello"
