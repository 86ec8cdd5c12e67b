"""The Images pane: generate on A1111, ComfyUI or an OpenAI-style backend, with progress, interrupt and a preview."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, ProgressBar, Select, Static
from textual.worker import Worker, WorkerState

from console import terminal_graphics
from console.bridge import DeckBridge
from console.clipboard import copy_text
from console.panes.base import DeckPane
from console.panes.image_form import ImageForm, ImageFormError, keys_hint
from console.upload_by_hand import can_upload, upload_image
from console.widgets.image_view import ImageView, choose_renderer
from console.widgets.png_decode import PngError, RgbImage, decode_png
from providers.base import ImageProgress, ImageRequest
from providers.deck import Deck
from providers.errors import ProviderError, UnsupportedError
from providers.safe_text import one_line

GENERATE_GROUP = "images-generate"
CATALOG_GROUP = "images-catalog"
LOCAL_ENGINES = ("a1111", "comfyui")
PROGRESS_REDRAW_S = 0.1
"""Progress is drawn at most ten times a second, however often the backend reports it (slow links)."""
IDLE_STATUS = "ctrl+g generates from any field · esc interrupts"


class ImagesPane(DeckPane):
    """One job at a time; every result is saved by the Deck as PNG + JSON sidecar, and its path shown."""

    PANE_ID = "images"
    PANE_TITLE = "Images"
    FOCUS = "#images-prompt"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+g", "generate", "Generate", id="images.generate"),
        Binding("escape", "interrupt", "Interrupt", id="images.interrupt"),
        # After Esc left a text field (so digits switch panes), `i` goes back to typing, as in the chat. Priority:
        # the prompt takes the focus before the keys typed after `i` are handed out.
        Binding("i", "type_prompt", "Prompt", id="images.prompt", priority=True),
        Binding("y", "copy_path", "Copy path", id="copy"),
        Binding("Y", "upload", "Upload", id="images.upload"),
    ]

    def __init__(self, deck: Deck, *, readonly: bool = False) -> None:
        super().__init__(deck, readonly=readonly)
        # Local image engines first: they have checkpoints, samplers, progress and interrupt.
        self.backends = sorted(deck.providers_able("images"),
                               key=lambda name: deck.providers[name].kind not in LOCAL_ENGINES)
        setting = deck.config.ui.image_protocol
        self.preview = terminal_graphics.preview_protocol(setting, os.environ, detected=terminal_graphics.detected())
        self.renderer = choose_renderer(setting, os.environ, graphics_available=self.preview in ("kitty", "sixel"))
        self.saved_path: Path | None = None
        self.progress_seen: list[float] = []
        self._job: Worker[None] | None = None
        self._job_provider: str | None = None
        self._interrupt_sent = False
        self._checkpoints_stale = False
        self._latest_progress: ImageProgress | None = None
        self._progress_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="images-form"):
                yield ImageForm(self.backends, id="images-fields")
                yield Static("", id="images-keys", markup=False)
                yield ProgressBar(total=100, show_eta=False, id="images-progress")
                yield Static(IDLE_STATUS, id="images-status", markup=False)
                yield Static("", id="images-path", markup=False)
            with Vertical(id="images-preview-box"):
                if self.preview == "kitty" or self.preview == "sixel":
                    yield terminal_graphics.graphics_view(self.preview, id="images-preview")
                else:
                    yield ImageView(id="images-preview")

    def on_mount(self) -> None:
        box = self.query_one("#images-preview-box")
        box.border_title = "preview" if self.renderer != "none" else "preview off (ui.image_protocol: none)"
        if self.backends:
            self.load_checkpoints(self.backends[0])

    # --- state ---------------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._job is not None and self._job.is_running

    def running_work(self) -> list[str]:
        return [f"image on {self._job_provider}"] if self.running and self._job_provider else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "interrupt":
            return self.running  # otherwise Esc goes on to the app
        if action == "upload":
            return can_upload(self.app)  # hidden and disabled without a dropbox provider to send to
        if action == "type_prompt":  # not where `i` is typed text, nor in an open list (it searches there)
            return not isinstance(self.app.focused, Input) and not self.query_one(ImageForm).list_open()
        return True

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#images-status", Static)
        status.update(one_line(text))  # errors and interrupts quote the server
        status.set_class(error, "-error")

    def _backend(self) -> str | None:
        return self.query_one(ImageForm).backend

    def on_deck_bridge_catalogs_changed(self, message: DeckBridge.CatalogsChanged) -> None:
        if any(event.provider in self.backends for event in message.events):
            self._checkpoints_stale = True  # listed again when the pane is next shown

    def on_show(self) -> None:
        if self._checkpoints_stale and (backend := self._backend()):
            self.load_checkpoints(backend)

    def refresh_now(self) -> None:
        if backend := self._backend():
            self.load_checkpoints(backend)

    @on(events.DescendantFocus)
    @on(events.DescendantBlur)
    def _show_field_keys(self) -> None:
        """The keys line follows the focus: which field has it, and how to move on, open a list or generate;
        empty while the keys are elsewhere (a dialog, another pane). Read from the app's focus, not the event:
        the blur of one field and the focus of the next reach the pane in either order."""
        forms, lines = self.query(ImageForm), self.query("#images-keys").results(Static)
        if not forms:
            return  # the pane is being taken down (the app is leaving)
        form = forms.first()
        field = form.field_of(self.app.focused)
        hint = "" if field is None else keys_hint(form.field_name(field), typing=isinstance(field, Input))
        for line in lines:
            line.update(hint)

    def action_copy_path(self) -> None:
        """`y` (where it is not typed text): the path of the image saved last."""
        if self.saved_path is None:
            self.notify("No image saved yet: nothing copied.", severity="warning")
            return
        copy_text(self.app, str(self.saved_path), "image path")

    def action_upload(self) -> None:
        """`Y` (where it is not typed text): upload the image saved last, with its sidecar, to Dropbox."""
        if self.saved_path is None:
            self.notify("No image saved yet: nothing to upload.", severity="warning")
            return
        upload_image(self.app, self.saved_path)

    def action_type_prompt(self) -> None:
        self.screen.set_focus(self.query_one("#images-prompt", Input))  # now: the keys typed next are for it

    # --- checkpoints ---------------------------------------------------------------------------------------

    @on(Select.Changed, "#images-backend")
    def _backend_chosen(self, event: Select.Changed) -> None:
        event.stop()
        if isinstance(event.value, str):
            self.load_checkpoints(event.value)

    @work(group=CATALOG_GROUP, exclusive=True, exit_on_error=False)
    async def load_checkpoints(self, provider: str) -> None:
        self._checkpoints_stale = False
        catalog = await self.deck.catalog(provider)
        self.query_one(ImageForm).show_checkpoints([e.model for e in catalog.entries if e.model.kind == "image"])
        if catalog.errors:
            self._status(f"{provider}: {catalog.errors.get(provider, 'no model list')}", error=True)

    # --- generating ----------------------------------------------------------------------------------------

    @on(Input.Submitted)
    def _field_submitted(self, event: Input.Submitted) -> None:
        """Enter in any text field of the form generates, as Ctrl-G does from every field."""
        if event.input in self.query_one(ImageForm).fields():
            event.stop()
            self.action_generate()

    def action_generate(self) -> None:
        if self.running:
            self.notify("An image is being generated; Esc interrupts it.", severity="warning")
            return
        backend = self._backend()
        if backend is None:
            self._status("no image-capable backend is configured", error=True)
            return
        try:
            request = self.query_one(ImageForm).request()
        except ImageFormError as exc:
            self._status(str(exc), error=True)
            return
        self._job_provider, self._interrupt_sent = backend, False
        self.progress_seen, self._latest_progress = [], None
        self.query_one("#images-progress", ProgressBar).update(total=100, progress=0)
        self._status(f"generating on {backend}…")
        self._job = self.generate(backend, request)
        self.refresh_bindings()

    @work(group=GENERATE_GROUP, exit_on_error=False)
    async def generate(self, provider: str, request: ImageRequest) -> None:
        try:
            saved = await self.deck.generate_image(provider, request, on_progress=self._progress)
        except ProviderError as exc:
            self._stop_progress()
            text = f"interrupted: {exc.message}" if self._interrupt_sent else f"✗ {exc}"
            self._status(text, error=not self._interrupt_sent)
            return
        self._stop_progress()
        self.saved_path = saved.path
        seed = f" · seed {saved.seed}" if saved.seed is not None else ""
        what = "interrupted; partial image saved" if self._interrupt_sent else "saved"
        # An interrupted job's bar stays where the job stopped (its backend may still report a last 100 %).
        reached = self._latest_progress.fraction if self._interrupt_sent and self._latest_progress else 1.0
        self.show_saved(str(saved.path), saved.sidecar.name,
                        f"{what} · {saved.width}×{saved.height}{seed} · {saved.ms / 1000:.1f} s", fraction=reached)
        await self._preview(saved.path)

    def show_saved(self, path: str, sidecar_name: str, status: str, *, fraction: float = 1.0) -> None:
        """A finished job: the bar where it ended (full, unless interrupted), what happened, where the PNG and its
        sidecar are."""
        self.query_one("#images-progress", ProgressBar).update(total=100, progress=round(fraction * 100, 1))
        self._status(status)
        self.query_one("#images-path", Static).update(f"{one_line(path)}\n{one_line(sidecar_name)}")

    def _progress(self, progress: ImageProgress) -> None:
        """Backend progress, possibly dozens a second: kept at once, drawn at most every PROGRESS_REDRAW_S."""
        self.progress_seen.append(progress.fraction)
        if self._interrupt_sent:
            return  # what the backend reports after an interrupt (a final 100 %) is not how far the job got
        self._latest_progress = progress
        if self._progress_timer is None:
            self._progress_timer = self.set_timer(PROGRESS_REDRAW_S, self._draw_progress)

    def _stop_progress(self) -> None:
        if self._progress_timer is not None:
            self._progress_timer.stop()
            self._progress_timer = None

    def _draw_progress(self) -> None:
        self._progress_timer = None
        progress = self._latest_progress
        if progress is None or not self.running:
            return
        self.query_one("#images-progress", ProgressBar).update(progress=round(progress.fraction * 100, 1))
        if progress.step is not None and progress.steps:
            eta = f" · eta {progress.eta_s:.0f} s" if progress.eta_s else ""
            self._status(f"step {progress.step}/{progress.steps}{eta}")

    async def _preview(self, path: Path) -> None:
        if self.renderer == "none":
            return
        try:
            if self.renderer == "graphics":  # textual-image draws a Pillow image
                image: object = await asyncio.to_thread(terminal_graphics.open_picture, path)
            else:
                image = await asyncio.to_thread(lambda: decode_png(path.read_bytes()))
        except (OSError, PngError) as exc:
            self._status(f"saved, but no preview: {exc}", error=True)
            return
        self.show_image(image, path.name)

    def show_image(self, image: object, caption: str) -> None:
        """Put an RgbImage (or, for textual-image, a Pillow image) in the preview; snapshots feed it fixed content."""
        if self.renderer == "graphics":
            terminal_graphics.show_in(self.query_one("#images-preview"), image)
        elif isinstance(image, RgbImage):
            self.query_one(ImageView).show(image)
        # A border title is markup unless it is Text; the caption is a file name made from the request.
        self.query_one("#images-preview-box").border_title = Text(one_line(f"preview · {caption}"))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place for the end of every job: keys follow the state, and an unexpected failure is shown."""
        if event.worker is self._job:
            self.refresh_bindings()
        if event.state == WorkerState.ERROR and event.worker.group in (GENERATE_GROUP, CATALOG_GROUP):
            self._stop_progress()
            self._status(f"✗ {type(event.worker.error).__name__}: {event.worker.error}", error=True)

    # --- interrupt -----------------------------------------------------------------------------------------

    def action_interrupt(self) -> None:
        if self.running and self._job_provider is not None:
            self._interrupt_sent = True
            self._status(f"interrupting {self._job_provider}…")
            self.send_interrupt(self._job_provider)

    @work(group="images-interrupt", exit_on_error=False)
    async def send_interrupt(self, provider: str) -> None:
        try:
            await self.deck.interrupt_image(provider)
        except UnsupportedError:
            if self._job is not None:
                self._job.cancel()  # no interrupt endpoint: closing the request is all there is
                self._status(f"cancelled (the {provider} backend has no interrupt)")
        except ProviderError as exc:
            self._status(f"interrupt failed: {exc}", error=True)
