"""The confirmations of the Models pane: the exact call from the deck and what it will do, per operation."""

from __future__ import annotations

from pathlib import Path

from console.panes.models_table import ModelRow, human_bytes
from console.screens.confirm import ConfirmDialog
from providers.deck import Deck
from providers.display import byte_size
from providers.downloads import free_space
from providers.gpu_text import FitCheck, fit_check
from providers.gpus.reader import LOCAL_HOST
from providers.restart import RestartPlan


def will_it_fit(deck: Deck, provider: str, size_bytes: int | None) -> FitCheck | None:
    """The "will it fit?" line for a model of that size on the provider's host, or None with nothing to compare
    (no size, no GPU reading). A provider without a host is on the local machine when the config names no hosts."""
    host = deck.providers[provider].host or (LOCAL_HOST if not deck.config.hosts else None)
    if host is None:
        return None
    return fit_check(size_bytes, deck.gpus().get(host), host)


def confirm_pull(deck: Deck, provider: str, model: str, size_bytes: int | None = None) -> ConfirmDialog:
    """`size_bytes`: the model's size where another provider lists it; a pull reports it only once it runs."""
    fit = will_it_fit(deck, provider, size_bytes)
    return ConfirmDialog(
        f"Pull {model} onto {provider}?", deck.describe("pull", provider, model),
        "Downloads the model's weights onto that machine's disk; big models take many GB and a while."
        + (f"\n{fit.text}" if fit else ""),
        confirm_label="Pull")


def confirm_download(deck: Deck, provider: str, what: str, call: str, directory: Path,
                     size_bytes: int | None) -> ConfirmDialog:
    """A model file from a source (Hub, CivitAI) into `directory` on `provider`'s box: the exact call, the size,
    the free disk space there and whether it fits on the host's GPUs, before a byte moves."""
    free = free_space(directory)
    lines = [f"Size {byte_size(size_bytes) if size_bytes is not None else 'unknown'}; free on {directory}: "
             f"{byte_size(free) if free is not None else 'unknown'}."]
    if size_bytes is not None and free is not None and size_bytes > free:
        lines.append("Not enough free disk space: the download will stop before its first byte.")
    lines.append("The file is written as NAME.part and renamed only once its SHA-256 matches; a cancel keeps the "
                 "part and the next download resumes it.")
    if (fit := will_it_fit(deck, provider, size_bytes)) is not None:
        lines.append(fit.text)
    return ConfirmDialog(f"Download {what} onto {provider}?", call, "\n".join(lines), confirm_label="Download")


def confirm_load(deck: Deck, row: ModelRow, fit: FitCheck) -> ConfirmDialog:
    """Asked only when the model does not fit on one GPU: a load that fits just runs."""
    return ConfirmDialog(
        f"Load {row.name} on {row.provider}?", deck.describe("load", row.provider, row.name),
        f"{fit.text}\nLoading anyway may push other models out of memory, or fail.", confirm_label="Load")


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


def confirm_workflow_switch(deck: Deck, row: ModelRow, *, activate: bool) -> ConfirmDialog:
    """An n8n workflow: load activates it, unload deactivates it; both always ask, since they change what runs."""
    if activate:
        return ConfirmDialog(
            f"Activate {row.name} on {row.provider}?", deck.describe("load", row.provider, row.name),
            "n8n starts running it on its triggers (schedules, webhooks, polls) from now on.",
            confirm_label="Activate")
    return ConfirmDialog(
        f"Deactivate {row.name} on {row.provider}?", deck.describe("unload", row.provider, row.name),
        "n8n stops running it on its triggers; executions already running finish.", confirm_label="Deactivate")


def confirm_restart(plan: RestartPlan) -> ConfirmDialog:
    return ConfirmDialog(
        f"Restart {plan.provider}?", plan.shown,
        f"Runs this command ({plan.how}); the provider is down until it comes back and streams in flight break.",
        confirm_label="Restart")
