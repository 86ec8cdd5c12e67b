"""The confirmations of the Models pane: the exact call from the deck and what it will do, per operation."""

from __future__ import annotations

from console.panes.models_table import ModelRow, human_bytes
from console.screens.confirm import ConfirmDialog
from providers.deck import Deck
from providers.restart import RestartPlan


def confirm_pull(deck: Deck, provider: str, model: str) -> ConfirmDialog:
    return ConfirmDialog(
        f"Pull {model} onto {provider}?", deck.describe("pull", provider, model),
        "Downloads the model's weights onto that machine's disk; big models take many GB and a while.",
        confirm_label="Pull")


def confirm_delete(deck: Deck, row: ModelRow) -> ConfirmDialog:
    return ConfirmDialog(
        f"Delete {row.name} from {row.provider}?", deck.describe("delete", row.provider, row.name),
        f"Removes the model ({human_bytes(row.size_bytes)}) from that machine's disk; using it again means "
        "pulling it again.", confirm_label="Delete")


def confirm_unload(deck: Deck, row: ModelRow) -> ConfirmDialog:
    return ConfirmDialog(
        f"Unload {row.name} on {row.provider}?", deck.describe("unload", row.provider, row.name),
        "Frees its memory now; requests in flight may fail and the next one waits for a reload.",
        confirm_label="Unload")


def confirm_restart(plan: RestartPlan) -> ConfirmDialog:
    return ConfirmDialog(
        f"Restart {plan.provider}?", plan.shown,
        f"Runs this command ({plan.how}); the provider is down until it comes back and streams in flight break.",
        confirm_label="Restart")
