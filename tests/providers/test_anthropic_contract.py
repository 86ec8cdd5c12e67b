"""The official `anthropic` SDK accepts the emulator: streaming, non-streaming, paged model listing, errors."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from providers.emulators.anthropic import ANSWER_TOKENS, MODELS

MODEL = "claude-3-5-haiku-20241022"
HELLO = [{"role": "user", "content": "hello from the contract test"}]


def sdk(url: str, api_key: str = "x") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=api_key, max_retries=0)


async def test_sdk_streams_text_and_final_message(emulator) -> None:
    client = sdk(emulator("anthropic").url)
    async with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO, system="terse") as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) == ANSWER_TOKENS
    assert final.content[0].type == "text" and final.content[0].text == "".join(pieces)
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens == ANSWER_TOKENS
    await client.close()


async def test_sdk_creates_a_message_without_streaming(emulator) -> None:
    client = sdk(emulator("anthropic").url)
    message = await client.messages.create(model=MODEL, max_tokens=4, messages=HELLO)
    assert message.type == "message" and message.role == "assistant"
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 4
    assert message._request_id and message._request_id.startswith("req_")
    await client.close()


async def test_sdk_auto_paginates_the_model_list(emulator) -> None:
    client = sdk(emulator("anthropic").url)
    ids = [model.id async for model in client.models.list(limit=2)]
    assert ids == [m["id"] for m in MODELS]
    one = await client.models.retrieve(MODEL)
    assert one.display_name == "Claude Haiku 3.5"
    await client.close()


@pytest.mark.parametrize(("fault", "expected", "status"), [
    ("529", getattr(anthropic, "OverloadedError", anthropic.InternalServerError), 529),
    ("429:2", anthropic.RateLimitError, 429),
    ("401", anthropic.AuthenticationError, 401),
    ("context", anthropic.BadRequestError, 400),
])
async def test_sdk_raises_its_own_error_class_for_each_fault(emulator, fault: str,
                                                              expected: type[anthropic.APIStatusError],
                                                              status: int) -> None:
    client = sdk(emulator("anthropic").url)
    with pytest.raises(expected) as caught:
        await client.messages.create(model=MODEL, max_tokens=8, messages=HELLO,
                                     extra_headers={"x-emulator-fault": fault})
    assert caught.value.status_code == status
    if fault.startswith("429"):
        assert caught.value.response.headers["retry-after"] == "2"
    if fault == "context":
        assert "prompt is too long" in caught.value.message
    await client.close()


async def test_sdk_stream_raises_on_fault_before_streaming(emulator) -> None:
    client = sdk(emulator("anthropic", faults="529").url)
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(model=MODEL, max_tokens=8, messages=HELLO) as stream:
            _ = [text async for text in stream.text_stream]
    assert caught.value.status_code == 529
    await client.close()


async def test_missing_api_key_or_version_is_refused_in_the_error_envelope(emulator) -> None:
    url = emulator("anthropic").url + "/v1/messages"
    body = {"model": MODEL, "max_tokens": 8, "messages": HELLO}
    async with httpx.AsyncClient() as client:
        no_key = await client.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
        no_version = await client.post(url, json=body, headers={"x-api-key": "k"})
        no_max_tokens = await client.post(url, json={"model": MODEL, "messages": HELLO},
                                          headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert no_key.headers["request-id"].startswith("req_")
    assert no_version.status_code == 400 and "anthropic-version" in no_version.json()["error"]["message"]
    assert no_max_tokens.status_code == 400 and "max_tokens" in no_max_tokens.json()["error"]["message"]
