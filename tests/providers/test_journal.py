"""The Deck's event journal over the emulator lab: requests with their fallbacks, health changes, breaker moves,
model operations, config reloads, the ledger's requests of an earlier run, the bound, and hostile text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import pytest

from providers.base import ChatRequest, Message
from providers.deck import Deck
from providers.emulators.lab import Lab
from providers.journal import DEFAULT_CAPACITY, EventJournal, EventKind, JournalEntry, JournalNote
from providers.router import RouteFailedError

HELLO = ChatRequest(model="", messages=(Message("user", "Say hello to the lab."),), max_tokens=16)
VLLM_MODEL = "box-vllm/meta-llama/Llama-3.1-8B-Instruct"
HOSTILE = "HTTP 502: <h1>[/x] upstream \x1b]52;c;cm0gLXJmIH4K\x07down\x1b[2J</h1>\x1b]0;PWNED\x1b\\ [bold red]x"


@pytest.fixture
async def quiet_deck(lab: Lab, tmp_path: Path) -> AsyncIterator[Deck]:
    """A started Deck over the lab whose monitor does not run: every probe in these tests is asked for."""
    deck = Deck(lab.config, tmp_path / "data")
    await deck.start(monitor=False)
    yield deck
    await deck.stop()


def of_kind(deck: Deck, kind: EventKind, subject: str | None = None) -> list[JournalEntry]:
    return [e for e in deck.events() if e.kind == kind and (subject is None or e.subject == subject)]


async def test_a_fallback_chat_is_noted_with_target_served_by_fallbacks_and_status(lab: Lab, quiet_deck: Deck) -> None:
    lab.set_faults("box-vllm", "503")
    run = await quiet_deck.chat("chat", HELLO)
    first_error = run.routed.attempts[0].error_kind
    [entry] = of_kind(quiet_deck, "request")
    assert entry.subject == "chat"
    assert entry.summary.startswith(f"ok · local-ollama/llama3.2:1b · fell back from {VLLM_MODEL} ({first_error}) · ")
    assert entry.level == "warning"
    detail = entry.detail.splitlines()
    assert detail[:3] == ["target chat", "status ok", "served by local-ollama/llama3.2:1b"]
    assert f"fallbacks: {VLLM_MODEL} ({first_error})" in detail
    hops = [line.strip() for line in detail if line.startswith("  ")]
    assert hops[0].startswith(f"1. {VLLM_MODEL} via chat — error {first_error}: box-vllm: HTTP 503")
    assert hops[-1].startswith("3. local-ollama/llama3.2:1b via chat — ok · ")  # the 503 was retried once first


async def test_a_failed_chat_is_noted_as_an_error_with_the_whole_message(lab: Lab, quiet_deck: Deck) -> None:
    for name in ("box-vllm", "local-ollama", "cloud", "claude"):
        lab.set_faults(name, "refuse")
    with pytest.raises(RouteFailedError):
        await quiet_deck.chat("chat", HELLO)
    [entry] = of_kind(quiet_deck, "request")
    assert entry.summary.startswith("error · unreachable · ")
    assert entry.level == "error"
    assert "error: all hops of 'chat' failed" in entry.detail


async def test_health_changes_and_breaker_moves_are_noted_with_their_reasons(lab: Lab, quiet_deck: Deck) -> None:
    await quiet_deck.chat("chat", HELLO)  # box-vllm's model now has a breaker
    await quiet_deck.health_all()
    assert [e.summary for e in of_kind(quiet_deck, "health", "box-vllm")] == ["up (first probe)"]

    lab.set_faults("box-vllm", "refuse")
    await quiet_deck.health_all()
    down = of_kind(quiet_deck, "health", "box-vllm")[-1]
    assert down.summary.startswith("up → down: ") and down.level == "error"
    [opened] = of_kind(quiet_deck, "breaker", "box-vllm")
    assert opened.summary.startswith("opened: health probe: ")
    assert opened.summary.endswith(" · meta-llama/Llama-3.1-8B-Instruct")
    assert opened.level == "error"

    await quiet_deck.health_all()  # the same failure again: nothing new to say
    assert len(of_kind(quiet_deck, "health", "box-vllm")) == 2 and not of_kind(quiet_deck, "probe")
    lab.set_faults("box-vllm", "500")
    await quiet_deck.health_all()  # still down, but for another reason
    await quiet_deck.health_all()  # and that again: nothing new
    [probe] = of_kind(quiet_deck, "probe", "box-vllm")
    assert probe.summary == "probe failed (down): engine not healthy: Internal server error."

    lab.set_faults("box-vllm", "")
    await quiet_deck.health_all()
    assert of_kind(quiet_deck, "health", "box-vllm")[-1].summary.endswith(" → up")
    await quiet_deck.chat("chat", HELLO)  # the half-open breaker's probe request
    moves = [e.summary.split(" · ")[0] for e in of_kind(quiet_deck, "breaker", "box-vllm")]
    assert moves == ["opened: health probe: " + down.summary.split(": ", 1)[1],
                     "half-open: health probe: up again", "closed: the probe request succeeded"]


async def test_a_breaker_opened_by_failures_says_how_many_and_which(lab: Lab, quiet_deck: Deck) -> None:
    lab.set_faults("box-vllm", "500")
    for _ in range(3):  # two tries a chat (retries: 1): the fifth failure in a row opens it
        await quiet_deck.chat("chat", HELLO)
    [opened] = of_kind(quiet_deck, "breaker", "box-vllm")
    assert opened.summary.startswith("opened: 5 failures in a row: ")
    assert "why: 5 failures in a row" in opened.detail


async def test_pulls_deletes_and_restarts_are_noted_with_their_outcome(quiet_deck: Deck) -> None:
    async with aclosing(quiet_deck.pull("local-ollama", "tinyllama:1.1b")) as steps:
        async for _ in steps:
            break  # the operator cancels it at its first step
    async with aclosing(quiet_deck.pull("local-ollama", "tinyllama:1.1b")) as steps:
        assert [step async for step in steps][-1].done
    await quiet_deck.delete("local-ollama", "tinyllama:1.1b")
    with pytest.raises(Exception, match="not found"):
        await quiet_deck.delete("local-ollama", "tinyllama:1.1b")
    with pytest.raises(ValueError, match="no restart configured"):
        await quiet_deck.restart("box-vllm")
    noted = [(e.kind, e.subject, e.level, e.summary.split(" in ")[0]) for e in quiet_deck.events()
             if e.kind in ("pull", "delete", "restart")]
    assert noted[:3] == [("pull", "local-ollama", "warning", "pull tinyllama:1.1b cancelled"),
                         ("pull", "local-ollama", "info", "pulled tinyllama:1.1b"),
                         ("delete", "local-ollama", "info", "deleted tinyllama:1.1b")]
    assert noted[3][:3] == ("delete", "local-ollama", "error")
    assert noted[3][3].startswith("delete tinyllama:1.1b failed: HTTP 404: ")
    assert noted[4][:3] == ("restart", "box-vllm", "error")
    assert noted[4][3].startswith("restart failed: (no restart configured for box-vllm")


async def test_requests_of_an_earlier_run_come_from_the_ledger(lab: Lab, tmp_path: Path) -> None:
    earlier = Deck(lab.config, tmp_path / "data")
    await earlier.start(monitor=False)
    try:
        lab.set_faults("box-vllm", "503")
        await earlier.chat("chat", HELLO)
        lab.set_faults("box-vllm", "")
        await earlier.chat("cloud-chat", HELLO)
        written = [row.ts for row in reversed(earlier.history().recent_requests(2))]  # type: ignore[union-attr]
    finally:
        await earlier.stop()
    later = Deck(lab.config, tmp_path / "data")
    await later.start(monitor=False)
    try:
        history = of_kind(later, "request")
        await later.chat("chat", HELLO)
        now = of_kind(later, "request")
    finally:
        await later.stop()
    assert [e.subject for e in history] == ["chat", "cloud-chat"]  # oldest first, as they happened
    assert [e.at for e in history] == written
    assert history[0].summary.startswith("ok · local-ollama/llama3.2:1b · at attempt 3 · ")
    assert history[0].level == "warning"
    assert history[1].summary.startswith("ok · cloud/gpt-4o-mini · ") and not history[1].summary.endswith(" · $0.00")
    assert "from the ledger (request " in history[0].detail
    assert len(now) == 3 and now[:2] == history and now[2].summary.startswith("ok · box-vllm/")


async def test_config_reloads_are_noted_applied_or_refused(quiet_deck: Deck) -> None:
    quiet_deck.record_config_reload(Path("/etc/llmdeck.yaml"), changes=["route chat: targets changed"])
    quiet_deck.record_config_reload("/etc/llmdeck.yaml", error="lab.yaml:3:5: unknown provider 'box-vlm'")
    applied, refused = of_kind(quiet_deck, "config")
    assert (applied.level, applied.summary) == ("info", "reloaded /etc/llmdeck.yaml: route chat: targets changed")
    assert refused.level == "error"
    assert refused.summary == ("reload of /etc/llmdeck.yaml refused, the running config stays: "
                               "lab.yaml:3:5: unknown provider 'box-vlm'")


async def test_the_deck_keeps_only_its_newest_entries(quiet_deck: Deck) -> None:
    before = quiet_deck.latest_event_seq()
    for number in range(DEFAULT_CAPACITY + 100):
        quiet_deck.record_config_reload(f"config-{number}.yaml")
    kept = quiet_deck.events()
    assert len(kept) == DEFAULT_CAPACITY
    assert kept[0].summary == "reloaded config-100.yaml: nothing changed"
    assert kept[-1].summary == f"reloaded config-{DEFAULT_CAPACITY + 99}.yaml: nothing changed"
    assert quiet_deck.latest_event_seq() == before + DEFAULT_CAPACITY + 100


def test_a_journal_keeps_its_capacity_and_numbers_on() -> None:
    journal = EventJournal(capacity=50)
    for number in range(150):
        journal.add(JournalNote("config", "config", f"entry {number}"))
    kept = journal.entries()
    assert [e.summary for e in kept] == [f"entry {n}" for n in range(100, 150)]
    assert (kept[0].seq, kept[-1].seq, journal.latest_seq, len(journal)) == (101, 150, 150, 50)


def test_hostile_text_is_kept_as_plain_safe_text_and_bounded() -> None:
    journal = EventJournal()
    entry = journal.add(JournalNote("request", "evil\x1b]0;PWNED\x1b\\[/x]", HOSTILE, "error",
                                    HOSTILE + "\nsecond line\x07" + "x" * 100_000))
    assert entry.subject == "evil[/x]"
    assert entry.summary == "HTTP 502: <h1>[/x] upstream down</h1> [bold red]x"
    assert entry.detail.startswith("HTTP 502: <h1>[/x] upstream down</h1> [bold red]x\nsecond line␇xxx")
    assert len(entry.detail) <= 4000 and "\x1b" not in entry.detail
    assert entry.matches("[/x] upstream") and not entry.matches("pwned")
