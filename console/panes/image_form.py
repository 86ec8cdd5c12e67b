"""The Images pane's form: backend, checkpoint, prompt, negative, size, steps, seed, sampler → an ImageRequest."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input, Select

from console.widgets.field_form import FieldForm, FormSelect
from providers.base import ImageRequest, ModelInfo
from providers.safe_text import one_line

SIZES: tuple[tuple[int, int], ...] = ((512, 512), (768, 768), (1024, 1024), (512, 768), (768, 512), (1024, 576))
SAMPLERS: tuple[str, ...] = ("Euler a", "Euler", "DPM++ 2M Karras", "DPM++ SDE Karras", "DPM++ 2M", "DDIM", "UniPC",
                             "Heun", "LMS")
"""A1111's display names; the ComfyUI adapter maps them to its own sampler and scheduler names."""
MAX_STEPS = 150
DEFAULT_STEPS = 20


class ImageFormError(ValueError):
    """A field holds something the backends would refuse; the message names the field."""


def size_label(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def keys_hint(field: str, *, typing: bool) -> str:
    """What the keys do from the field that has the focus, so a keyboard-only operator need not guess."""
    if typing:
        return f"{field}: tab ↓ next field · enter generates · esc leaves the field"
    return f"{field}: enter/space opens · tab ↓ next field · i types the prompt"


def image_request(*, prompt: str, negative: str, size: tuple[int, int], steps: str, seed: str,
                  sampler: str | None, model: str | None) -> ImageRequest:
    """Read the form; blank steps means the default, blank seed means random (-1)."""
    if not prompt.strip():
        raise ImageFormError("the prompt is empty")
    try:
        step_count = int(steps) if steps.strip() else DEFAULT_STEPS
    except ValueError:
        raise ImageFormError("steps must be a whole number") from None
    if not 1 <= step_count <= MAX_STEPS:
        raise ImageFormError(f"steps must be between 1 and {MAX_STEPS}")
    try:
        seed_value = int(seed) if seed.strip() else -1
    except ValueError:
        raise ImageFormError("seed must be a whole number (-1 for random)") from None
    if seed_value < -1:
        raise ImageFormError("seed must be -1 (random) or positive")
    width, height = size
    return ImageRequest(prompt=prompt.strip(), negative=negative.strip(), width=width, height=height,
                        steps=step_count, seed=seed_value, sampler=sampler or None, model=model or None)


class ImageForm(FieldForm):
    """Label/field rows, one line each (compact widgets), so the whole form fits a 24-line terminal. Tab/Down and
    Shift-Tab/Up walk the fields; a list opens with Enter or Space."""

    DEFAULT_CSS = """
    ImageForm {
        grid-size: 2;
        grid-columns: 10 1fr;
        grid-rows: 1;
        grid-gutter: 0 0;
        height: auto;
    }
    ImageForm Label {
        color: $text-muted;
    }
    """

    def __init__(self, backends: list[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.backends = backends

    def compose(self) -> ComposeResult:
        yield from self.row("backend", FormSelect(
            [(name, name) for name in self.backends], allow_blank=not self.backends,
            value=self.backends[0] if self.backends else Select.NULL, compact=True, prompt="no image backend",
            id="images-backend"))
        yield from self.row("model", FormSelect([], prompt="backend default", compact=True, id="images-checkpoint"))
        # Long texts are edited, not retyped: coming back to them must not select them for the next key to replace.
        yield from self.row("prompt", Input(placeholder="what to draw (Enter generates)", compact=True,
                                            select_on_focus=False, id="images-prompt"))
        yield from self.row("negative", Input(placeholder="what to avoid", compact=True, select_on_focus=False,
                                              id="images-negative"))
        yield from self.row("size", FormSelect([(size_label(s), s) for s in SIZES], value=SIZES[0],
                                               allow_blank=False, compact=True, id="images-size"))
        yield from self.row("steps", Input(str(DEFAULT_STEPS), type="integer", compact=True, id="images-steps"))
        yield from self.row("seed", Input("-1", type="integer", compact=True, id="images-seed"))
        yield from self.row("sampler", FormSelect([(name, name) for name in SAMPLERS], prompt="backend default",
                                                  compact=True, id="images-sampler"))

    @property
    def backend(self) -> str | None:
        value = self.query_one("#images-backend", Select).value
        return value if isinstance(value, str) else None

    def show_checkpoints(self, models: list[ModelInfo]) -> None:
        """Offer the backend's image models, the loaded one chosen."""
        select = self.query_one("#images-checkpoint", Select)
        # Checkpoint names are the server's: plain Text labels, never markup or raw escapes.
        select.set_options([(Text(one_line(model.name)), model.name) for model in models])
        loaded = next((model.name for model in models if model.loaded), None)
        if loaded is not None:
            select.value = loaded

    def request(self) -> ImageRequest:
        """The fields as a request; raises ImageFormError naming the field that is wrong."""
        def choice(selector: str) -> object:
            return self.query_one(selector, Select).value

        def text(selector: str) -> str:
            return self.query_one(selector, Input).value

        checkpoint, sampler, size = choice("#images-checkpoint"), choice("#images-sampler"), choice("#images-size")
        return image_request(
            prompt=text("#images-prompt"), negative=text("#images-negative"),
            size=size if isinstance(size, tuple) else SIZES[0], steps=text("#images-steps"),
            seed=text("#images-seed"), sampler=sampler if isinstance(sampler, str) else None,
            model=checkpoint if isinstance(checkpoint, str) else None,
        )
