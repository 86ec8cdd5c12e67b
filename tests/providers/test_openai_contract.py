"""The official `openai` client accepts the emulators: models, chat (plain and streamed), embeddings, images,
and the SDK's own exception classes for faults."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import openai
import pytest

from providers.emulators.faults import FAULT_HEADER
from providers.emulators.png import png_size
from providers.emulators.server import EmulatorServer

CHAT_MODEL = {"openai": "gpt-4o-mini", "vllm": "meta-llama/Llama-3.1-8B-Instruct",
              "llamacpp": "llama-3.2-3b-instruct-q4_k_m"}


@pytest.fixture
async def sdk(openai_servers: dict[str, EmulatorServer]) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=openai_servers["openai"].url + "/v1", api_key="x", max_retries=0)
    yield client
    await client.close()


@pytest.mark.parametrize("flavour", list(CHAT_MODEL))
async def test_sdk_lists_models_and_chats_both_ways(flavour: str, openai_servers: dict[str, EmulatorServer]) -> None:
    async with openai.AsyncOpenAI(base_url=openai_servers[flavour].url + "/v1", api_key="x", max_retries=0) as client:
        models = [m.id async for m in client.models.list()]
        assert CHAT_MODEL[flavour] in models
        messages = [{"role": "user", "content": "Say hello to the lab."}]
        plain = await client.chat.completions.create(model=CHAT_MODEL[flavour], messages=messages,  # type: ignore[arg-type]
                                                     max_tokens=6)
        assert plain.choices[0].finish_reason == "length"
        assert plain.usage is not None and plain.usage.completion_tokens == 6
        stream = await client.chat.completions.create(model=CHAT_MODEL[flavour], messages=messages,  # type: ignore[arg-type]
                                                      max_tokens=6, stream=True,
                                                      stream_options={"include_usage": True})
        pieces, usage = [], None
        async for chunk in stream:
            pieces += [c.delta.content for c in chunk.choices if c.delta.content]
            usage = chunk.usage or usage
        assert "".join(pieces) == plain.choices[0].message.content
        assert usage is not None and usage.completion_tokens == 6


async def test_sdk_embeds_with_its_default_base64_encoding(sdk: openai.AsyncOpenAI) -> None:
    packed = await sdk.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    floats = await sdk.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"],
                                         encoding_format="float")
    assert [len(e.embedding) for e in packed.data] == [16, 16]
    for a, b in zip(packed.data, floats.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)


@pytest.mark.parametrize(("model", "extra"), [("gpt-image-1", {}), ("dall-e-3", {"response_format": "b64_json"})])
async def test_sdk_generates_a_png(sdk: openai.AsyncOpenAI, model: str, extra: dict[str, str]) -> None:
    reply = await sdk.images.generate(model=model, prompt="a lighthouse", size="256x256", **extra)  # type: ignore[arg-type]
    assert reply.data is not None and reply.data[0].b64_json is not None
    assert png_size(base64.b64decode(reply.data[0].b64_json)) == (256, 256)


@pytest.mark.parametrize(("fault", "expected"), [
    ("429", openai.RateLimitError), ("401", openai.AuthenticationError), ("context", openai.BadRequestError),
    ("500", openai.InternalServerError),
])
async def test_sdk_raises_its_own_classes_for_faults(sdk: openai.AsyncOpenAI, fault: str,
                                                     expected: type[openai.APIStatusError]) -> None:
    with pytest.raises(expected) as caught:
        await sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                          extra_headers={FAULT_HEADER: fault})
    if fault == "context":
        assert caught.value.code == "context_length_exceeded"
    if fault == "429":
        assert caught.value.response.headers["retry-after"] == "1"


async def test_sdk_rejects_response_format_for_gpt_image_like_the_real_api(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="response_format"):
        await sdk.images.generate(model="gpt-image-1", prompt="x", response_format="b64_json")
