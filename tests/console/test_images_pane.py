"""The Images pane over the lab's A1111, ComfyUI and OpenAI emulators: progress, saved files, interrupt."""

from __future__ import annotations

import json

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar, Select, Static

from console.panes.image_form import ImageForm
from console.panes.images import ImagesPane
from console.widgets.image_view import ImageView
from providers.deck import Deck
from tests.console.pane_harness import PaneApp, until


async def fill(pilot: Pilot[None], pane: ImagesPane, *, backend: str, prompt: str, steps: int) -> None:
    await pilot.app.workers.wait_for_complete()
    pane.query_one("#images-backend", Select).value = backend
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    pane.query_one("#images-prompt", Input).value = prompt
    pane.query_one("#images-steps", Input).value = str(steps)
    pane.query_one("#images-seed", Input).value = "42"


def status(pane: ImagesPane) -> str:
    return str(pane.query_one("#images-status").render())


@pytest.mark.parametrize("backend", ["sd", "comfy"])
async def test_generate_saves_a_png_and_sidecar_with_progress_and_preview(lab_deck: Deck, backend: str) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await fill(pilot, pane, backend=backend, prompt="a lighthouse", steps=25)
        pane.query_one("#images-prompt", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: pane.saved_path is not None or "✗" in status(pane))
        await pilot.app.workers.wait_for_complete()
        saved = pane.saved_path
        assert saved is not None, status(pane)
        assert saved.parent == lab_deck.data_dir / "images"
        assert saved.read_bytes().startswith(b"\x89PNG")
        sidecar = json.loads(saved.with_suffix(".json").read_text())
        assert sidecar["provider"] == backend and sidecar["request"]["prompt"] == "a lighthouse"
        assert sidecar["request"]["steps"] == 25
        assert any(0 < fraction < 1 for fraction in pane.progress_seen), pane.progress_seen
        assert pane.query_one("#images-progress", ProgressBar).percentage == 1.0
        assert str(saved) in str(pane.query_one("#images-path").render())
        view = pane.query_one(ImageView)
        assert view.image is not None and (view.image.width, view.image.height) == (512, 512)


async def test_the_checkpoint_list_comes_from_the_catalog(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await fill(pilot, pane, backend="sd", prompt="x", steps=1)
        checkpoint = pane.query_one("#images-checkpoint", Select)
        assert checkpoint.value == "v1-5-pruned-emaonly.safetensors [6ce0161689]"  # the loaded one
        assert pane.backends[:2] == ["sd", "comfy"], "local engines first"


async def test_escape_interrupts_an_a1111_job_which_returns_early(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await fill(pilot, pane, backend="sd", prompt="a long job", steps=150)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: 0 < pane.query_one("#images-progress", ProgressBar).progress < 100)
        assert str(pane.query_one("#images-status").render()).startswith("step ")
        await pilot.press("escape")
        await until(pilot, lambda: not pane.running)
        await pilot.app.workers.wait_for_complete()
        assert status(pane).startswith("interrupted")
        assert pane.saved_path is not None  # A1111 hands back the image so far, and it is kept
        before_end = [f for f in pane.progress_seen if f < 1]
        assert max(before_end) < 0.9, "the job stopped well before its last step"
        bar = pane.query_one("#images-progress", ProgressBar)
        assert bar.percentage is not None and bar.percentage < 0.9, "the bar stays where the job stopped"


async def test_escape_interrupts_a_comfyui_job(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await fill(pilot, pane, backend="comfy", prompt="a long job", steps=150)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: 0 < pane.query_one("#images-progress", ProgressBar).progress < 100)
        assert str(pane.query_one("#images-status").render()).startswith("step ")
        await pilot.press("escape")
        await until(pilot, lambda: not pane.running)
        assert status(pane).startswith("interrupted")
        assert pane.saved_path is None
        assert not list((lab_deck.data_dir / "images").glob("*.png"))


async def test_openai_style_backend_generates_too(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await fill(pilot, pane, backend="cloud", prompt="a logo", steps=20)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: not pane.running and (pane.saved_path is not None or "✗" in status(pane)))
        assert pane.saved_path is not None, status(pane)
        assert pane.saved_path.exists()


async def test_an_empty_prompt_is_refused_before_any_call(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await fill(pilot, pane, backend="sd", prompt="  ", steps=20)
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not pane.running
        assert status(pane) == "the prompt is empty"
        pane.query_one("#images-prompt", Input).value = "ok"
        pane.query_one("#images-steps", Input).value = "999"
        await pilot.press("ctrl+g")
        assert status(pane).startswith("steps must be between")


async def test_lists_open_with_enter_or_space_never_with_arrows_or_letters(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        backend = pane.query_one("#images-backend", Select)
        backend.focus()
        await pilot.press("down")  # the next field, not the list
        assert pilot.app.focused is pane.query_one("#images-checkpoint") and not backend.expanded
        await pilot.press("up", "c", "o", "m")
        assert pilot.app.focused is backend and not backend.expanded and backend.value == "sd"
        await pilot.press("space")
        assert backend.expanded
        await pilot.press("escape")
        assert not backend.expanded and pilot.app.focused is backend
        await pilot.press("enter")
        assert backend.expanded
        await pilot.press("tab")  # leaving an open list closes it
        assert not backend.expanded and pilot.app.focused is pane.query_one("#images-checkpoint")


async def test_ctrl_g_generates_from_every_field_and_the_keys_line_names_it(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await fill(pilot, pane, backend="sd", prompt="a quick one", steps=1)
        fields = pane.query_one(ImageForm).fields()
        assert [f.id for f in fields] == ["images-backend", "images-checkpoint", "images-prompt", "images-negative",
                                          "images-size", "images-steps", "images-seed", "images-sampler"]
        for done, field in enumerate(fields, start=1):
            field.focus()
            await pilot.pause()
            name = pane.query_one(ImageForm).field_name(field)
            assert str(pane.query_one("#images-keys").render()).startswith(f"{name}: ")
            await pilot.press("ctrl+g")
            await until(pilot, lambda: not pane.running and status(pane).startswith(("saved", "✗")))
            assert status(pane).startswith("saved"), status(pane)
            assert len(list((lab_deck.data_dir / "images").glob("*.png"))) == done
            pane.query_one("#images-status", Static).update("")  # the next job's end must be seen afresh


async def test_i_returns_to_the_prompt_and_enter_in_any_text_field_generates(lab_deck: Deck) -> None:
    pane = ImagesPane(lab_deck)
    async with PaneApp(pane).run_test(size=(100, 30)) as pilot:
        await fill(pilot, pane, backend="sd", prompt="from steps", steps=1)
        pane.query_one("#images-size", Select).focus()
        await pilot.press("i")
        assert pilot.app.focused is pane.query_one("#images-prompt")
        await pilot.press("down", "down", "down")  # negative, size, steps
        assert pilot.app.focused is pane.query_one("#images-steps")
        await pilot.press("enter")
        await until(pilot, lambda: pane.saved_path is not None or "✗" in status(pane))
        assert pane.saved_path is not None, status(pane)
