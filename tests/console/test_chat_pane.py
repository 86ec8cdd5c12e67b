"""The Chat pane over an emulator-backed Deck: streaming, cancel, cut streams, fallbacks, sessions, export."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from config.schema import DeckConfig
from console.panes.chat import ChatPane
from console.screens.chat_settings import ChatSettingsDialog
from console.screens.confirm import ConfirmDialog
from console.screens.sessions import SessionsDialog
from console.widgets.chat_log import AnswerBlock
from console.widgets.prompt_area import PromptArea
from console.widgets.stream_batcher import StreamBatcher
from providers.deck import Deck
from providers.emulators.lab import Lab
from providers.monitor import MonitorPolicy
from tests.conftest import EmulatorFactory
from tests.console.pane_harness import PaneApp, until
from tests.waiting import wait_for_condition

VLLM = "box-vllm/meta-llama/Llama-3.1-8B-Instruct"




async def send(pilot: Pilot[None], pane: ChatPane, text: str) -> None:
    prompt = pane.query_one(PromptArea)
    prompt.focus()
    prompt.load_text(text[:-1])  # typing every key through Pilot costs a frame each; the last one is typed
    prompt.move_cursor(prompt.document.end)
    await pilot.press(text[-1], "enter")
    await until(pilot, lambda: pane._reply is not None)


async def settled(pilot: Pilot[None], pane: ChatPane) -> AnswerBlock:
    await until(pilot, lambda: not pane.streaming and pane.query(AnswerBlock) and
                pane.query(AnswerBlock).last().summary is not None)
    await pilot.app.workers.wait_for_complete()
    return pane.query(AnswerBlock).last()


def footer_text(block: AnswerBlock) -> str:
    return str(block.query_one(".answer-footer").render())


def status_text(block: AnswerBlock) -> str:
    return str(block.query_one(".answer-status").render())


async def test_reply_streams_into_the_log_with_served_by_and_tokens(lab_deck: Deck) -> None:
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        pane.set_target(VLLM)
        await send(pilot, pane, "hello lab")
        block = await settled(pilot, pane)
        assert block.source.strip()
        assert block.summary is not None and block.summary.status == "complete"
        footer = footer_text(block)
        assert f"served by {VLLM}" in footer
        assert "tokens" in footer and "TTFT" in footer and "tok/s" in footer
        assert status_text(block) == ""
        assert block.summary.completion_tokens and 1 <= block.writes < block.summary.completion_tokens, \
            "appended in batches, not per token"
        assert lab_deck.ledger is not None and pane.session is not None
        messages = lab_deck.ledger.messages(pane.session.id)
        assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
        assert messages[1].content == block.source
        assert messages[1].served_by == VLLM
        assert pane.session.title == "hello lab"
        [row] = lab_deck.ledger.recent_requests()  # one row for the one reply, written with its turn
        assert [m.request_id for m in messages] == [row.id, row.id]


async def test_escape_cancels_mid_stream_and_the_turn_is_stored_cancelled(lab: Lab, lab_deck: Deck) -> None:
    lab.set_faults("box-vllm", "stall_mid:600")  # the answer cannot end before Esc, however slow the machine
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        pane.set_target(VLLM)
        await send(pilot, pane, "tell me more")
        await until(pilot, lambda: pane.query(AnswerBlock) and pane.query(AnswerBlock).last().source.strip())
        assert pane.streaming
        await pilot.press("escape")
        block = await settled(pilot, pane)
        assert block.has_class("-cancelled")
        assert status_text(block).startswith("■ cancelled")
        assert pane.session is not None and lab_deck.ledger is not None
        answer = lab_deck.ledger.messages(pane.session.id)[-1]
        assert answer.status == "cancelled"
        assert answer.content and answer.content == block.source  # the partial text, as shown
        assert answer.meta["reason"] == "cancelled by the operator"
        [row] = lab_deck.ledger.recent_requests()
        assert (row.id, row.status) == (answer.request_id, "cancelled")


async def test_broken_stream_shows_partial_text_marked_cut(lab: Lab, lab_deck: Deck) -> None:
    # The chat path is under test: with every reply cut, the monitor would rightly call box-vllm down and the
    # route would skip it, so probing stops once it has been seen up.
    await wait_for_condition(lambda: (h := lab_deck.health_of("box-vllm")) is not None and h.status == "up",
                             what="box-vllm probed up")
    await lab_deck.stop_probing()
    lab.set_faults("box-vllm", "cut")
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        pane.set_target(VLLM)
        await send(pilot, pane, "go on")
        block = await settled(pilot, pane)
        assert block.source.strip(), "the partial text stays on screen"
        assert block.has_class("-cut")
        assert status_text(block).startswith("✂ cut:")
        assert "served by" in footer_text(block)
        assert pane.session is not None and lab_deck.ledger is not None
        answer = lab_deck.ledger.messages(pane.session.id)[-1]
        assert (answer.status, answer.content) == ("cut", block.source)
        shown = (block.source, footer_text(block))

    reloaded = ChatPane(lab_deck)
    async with PaneApp(reloaded).run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        again = reloaded.query(AnswerBlock).last()
        assert (again.source, footer_text(again)) == shown, "a reloaded session shows the same answer and facts"
        assert again.has_class("-cut") and status_text(again).startswith("✂ cut:")


async def test_a_prompt_to_an_unknown_target_is_kept_alone_and_marked_failed(lab_deck: Deck) -> None:
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        pane.set_target("nowhere/none")
        await send(pilot, pane, "anyone?")
        block = await settled(pilot, pane)
        assert block.has_class("-failed") and "nowhere" in status_text(block)
        assert pane.session is not None and lab_deck.ledger is not None
        assert [(m.role, m.content) for m in lab_deck.ledger.messages(pane.session.id)] == [("user", "anyone?")]
        assert lab_deck.ledger.recent_requests() == [], "no request was made"


async def test_counted_usage_is_marked_estimated_in_the_footer_and_after_reload(emulator: EmulatorFactory,
                                                                               tmp_path: Path) -> None:
    pyllama = emulator("llama_cpp_python")  # its streams never carry usage
    config = DeckConfig.model_validate({"providers": [{"name": "pyllama", "kind": "llamacpp",
                                                       "base_url": pyllama.url}]})
    deck = Deck(config, tmp_path / "data", monitor_policy=MonitorPolicy(interval_s=30.0))
    await deck.start()
    try:
        pane = ChatPane(deck)
        async with PaneApp(pane).run_test(size=(120, 30)) as pilot:
            pane.set_target("pyllama/tiny-llama")
            await send(pilot, pane, "count me")
            block = await settled(pilot, pane)
            assert block.summary is not None and block.summary.usage_estimated
            footer = footer_text(block)
            tokens = f"~3+{len(block.source.split()) + 1} tokens (est.)"  # the emulated tokenizer: words + BOS
            assert tokens in footer, footer
            assert "~" in footer.split(" tok/s")[0].rsplit(" · ", 1)[-1], "tokens/s made from counted tokens"

        reloaded = ChatPane(deck)
        async with PaneApp(reloaded).run_test(size=(120, 30)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            assert tokens in footer_text(reloaded.query(AnswerBlock).last())
    finally:
        await deck.stop()


async def test_fallback_shows_in_the_footer_when_the_first_hop_is_refused(lab: Lab, lab_deck: Deck) -> None:
    lab.set_faults("box-vllm", "refuse")
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(120, 30)) as pilot:
        pane.set_target("chat")
        await send(pilot, pane, "anyone there")
        block = await settled(pilot, pane)
        footer = footer_text(block)
        assert "served by local-ollama/llama3.2:1b" in footer
        assert f"fallbacks: {VLLM}" in footer
        assert block.summary is not None and block.summary.status == "complete"


async def test_sessions_new_rename_delete_persist_across_a_new_deck(lab: Lab, lab_deck: Deck) -> None:
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        pane.set_target(VLLM)
        await send(pilot, pane, "first chat")
        await settled(pilot, pane)
        first = pane.session
        assert first is not None

        await pilot.press("ctrl+n")
        await until(pilot, lambda: pane.session is not None and pane.session.id != first.id)
        assert pane.session is not None and pane.session.title == "New chat"

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsDialog))
        await pilot.press("r", "ctrl+u", *"kept", "enter")  # the new (current) session is highlighted
        await until(pilot, lambda: pane.session is not None and pane.session.title == "kept")

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsDialog))
        await pilot.press("down", "enter")  # switch back to the first chat: its answer is shown again
        await until(pilot, lambda: pane.session is not None and pane.session.id == first.id)
        await pilot.app.workers.wait_for_complete()
        assert len(pane.query(AnswerBlock)) == 1 and pane.query_one(AnswerBlock).summary is not None

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsDialog))
        await pilot.press("d")  # the current one (first chat) is highlighted
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
        assert pilot.app.focused is not None and pilot.app.focused.id == "cancel"
        await pilot.press("right", "enter")
        await until(pilot, lambda: not isinstance(pilot.app.screen, ConfirmDialog))
        await pilot.app.workers.wait_for_complete()
        assert pane.session is not None and pane.session.title == "kept", "deleting the current one shows the next"

    again = Deck(lab.config, lab_deck.data_dir)
    await again.start(monitor=False)
    try:
        assert again.ledger is not None
        assert [s.title for s in again.ledger.list_sessions()] == ["kept"]
        reopened = ChatPane(again)
        async with PaneApp(reopened).run_test(size=(100, 30)) as pilot:
            await pilot.app.workers.wait_for_complete()
            assert reopened.session is not None and reopened.session.title == "kept"
    finally:
        await again.stop()


async def test_session_delete_cancelled_keeps_it_and_readonly_hides_delete(lab_deck: Deck) -> None:
    assert lab_deck.ledger is not None
    lab_deck.ledger.new_session("keep me")
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsDialog))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog))
        await pilot.press("enter")  # Cancel has the focus
        await until(pilot, lambda: not isinstance(pilot.app.screen, ConfirmDialog))
        await pilot.app.workers.wait_for_complete()
    assert [s.title for s in lab_deck.ledger.list_sessions()] == ["keep me"]

    readonly = ChatPane(lab_deck, readonly=True)
    async with PaneApp(readonly).run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SessionsDialog))
        await pilot.press("d")
        await pilot.pause(0.1)
        assert isinstance(pilot.app.screen, SessionsDialog), "readonly: d does nothing"
        assert "d delete" not in str(pilot.app.screen.query_one("#sessions-hint").render())
        await pilot.press("escape")
    assert [s.title for s in lab_deck.ledger.list_sessions()] == ["keep me"]


async def test_export_writes_the_session_as_markdown_into_the_data_dir(lab_deck: Deck) -> None:
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        pane.set_target(VLLM)
        await send(pilot, pane, "export me")
        block = await settled(pilot, pane)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: pane.last_export is not None)
        assert pane.last_export is not None
        path = lab_deck.data_dir / "exports"
        files = list(path.glob("*.md"))
        assert [str(f) for f in files] == [pane.last_export]
        text = files[0].read_text()
        assert text.startswith("# export me")
        assert block.source.strip()[:30] in text
        assert "exported to" in str(pane.query_one("#chat-status").render())


async def test_settings_apply_to_the_request_and_persist_in_the_session(lab_deck: Deck) -> None:
    pane = ChatPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        pane.set_target(VLLM)
        await send(pilot, pane, "hi")
        await settled(pilot, pane)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: isinstance(pilot.app.screen, ChatSettingsDialog))
        dialog = pilot.app.screen
        dialog.query_one("#settings-system", TextArea).load_text("be brief")
        dialog.query_one("#settings-max-tokens", Input).value = "64"
        dialog.query_one("#settings-temperature", Input).value = "0.3"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: pane.settings.max_tokens == 64)
        await pilot.app.workers.wait_for_complete()
        request = pane.build_request("next", VLLM)
        assert request.messages[0].role == "system" and request.messages[0].content == "be brief"
        assert (request.max_tokens, request.temperature) == (64, 0.3)
        assert [m.role for m in request.messages[1:]] == ["user", "assistant", "user"]
        assert pane.session is not None and lab_deck.ledger is not None
        stored = lab_deck.ledger.session(pane.session.id)
        assert stored.system_prompt == "be brief" and stored.params == {"max_tokens": 64, "temperature": 0.3}


async def test_stream_batcher_coalesces_fast_deltas_and_flushes_the_tail() -> None:
    batches: list[str] = []

    async def sink(text: str) -> None:
        batches.append(text)

    batcher = StreamBatcher(sink, interval_s=0.05)
    for i in range(200):
        await batcher.add(f"t{i} ")
    assert batches == [], "nothing is rendered per token"
    await wait_for_condition(lambda: batches, what="the timed flush")
    assert len(batches) == 1
    await batcher.add("tail")
    await batcher.finish()
    assert "".join(batches) == "".join(f"t{i} " for i in range(200)) + "tail"
    assert batcher.flushes == len(batches) == 2


async def test_stream_batcher_shows_a_slow_delta_without_waiting_for_the_next() -> None:
    batches: list[str] = []

    async def sink(text: str) -> None:
        batches.append(text)

    batcher = StreamBatcher(sink, interval_s=0.02)
    await batcher.add("lonely")
    await wait_for_condition(lambda: batches, what="the timed flush")
    assert batches == ["lonely"]
    await batcher.finish()
    assert batches == ["lonely"]
