"""The OpenAI-compatible parsers fed bodies recorded from real servers, whole, split at every awkward byte
boundary, and replaced by garbage (which may only ever raise ProviderError)."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.adapters.openai_flavours import FLAVOURS
from providers.adapters.openai_parse import (
    chat_body,
    chat_chunks,
    embeddings_from,
    error_from_payload,
    image_from,
    models_from_list,
    openrouter_prices,
    props_context,
    result_from_completion,
)
from providers.adapters.prometheus import (
    histogram_quantile,
    llamacpp_summary,
    parse_prometheus,
    vllm_summary,
)
from providers.base import ChatChunk, ChatRequest, Message
from providers.errors import (
    AuthFailedError,
    ContextTooLongError,
    OverloadedError,
    ProtocolError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitedError,
)
from providers.http import error_from_status, iter_sse, parse_json
from tests.providers.openai_stub_server import fixture_bytes

# What each recorded stream says, read off the files by hand.
STREAMS = {
    "llamacpp_chat_stream.sse": ("cancelání stup relax canción dabei", "length", (14, 6)),
    "llamacpp_python_chat_stream.sse": ("н iPhone vida식endencies британ", "length", None),
    "litellm_chat_stream.sse": ("Hello from the LiteLLM proxy mock.", "stop", (8, 9)),
}


class ChunkedBody(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(body)}), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


async def parse_stream(pieces: list[bytes], content_type: str = "text/event-stream") -> list[ChatChunk]:
    response = httpx.Response(200, headers={"content-type": content_type}, stream=ChunkedBody(pieces))
    return [chunk async for chunk in chat_chunks(iter_sse(response, "t"), "t")]


def summary(chunks: list[ChatChunk]) -> tuple[str, str | None, tuple[int, int] | None]:
    usage = next((c.usage for c in reversed(chunks) if c.usage), None)
    finish = next((c.finish_reason for c in reversed(chunks) if c.finish_reason), None)
    return "".join(c.text for c in chunks), finish, (usage.prompt_tokens, usage.completion_tokens) if usage else None


@pytest.mark.parametrize("name", sorted(STREAMS))
async def test_recorded_stream_parses_to_its_text_finish_and_usage(name: str) -> None:
    chunks = await parse_stream([fixture_bytes(name)])
    assert summary(chunks) == STREAMS[name]


async def test_llamacpp_stream_timings_come_from_the_usage_chunk() -> None:
    chunks = await parse_stream([fixture_bytes("llamacpp_chat_stream.sse")])
    timings = next(c.timings for c in chunks if c.timings)
    assert (timings.prompt_tokens, timings.completion_tokens) == (1, 6)
    assert timings.completion_ms == pytest.approx(2.648)
    assert timings.tokens_per_s == pytest.approx(6 / 2.648 * 1000)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), name=st.sampled_from(sorted(STREAMS)))
async def test_any_split_of_a_recorded_stream_gives_the_same_answer(data: st.DataObject, name: str) -> None:
    body = fixture_bytes(name)
    cuts = data.draw(st.lists(st.integers(min_value=1, max_value=len(body) - 1), max_size=40))
    assert summary(await parse_stream(split(body, cuts))) == STREAMS[name]


async def test_byte_at_a_time_split_inside_multibyte_characters_keeps_the_text() -> None:
    body = fixture_bytes("llamacpp_python_chat_stream.sse").replace(b"\\u043d", "н".encode())
    chunks = await parse_stream([body[i:i + 1] for i in range(len(body))])
    assert summary(chunks)[0] == STREAMS["llamacpp_python_chat_stream.sse"][0]


async def test_comments_and_keepalives_are_ignored() -> None:
    body = fixture_bytes("litellm_chat_stream.sse")
    noisy = b": OPENROUTER PROCESSING\n\n: keep-alive\n\n" + body.replace(b"\n\ndata: ", b"\n\n: ping\n\ndata: ", 3)
    assert summary(await parse_stream([noisy])) == STREAMS["litellm_chat_stream.sse"]


async def test_crlf_line_endings_parse_the_same() -> None:
    body = fixture_bytes("litellm_chat_stream.sse").replace(b"\n", b"\r\n")
    assert summary(await parse_stream([body])) == STREAMS["litellm_chat_stream.sse"]


@pytest.mark.parametrize("name", sorted(STREAMS))
async def test_stream_without_done_is_a_protocol_error_not_a_clean_finish(name: str) -> None:
    body = fixture_bytes(name).replace(b"data: [DONE]\n\n", b"")
    with pytest.raises(ProtocolError, match=r"\[DONE\]"):
        await parse_stream([body])


async def test_mid_stream_error_payload_raises_the_mapped_error() -> None:
    body = (fixture_bytes("litellm_chat_stream.sse").split(b"\n\n")[0] + b"\n\n"
            + b'data: {"error":{"code":429,"message":"Rate limit exceeded upstream"}}\n\n')
    with pytest.raises(RateLimitedError):
        await parse_stream([body])


@pytest.mark.parametrize(("payload", "expected"), [
    ({"error": {"message": "Overloaded", "type": "overloaded_error"}}, OverloadedError),
    ({"error": {"message": "x", "type": "invalid_request_error", "code": "context_length_exceeded"}},
     ContextTooLongError),
    ({"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}, QuotaExhaustedError),
    ({"error": {"code": 402, "message": "Insufficient credits"}}, QuotaExhaustedError),
    ({"object": "error", "message": "Unauthorized", "type": "authentication_error", "code": 401}, AuthFailedError),
    ({"error": "Unauthorized"}, AuthFailedError),
])
def test_error_payloads_map_by_code_or_type(payload: dict[str, object], expected: type[ProviderError]) -> None:
    assert isinstance(error_from_payload(payload, "t"), expected)


def test_llamacpp_context_error_carries_window_and_prompt_sizes() -> None:
    error = error_from_status(400, fixture_bytes("llamacpp_context_exceeded.json").decode(), {}, "t")
    assert isinstance(error, ContextTooLongError)
    assert (error.n_ctx, error.n_prompt) == (512, 814)


def test_vllm_context_error_sizes_are_read_from_its_message() -> None:
    body = json.dumps({"error": {"message": "This model's maximum context length is 8192 tokens. However, you "
                                 "requested 9100 tokens (9000 in the messages, 100 in the completion). Please reduce "
                                 "the length of the messages or completion.", "type": "BadRequestError", "code": 400}})
    error = error_from_status(400, body, {}, "t")
    assert isinstance(error, ContextTooLongError)
    assert (error.n_ctx, error.n_prompt) == (8192, 9000)


def test_non_streaming_llamacpp_completion() -> None:
    result = result_from_completion(json.loads(fixture_bytes("llamacpp_chat.json")), "asked", "t")
    assert result.text == " coordinatescas импе Burgexit expectation reallyCharacter"
    assert (result.model, result.finish_reason) == ("tiny-llama-native", "length")
    assert result.usage is not None and result.usage.total_tokens == 22
    assert result.timings is not None and result.timings.completion_tokens == 8


def test_llamacpp_models_use_the_running_context_not_the_training_one() -> None:
    listing = json.loads(fixture_bytes("llamacpp_v1_models.json"))
    [model] = models_from_list(listing, "lc", resident=True)
    assert (model.name, model.context_length, model.loaded, model.size_bytes) == ("tiny-llama-native", 512, True,
                                                                                 16712960)
    assert props_context(json.loads(fixture_bytes("llamacpp_props.json"))) == 512


def test_props_context_fills_in_for_a_model_list_without_meta() -> None:
    listing = json.loads(fixture_bytes("llamacpp_python_v1_models.json"))
    assert models_from_list(listing, "lc", resident=True)[0].context_length is None
    assert models_from_list(listing, "lc", resident=True, n_ctx=2048)[0].context_length == 2048


def test_litellm_models_give_max_input_tokens_as_context() -> None:
    models = models_from_list(json.loads(fixture_bytes("litellm_v1_models.json")), "ll", resident=False)
    assert [(m.name, m.context_length) for m in models] == [("gpt-4o-mini", 128000), ("tiny-llama", None)]


def test_router_mode_and_lmstudio_states_say_what_is_loaded() -> None:
    listing = {"data": [
        {"id": "a", "status": {"value": "loaded"}}, {"id": "b", "status": {"value": "unloaded"}},
        {"id": "c", "state": "loaded", "max_context_length": 32768, "type": "embeddings", "quantization": "Q4_K_M"},
        {"id": "d", "state": "not-loaded"},
    ]}
    models = models_from_list(listing, "x", resident=True)
    assert [(m.name, m.loaded) for m in models] == [("a", True), ("b", False), ("c", True), ("d", False)]
    assert (models[2].kind, models[2].context_length, models[2].quantization) == ("embed", 32768, "Q4_K_M")


def test_openrouter_prices_are_usd_per_token_from_strings() -> None:
    listing = {"data": [
        {"id": "anthropic/claude-sonnet-4.5", "context_length": 1000000,
         "pricing": {"prompt": "0.000003", "completion": "0.000015", "request": "0"}},
        {"id": "broken", "pricing": {"prompt": "n/a"}},
    ]}
    assert openrouter_prices(listing) == {"anthropic/claude-sonnet-4.5": (3e-6, 1.5e-5)}
    assert models_from_list(listing, "or", resident=False)[0].context_length == 1000000


def test_chat_body_turns_a_prefix_into_a_trailing_assistant_message() -> None:
    request = ChatRequest(model="m", messages=(Message("user", "hi"),), max_tokens=7, assistant_prefix="Once upon")
    vllm = chat_body(request, FLAVOURS["vllm"], stream=True)
    assert vllm["messages"][-1] == {"role": "assistant", "content": "Once upon"}
    assert (vllm["continue_final_message"], vllm["add_generation_prompt"]) == (True, False)
    assert vllm["stream_options"] == {"include_usage": True} and vllm["max_tokens"] == 7
    llamacpp = chat_body(request, FLAVOURS["llamacpp"], stream=True)
    assert llamacpp["messages"][-1]["role"] == "assistant" and "continue_final_message" not in llamacpp
    openai = chat_body(request, FLAVOURS["openai"], stream=False)
    assert openai["max_completion_tokens"] == 7 and "stream_options" not in openai
    assert "stream_options" not in chat_body(request, FLAVOURS["textgen"], stream=True)


def test_llamacpp_metrics_summary() -> None:
    summary_ = llamacpp_summary(fixture_bytes("llamacpp_metrics.txt").decode())
    assert summary_ == {"requests_running": 0.0, "requests_waiting": 0.0, "prompt_tokens_per_s": 151.883,
                        "generation_tokens_per_s": 1121.26, "prompt_tokens_total": 16.0,
                        "generation_tokens_total": 17.0}


def test_vllm_summary_falls_back_to_the_old_kv_gauge_and_reads_the_ttft_histogram() -> None:
    text = "\n".join([
        '# TYPE vllm:num_requests_running gauge',
        'vllm:num_requests_running{engine="0",model_name="m"} 3.0',
        'vllm:num_requests_waiting{engine="0",model_name="m"} 1.0',
        'vllm:gpu_cache_usage_perc{model_name="m"} 0.5',
        'vllm:time_to_first_token_seconds_bucket{le="0.1",model_name="m"} 2.0',
        'vllm:time_to_first_token_seconds_bucket{le="0.5",model_name="m"} 6.0',
        'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 6.0',
        'vllm:time_to_first_token_seconds_sum{model_name="m"} 1.2',
        'vllm:time_to_first_token_seconds_count{model_name="m"} 6.0',
    ])
    result = vllm_summary(text)
    assert (result["requests_running"], result["requests_waiting"], result["kv_cache_usage"]) == (3.0, 1.0, 0.5)
    assert result["ttft_p50_s"] == pytest.approx(0.1 + 0.4 * (3 - 2) / 4)
    assert result["ttft_mean_s"] == pytest.approx(0.2)


def test_prometheus_labels_with_escapes_and_odd_values() -> None:
    samples = parse_prometheus('m{a="x\\"y",b="1,2"} NaN\nm2 +Inf 1700000000\nbroken{ 3\nm3 -1e3\n')
    assert [(s.name, s.labels) for s in samples] == [("m", {"a": 'x"y', "b": "1,2"}), ("m2", {}), ("m3", {})]
    assert math.isnan(samples[0].value) and samples[1].value == math.inf and samples[2].value == -1000.0
    assert histogram_quantile(samples, "absent", 0.5) is None


# ------------------------------------------------------------------ garbage in, ProviderError out

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "choices", "delta", "content", "usage", "prompt_tokens", "id", "meta", "n_ctx",
                         "error", "message", "embedding", "index", "b64_json", "timings", "status", "pricing",
                         "n_params", "size", "max_model_len", "prompt", "completion", "predicted_ms", "code",
                         "type", "default_generation_settings"]),
        children, max_size=5),
    max_leaves=20,
)
SSE_PIECES = st.lists(st.sampled_from([
    b"data: ", b"data:", b"[DONE]", b"\n", b"\r\n", b"\n\n", b": ping", b"event: error", b"id: 7", b"retry: x",
    b'{"choices":[{"delta":{"content":"a"}}]}', b'{"error":{"code":503}}', b'{"choices":5}', b"[1,2]", b"\xff\xfe",
    b'{"usage":{"prompt_tokens":"x"}}', b"null", b'{"choices":[{"delta":{"content":7},"finish_reason":[]}]}',
]), max_size=30)


@settings(max_examples=200, deadline=None)
@given(pieces=SSE_PIECES, cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=5))
async def test_garbage_streams_raise_only_provider_errors(pieces: list[bytes], cuts: list[int]) -> None:
    with contextlib.suppress(ProviderError):
        await parse_stream(split(b"".join(pieces), cuts))


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=300))
async def test_random_bytes_raise_only_provider_errors(body: bytes) -> None:
    with contextlib.suppress(ProviderError):
        await parse_stream([body])


@pytest.mark.parametrize("payload", [b"[" * 100_000, b"1" * 5000, json.dumps({"error": {"code": "²²²"}}).encode()])
async def test_pathological_json_is_a_provider_error(payload: bytes) -> None:
    with pytest.raises(ProviderError):
        await parse_stream([b"data: " + payload + b"\n\n"])
    with pytest.raises(ProviderError):
        result_from_completion(parse_json(payload, "t"), "m", "t")
    assert isinstance(error_from_status(400, payload.decode(), {}, "t"), ProviderError)


async def test_wrong_content_type_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        await parse_stream([fixture_bytes("litellm_chat_stream.sse")], content_type="application/json")


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES)
def test_garbage_json_raises_only_provider_errors(value: object) -> None:
    for parse in (
        lambda: models_from_list(value, "x", resident=True),
        lambda: result_from_completion(value, "m", "x"),
        lambda: embeddings_from(value, 1, "x"),
        lambda: image_from(value, "x"),
        lambda: openrouter_prices(value),
        lambda: props_context(value),
        lambda: error_from_payload(value if isinstance(value, dict) else {"error": value}, "x"),
    ):
        with contextlib.suppress(ProviderError):
            parse()


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300))
def test_garbage_metrics_never_raise_and_give_finite_numbers(text: str) -> None:
    for result in (vllm_summary(text), llamacpp_summary(text)):
        assert all(math.isfinite(v) for v in result.values())
