"""The six panes of the console, in key order 1–6; each module holds one pane."""

from __future__ import annotations

PANES: tuple[tuple[str, str, str], ...] = (
    # (pane id, title, "module:Class")
    ("health", "Health", "console.panes.health:HealthPane"),
    ("models", "Models", "console.panes.models:ModelsPane"),
    ("graphs", "Graphs", "console.panes.graphs:GraphsPane"),
    ("routes", "Routes", "console.panes.routes:RoutesPane"),
    ("chat", "Chat", "console.panes.chat:ChatPane"),
    ("images", "Images", "console.panes.images:ImagesPane"),
)
