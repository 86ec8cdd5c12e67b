"""Write an SVG of each of the six panes of the demo console at 120×36 to screenshots/ (`make screenshots`).

Runs the real demo (emulators on loopback, throw-away keys, a temp data dir), sends a little traffic so the
graphs have something to draw, breaks one provider with chaos so the routes pane shows a fallback, then drives
the app headless with Pilot and saves one screenshot per pane.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.app import DeckApp  # noqa: E402 - after the path fix, so it runs from a checkout
from console.demo import DemoSession  # noqa: E402
from providers.base import ChatRequest, Message  # noqa: E402
from providers.deck import Deck  # noqa: E402
from providers.errors import ProviderError  # noqa: E402
from providers.monitor import MonitorPolicy  # noqa: E402

SIZE = (120, 36)
PROMPTS = {"chat": ("#chat-prompt", "Which GPU box is free?"), "images": ("#images-prompt", "a lighthouse at dusk")}
PANES = ("health", "models", "graphs", "routes", "chat", "images")
WARM_UP = (("chat", "Which GPU box is free?"), ("fast", "One line about KV caches."),
           ("cheap", "Summarise the lab in five words."), ("cloud-chat", "Say hello."))


async def warm_up(deck: Deck, rounds: int = 3) -> None:
    """A few chats on every alias, so latency, tokens and spend have points."""
    for _ in range(rounds):
        for alias, prompt in WARM_UP:
            with contextlib.suppress(ProviderError):  # a failure is data too
                await deck.chat(alias, ChatRequest(model="", messages=(Message("user", prompt),), max_tokens=32))


async def capture(out: Path) -> list[Path]:
    demo = await asyncio.to_thread(DemoSession.start)
    written: list[Path] = []
    try:
        deck = Deck(demo.config, demo.data_dir, monitor_policy=MonitorPolicy(interval_s=1.0, fast_interval_s=0.3),
                    demo=True)
        await deck.start()
        try:
            await warm_up(deck)
            await asyncio.to_thread(demo.set_chaos, "box-vllm", "503")
            deck.monitor.probe_now("box-vllm")
            await warm_up(deck, rounds=1)
            app = DeckApp(deck, demo=demo, traffic=False)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause(2.0)
                for number, pane_id in enumerate(PANES, start=1):
                    await app.show_pane(pane_id)
                    prompt = PROMPTS.get(pane_id)
                    if prompt is not None:  # the chat and image panes look alive with one request made
                        await pilot.pause()
                        app.query_one(prompt[0]).focus()
                        await pilot.press(*prompt[1], "enter")
                    await pilot.pause(2.5)
                    name = f"{number}-{pane_id}.svg"
                    app.save_screenshot(filename=name, path=str(out))
                    written.append(out / name)
        finally:
            await deck.stop()
    finally:
        await asyncio.to_thread(demo.stop)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(capture(args.out)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
