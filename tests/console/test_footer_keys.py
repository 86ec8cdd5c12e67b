"""The key footer over many bindings changes: keys it drew before are released, not kept alive."""

from __future__ import annotations

import gc
import weakref
from functools import partial
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from console.widgets.footer import DeckFooter
from tests.waiting import wait_for_condition


class Left(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+t", "noop", "Left key")]


class Right(Input):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+y", "noop", "Right key")]


class FooterApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Left(id="left")
        yield Right(id="right")
        yield DeckFooter(compact=True)


def shown(app: FooterApp) -> list[str]:
    return [str(key.description) for key in app.query(FooterKey)]


def showing(app: FooterApp, label: str) -> bool:
    return label in shown(app)


async def test_keys_of_an_earlier_footer_are_released_after_bindings_change() -> None:
    app = FooterApp()
    async with app.run_test(size=(100, 10)):
        app.query_one("#left", Input).focus()
        await wait_for_condition(lambda: "Left key" in shown(app), what="the left widget's key in the footer")
        first = weakref.ref(app.query(FooterKey).first())
        for turn in range(6):  # each focus change recomposes the footer (a chat turn does about two)
            side = "right" if turn % 2 == 0 else "left"
            app.query_one(f"#{side}", Input).focus()
            label = f"{side.title()} key"
            await wait_for_condition(partial(showing, app, label), what=f"{label!r} in the footer")
        gc.collect()
        assert first() is None, "a key the footer removed is still referenced (by the footer's watchers)"
        assert all(key.has_class("-compact") for key in app.query(FooterKey)), "the keys stay compact"
