"""Write an SVG of each of the six panes of the demo console to screenshots/ (`make screenshots`): at 120×36
(the README's), and at 80×24 under screenshots/80x24/.

Runs the real demo (emulators on loopback, throw-away keys, a temp data dir), sends a little traffic so the
graphs have something to draw, breaks one provider with chaos so the routes pane shows a fallback, then drives
the app headless with Pilot and saves one screenshot per pane (and the Graphs pane scrolled to its end, where
its plots scroll). Braille cells are placed one by one in the SVG: a viewer without the SVG's font draws them
from a wider fallback font and would otherwise run a plot's line out of its box.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import re
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

SIZES = ((120, 36), (80, 24))
"""The first size is the README's, written to --out itself; each other goes to a folder named for it."""
TEXT_SPAN = re.compile(r'<text class="(?P<cls>[^"]+)" x="(?P<x>[\d.]+)" y="(?P<y>[\d.]+)" '
                       r'textLength="(?P<length>[\d.]+)" clip-path="(?P<clip>[^"]+)">(?P<body>[^<]*)</text>')
BRAILLE = re.compile("[\u2800-\u28ff]")
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


def place_cells(svg: str) -> str:
    """Give every character of a text span holding braille its own x: each then starts in its own cell
    whatever font the viewer falls back to."""

    def split(match: re.Match[str]) -> str:
        body = html.unescape(match["body"])
        if not BRAILLE.search(body):
            return match[0]
        width = float(match["length"]) / len(body)
        x = float(match["x"])
        return "".join(
            f'<text class="{match["cls"]}" x="{x + i * width:g}" y="{match["y"]}" textLength="{width:g}" '
            f'clip-path="{match["clip"]}">{html.escape(char, quote=False)}</text>'
            for i, char in enumerate(body) if not char.isspace())

    return TEXT_SPAN.sub(split, svg)


def save(app: DeckApp, folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text(place_cells(app.export_screenshot()), encoding="utf-8")
    return path


async def capture(out: Path, sizes: tuple[tuple[int, int], ...] = SIZES) -> list[Path]:
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
            for index, size in enumerate(sizes):
                folder = out if index == 0 else out / f"{size[0]}x{size[1]}"
                folder.mkdir(parents=True, exist_ok=True)
                written += await capture_panes(deck, demo, size, folder)
        finally:
            await deck.stop()
    finally:
        await asyncio.to_thread(demo.stop)
    return written


async def capture_panes(deck: Deck, demo: DemoSession, size: tuple[int, int], folder: Path) -> list[Path]:
    written: list[Path] = []
    app = DeckApp(deck, demo=demo, traffic=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(2.0)
        for number, pane_id in enumerate(PANES, start=1):
            pane = await app.show_pane(pane_id)
            prompt = PROMPTS.get(pane_id)
            if prompt is not None:  # the chat and image panes look alive with one request made
                await pilot.pause()
                app.query_one(prompt[0]).focus()
                await pilot.press(*prompt[1], "enter")
            await pilot.pause(2.5)
            written.append(save(app, folder, f"{number}-{pane_id}.svg"))
            if pane_id == "graphs":
                scroll = pane.query_one("#graphs-scroll")
                if scroll.max_scroll_y > 0:  # the money plots are below the fold
                    scroll.scroll_end(animate=False)
                    await pilot.pause(0.5)
                    written.append(save(app, folder, f"{number}-{pane_id}-end.svg"))
    return written


def size_of(text: str) -> tuple[int, int]:
    columns, _, lines = text.partition("x")
    return int(columns), int(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--size", type=size_of, action="append", metavar="COLUMNSxLINES",
                        help="repeatable; the first goes to --out, others to --out/COLUMNSxLINES "
                             "(default: 120x36 and 80x24)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(capture(args.out, tuple(args.size) if args.size else SIZES)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
