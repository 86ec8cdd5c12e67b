"""A chat run's lifetime: entered once, read once, recorded when it is left or when the deck stops; its request
row and its turn are written together and linked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from providers.base import ChatRequest, Message
from providers.chat_run import DECK_STOPPED, ChatRun, ChatRunError
from providers.deck import Deck
from providers.emulators.lab import Lab
from providers.errors import ProviderError
from providers.ledger import Ledger, UnknownSessionError
from providers.ledger_schema import RequestRow, SessionDraft, TurnRow
from providers.sessions import load_session
from providers.turns import TurnPlan
from tests.waiting import bounded, wait_for_condition

VLLM = "box-vllm/meta-llama/Llama-3.1-8B-Instruct"
HELLO = ChatRequest(model="", messages=(Message("user", "Say hello to the lab."),), max_tokens=16)


@pytest.fixture
async def deck(lab: Lab, tmp_path: Path) -> AsyncIterator[Deck]:
    started = Deck(lab.config, tmp_path / "data")
    await started.start(monitor=False)
    yield started
    await started.stop()


def ledger_of(deck: Deck) -> Ledger:
    assert deck.ledger is not None
    return deck.ledger


async def test_reading_a_run_twice_is_an_error_and_it_is_recorded_once(deck: Deck) -> None:
    async with deck.chat_stream(VLLM, HELLO) as run:
        text = "".join([chunk.text async for chunk in run])
        with pytest.raises(ChatRunError, match="only once"):
            async for _ in run:
                pass
    assert text and text == run.text
    assert [r.status for r in ledger_of(deck).recent_requests()] == ["ok"]


async def test_a_run_is_read_inside_its_block_and_entered_once(deck: Deck) -> None:
    run = deck.chat_stream(VLLM, HELLO)
    with pytest.raises(ChatRunError, match="async with"):
        async for _ in run:
            pass
    async with run:
        with pytest.raises(ChatRunError, match="entered only once"):
            await run.__aenter__()
    assert [r.status for r in ledger_of(deck).recent_requests()] == ["cancelled"]  # entered, never read


async def test_leaving_the_block_writes_the_row_and_the_turn_together_linked(deck: Deck) -> None:
    ledger = ledger_of(deck)
    session = ledger.new_session("linked")
    run = await deck.chat(VLLM, HELLO, turn=TurnPlan("Say hello to the lab.", session))
    [row] = ledger.recent_requests()
    messages = ledger.messages(session)
    assert [(m.role, m.status, m.request_id) for m in messages] == [("user", "complete", row.id),
                                                                 ("assistant", "complete", row.id)]
    assert messages[1].content == run.text and messages[1].served_by == VLLM
    assert run.written is not None and (run.written.request_id, run.written.answer_id) == (row.id, messages[1].id)
    assert run.summary is not None and run.summary.completion_tokens == row.completion_tokens
    # The row holds tokens, cost and TTFT; the message's meta does not repeat them.
    assert not {"prompt_tokens", "completion_tokens", "cost_usd", "ttft_ms"} & set(messages[1].meta)


@pytest.mark.parametrize("fault", ["", "cut"], ids=["complete", "cut"])
async def test_a_reloaded_turn_shows_the_facts_it_was_shown_with(lab: Lab, deck: Deck, fault: str) -> None:
    lab.set_faults("box-vllm", fault)
    session = ledger_of(deck).new_session("reloaded")
    with contextlib.suppress(ProviderError):
        async with deck.chat_stream(VLLM, HELLO, turn=TurnPlan("hello", session)) as run:
            async for _ in run:
                pass
    assert run.summary is not None and run.summary.status == ("cut" if fault else "complete")
    loaded = load_session(ledger_of(deck), session)
    assert loaded.transcript[-1].summary == run.summary
    assert loaded.turns[-1].summary == run.summary and loaded.turns[-1].answer == run.text


async def test_a_draft_session_is_opened_with_its_first_turn(deck: Deck) -> None:
    run = await deck.chat(VLLM, HELLO, turn=TurnPlan("hello", SessionDraft("drafted", VLLM)))
    assert run.written is not None and run.written.session_id is not None
    [session] = ledger_of(deck).list_sessions()
    assert (session.id, session.title, session.target) == (run.written.session_id, "drafted", VLLM)


async def test_a_turn_for_a_deleted_session_keeps_the_request_row_and_says_why(deck: Deck) -> None:
    ledger = ledger_of(deck)
    session = ledger.new_session("gone soon")
    ledger.delete_session(session)
    run = await deck.chat(VLLM, HELLO, turn=TurnPlan("hello", session))
    assert [r.status for r in ledger.recent_requests()] == ["ok"]
    assert run.turn_problem is not None and f"no chat session {session}" in run.turn_problem
    assert deck.ledger_problem is None


def test_a_turn_that_cannot_be_written_takes_its_request_row_with_it(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        with pytest.raises(UnknownSessionError):
            ledger.record_chat(RequestRow("box", "m", "ok"), TurnRow(404, "question", "answer"))
        assert ledger.recent_requests() == []
        written = ledger.record_chat(RequestRow("box", "m", "error"), TurnRow(SessionDraft("failed"), "q", None))
        [user] = ledger.messages(written.session_id or 0)
        assert (user.role, user.request_id, written.answer_id) == ("user", written.request_id, None)


async def test_a_run_left_open_when_the_deck_stops_is_recorded_before_the_ledger_closes(
        lab: Lab, deck: Deck) -> None:
    lab.set_faults("box-vllm", "stall_mid:600")  # the answer never ends by itself
    ledger = ledger_of(deck)
    session = ledger.new_session("left open")
    run = deck.chat_stream(VLLM, HELLO, turn=TurnPlan("tell me", session))
    await run.__aenter__()
    first = await bounded(anext(aiter(run)), what="the first chunk")
    assert first.text
    await bounded(deck.stop(), what="the deck to stop")
    assert deck.ledger is None
    with Ledger.open(deck.data_dir / "ledger.sqlite3") as reopened:
        [row] = reopened.recent_requests()
        assert (row.status, row.provider) == ("cancelled", "box-vllm")
        messages = reopened.messages(session)
    assert [(m.role, m.status, m.request_id) for m in messages] == [("user", "complete", row.id),
                                                                 ("assistant", "cancelled", row.id)]
    assert messages[1].content == run.text and run.text.startswith(first.text)
    assert run.summary is not None and run.summary.reason == DECK_STOPPED
    await run.aclose()  # the caller leaving afterwards writes nothing more


async def test_a_reader_cancelled_as_the_deck_stops_ends_its_run_in_its_own_words(lab: Lab, deck: Deck) -> None:
    lab.set_faults("box-vllm", "stall_mid:600")
    session = ledger_of(deck).new_session("cancelled reader")
    run = deck.chat_stream(VLLM, HELLO, turn=TurnPlan("tell me", session))

    async def read() -> None:  # as the console's reply worker does
        async with run:
            try:
                async for _ in run:
                    pass
            except asyncio.CancelledError:
                run.stop_reason = "cancelled by the operator"
                raise

    reader = asyncio.ensure_future(read())
    await wait_for_condition(lambda: run.text, what="the first words")
    reader.cancel()  # the console closing: its workers are cancelled, nobody waits for them
    await bounded(deck.stop(), what="the deck to stop")
    with Ledger.open(deck.data_dir / "ledger.sqlite3") as reopened:
        assert [r.status for r in reopened.recent_requests()] == ["cancelled"]
        answer = reopened.messages(session)[-1]
    assert (answer.status, answer.content, answer.meta["reason"]) == ("cancelled", run.text,
                                                                       "cancelled by the operator")
    with pytest.raises(asyncio.CancelledError):
        await bounded(reader, what="the reader to end")


async def test_every_run_of_a_busy_deck_gets_exactly_one_row(deck: Deck) -> None:
    async def one(index: int) -> ChatRun:
        request = ChatRequest(model="", messages=(Message("user", f"question {index}"),), max_tokens=8)
        return await deck.chat(VLLM, request)

    runs = await bounded(asyncio.gather(*(one(i) for i in range(6))), what="six chats")
    assert sorted(r.written.request_id for r in runs if r.written) == \
        sorted(r.id for r in ledger_of(deck).recent_requests())
    assert len(ledger_of(deck).recent_requests()) == 6
