"""Child process of the chat crash test: chats turn after turn through a Deck (each turn written with its request
row when the run is left), printing each stored turn."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from config.schema import DeckConfig
from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.turns import TurnPlan


async def main(base_url: str, data_dir: Path) -> None:
    config = DeckConfig.model_validate({"providers": [{"name": "o", "kind": "ollama", "base_url": base_url}]})
    deck = Deck(config, data_dir)
    await deck.start(monitor=False)
    assert deck.ledger is not None
    session = deck.ledger.new_session("crash test")
    for index in range(50):
        prompt = f"turn {index}"
        request = ChatRequest(model="", messages=(Message("user", prompt),), max_tokens=12)
        async with deck.chat_stream("o/llama3.2:1b", request, turn=TurnPlan(prompt, session)) as run:
            async for chunk in run:
                if chunk.text:
                    print(f"chunk {index}", flush=True)
        assert run.written is not None and run.written.answer_id is not None
        print(f"turn {run.written.answer_id} {len(run.text)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
