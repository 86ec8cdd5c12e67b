"""The six panes of the console, in key order 1–6; each module holds one pane. Their layout and colours are in
panes.tcss, which the app loads (PANES_CSS): a pane is part of this console, not a widget to reuse elsewhere."""

from __future__ import annotations

from pathlib import Path

PANES_CSS = Path(__file__).with_name("panes.tcss")

PANES: tuple[tuple[str, str, str], ...] = (
    # (pane id, title, "module:Class")
    ("health", "Health", "console.panes.health:HealthPane"),
    ("models", "Models", "console.panes.models:ModelsPane"),
    ("graphs", "Graphs", "console.panes.graphs:GraphsPane"),
    ("routes", "Routes", "console.panes.routes:RoutesPane"),
    ("chat", "Chat", "console.panes.chat:ChatPane"),
    ("images", "Images", "console.panes.images:ImagesPane"),
)
