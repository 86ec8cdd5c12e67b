"""A long answer streamed into the ChatLog: the widget tree stays the same size while it grows, the rows on
screen follow the text, and the whole answer is there (as Markdown) when it ends."""

from __future__ import annotations

from textual.app import App, ComposeResult

from console.widgets.answer_text import AnswerText
from console.widgets.chat_log import ChatLog
from console.widgets.stream_batcher import StreamBatcher
from providers.turns import TurnSummary
from tests.console.pane_harness import until

PARAGRAPHS = 120
WORDS = 40  # 4,800 tokens in all, in paragraphs and list items as chat answers come


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ChatLog()


def long_answer() -> list[str]:
    tokens: list[str] = []
    for p in range(PARAGRAPHS):
        lead = f"- item {p} " if p % 5 == 4 else f"Paragraph {p} "
        tokens.extend([lead, *(f"word{p}_{w} " for w in range(WORDS)), "**end**.\n\n"])
    return tokens


async def test_a_long_answer_streams_into_a_bounded_widget_tree_and_ends_whole() -> None:
    tokens = long_answer()
    app = LogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(ChatLog)
        block = await log.add_answer()
        sizes: list[int] = []

        async def sink(text: str) -> None:
            await block.write(text)
            sizes.append(len(block.query("*")))  # every widget under the answer, nested ones included

        batcher = StreamBatcher(sink, interval_s=0.001)
        for i, token in enumerate(tokens):
            await batcher.add(token)
            if i % 400 == 0:
                await pilot.pause()  # let batches land and frames be drawn while the answer grows
        await batcher.finish()
        await block.finish(TurnSummary("complete", served_by="p/m"))
        await pilot.pause()

        assert len(sizes) > 5, "the answer arrived in many batches"
        assert max(sizes) <= 3, f"widgets under the answer while streaming: {max(sizes)}"
        assert block.source == "".join(tokens), "the whole answer, byte for byte"
        assert block.body.is_markdown
        await until(pilot, lambda: block.body.row_count > PARAGRAPHS, what="the answer laid out as rows")
        assert len(block.query("*")) <= 3, "a finished answer is as few widgets as a streaming one"
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y, "the log followed the stream"


async def test_plain_rows_during_the_stream_show_the_text_not_markup() -> None:
    app = LogApp()
    async with app.run_test(size=(60, 20)) as pilot:
        block = await app.query_one(ChatLog).add_answer()
        await block.write("[bold]not markup[/bold] and a line\nsecond ")
        await block.write("line")
        await pilot.pause()
        body = block.query_one(AnswerText)
        shown = ["".join(s.text for s in body.render_line(y)) for y in range(body.row_count)]
        assert shown[0].strip() == "[bold]not markup[/bold] and a line"
        assert shown[1].strip() == "second line"


class TextApp(App[None]):
    """One AnswerText streaming, on a clock the test moves."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.body = AnswerText(clock=lambda: self.now)

    def compose(self) -> ComposeResult:
        yield self.body


def shown_rows(body: AnswerText, height: int) -> list[str]:
    return ["".join(s.text for s in body.render_line(y)).strip() for y in range(height)]


async def test_a_fast_stream_claims_rows_ahead_and_is_laid_out_a_few_times_a_second() -> None:
    app = TextApp()
    async with app.run_test(size=(40, 24)) as pilot:
        body = app.body
        for line in range(60):  # 60 rows in 0.6 s: 100 rows a second
            app.now += 0.01
            body.append(f"row {line}\n")
            await pilot.pause()
        rows = body.row_count
        assert rows == 60
        assert body.claims <= 10, f"a layout for every few rows, not every row: {body.claims} for {rows} rows"
        claimed = body.get_content_height(app.size, app.size, body.content_size.width)
        assert rows < claimed <= rows + 12, "blank rows claimed ahead, at most half the screen"
        shown = shown_rows(body, claimed)
        assert shown[:rows] == [f"row {i}" for i in range(rows)], "every row shows its own text"
        assert all(not row for row in shown[rows:]), "the claimed rows are blank until text fills them"

        body.show_markdown()  # the answer ended: exactly its own rows, no blank ones
        await pilot.pause()
        assert body.get_content_height(app.size, app.size, body.content_size.width) == body.row_count


async def test_a_slow_stream_claims_nothing_ahead() -> None:
    app = TextApp()
    async with app.run_test(size=(40, 24)) as pilot:
        body = app.body
        for line in range(8):  # a row a second
            app.now += 1.0
            body.append(f"row {line}\n")
            await pilot.pause()
            assert body.get_content_height(app.size, app.size, body.content_size.width) == body.row_count
        assert body.claims == 8
