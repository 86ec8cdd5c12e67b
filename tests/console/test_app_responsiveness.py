"""Keys are still handled while three chats stream through the deck (asserted on behaviour, not wall time)."""

from __future__ import annotations

import asyncio

from console.app import DeckApp
from providers.base import ChatRequest, Message
from providers.deck import Deck
from tests.console.pane_harness import wait_until
from tests.waiting import bounded


async def test_a_pane_switch_is_handled_while_three_chats_stream(deck: Deck) -> None:
    app = DeckApp(deck)
    chunks = [0, 0, 0]
    running = [True]

    async def chat_loop(index: int) -> None:
        request = ChatRequest(model="", messages=(Message("user", f"stream {index}"),), max_tokens=64)
        while running[0]:
            async with deck.chat_stream("box-vllm/meta-llama/Llama-3.1-8B-Instruct", request) as run:
                async for _ in run:
                    chunks[index] += 1

    async with app.run_test(size=(100, 30)) as pilot:
        workers = [app.run_worker(chat_loop(i), group="load", exit_on_error=False) for i in range(3)]
        await wait_until(pilot, lambda: min(chunks) > 50, what="three streams flowing")
        for key, pane_id in (("4", "routes"), ("1", "health")):
            before = sum(chunks)
            await pilot.press(key)
            assert app.current_pane == pane_id
            assert all(w.is_running for w in workers)  # the switch happened while they streamed
            await wait_until(pilot, lambda before=before: sum(chunks) > before + 30, what="streams not starved")
        running[0] = False
        await bounded(asyncio.gather(*(w.wait() for w in workers)), what="the streams to end")

