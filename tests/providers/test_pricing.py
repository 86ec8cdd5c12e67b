"""Pricing against the real bundled table: name matching, overrides, live prices, local kinds, arithmetic."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from providers.base import Usage
from providers.pricing import LOCAL_KINDS, ModelPrice, PriceOverride, PriceTable, canonical, cost

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load_bundled()


def bundled_facts(key: str) -> dict[str, object]:
    models: dict[str, dict[str, object]] = json.loads(
        resources.files("config").joinpath("prices.json").read_text(encoding="utf-8"))["models"]
    return models[key]


def test_bundled_table_keeps_its_source_note() -> None:
    document = json.loads(resources.files("config").joinpath("prices.json").read_text(encoding="utf-8"))
    assert "LiteLLM" in document["_source"]
    assert document["models"]["gpt-4o-mini"]["litellm_provider"] == "openai"


def test_exact_name_uses_the_table_prices(table: PriceTable) -> None:
    price = table.price_for("openai", "gpt-4o-mini")
    facts = bundled_facts("gpt-4o-mini")
    assert price is not None
    assert price.input_usd_per_token == facts["input_cost_per_token"]
    assert price.output_usd_per_token == facts["output_cost_per_token"]
    assert price.context_window == facts["max_input_tokens"]
    assert (price.source, price.matched) == ("bundled", "gpt-4o-mini")
    assert price.input_usd_per_mtok == pytest.approx(0.15)


def test_matching_ignores_case(table: PriceTable) -> None:
    price = table.price_for("openai", "GPT-4o-Mini")
    assert price is not None
    assert price.matched == "gpt-4o-mini"


def test_dated_id_matches_its_own_entry_and_undated_alias(table: PriceTable) -> None:
    dated = table.price_for("anthropic", "claude-sonnet-4-5-20250929")
    plain = table.price_for("anthropic", "claude-sonnet-4-5")
    assert dated is not None
    assert plain is not None
    assert dated.matched == "claude-sonnet-4-5-20250929"
    assert plain.matched == "claude-sonnet-4-5"
    assert dated.input_usd_per_mtok == pytest.approx(3.0)
    assert dated.output_usd_per_mtok == pytest.approx(15.0)


def test_undated_name_finds_a_model_listed_only_with_a_date(table: PriceTable) -> None:
    # The table lists claude-opus-4-1 only as a dated Bedrock id; the operator writes the short name.
    price = table.price_for("anthropic", "claude-opus-4-1")
    assert price is not None
    assert "claude-opus-4-1-20250805" in price.matched
    assert price.input_usd_per_mtok == pytest.approx(15.0)


def test_openrouter_ids_resolve_to_the_vendors_own_listing(table: PriceTable) -> None:
    sonnet = table.price_for("openrouter", "anthropic/claude-sonnet-4.5")
    mini = table.price_for("openrouter", "openrouter/openai/gpt-4o-mini")
    gemini = table.price_for("openrouter", "google/gemini-2.5-pro")
    assert sonnet is not None
    assert mini is not None
    assert gemini is not None
    assert sonnet.matched == "claude-sonnet-4-5"
    assert mini.matched == "gpt-4o-mini"
    assert gemini.matched == "gemini/gemini-2.5-pro"  # Google's listing, not a reseller's


def test_provider_prefixed_key_matches_the_kinds_listing(table: PriceTable) -> None:
    price = table.price_for("deepseek", "deepseek/deepseek-chat")
    assert price is not None
    assert price.input_usd_per_token == bundled_facts("deepseek/deepseek-chat")["input_cost_per_token"]


def test_unknown_model_has_no_price(table: PriceTable) -> None:
    assert table.price_for("openai", "no-such-model-anywhere") is None
    assert table.cost_of("openai", "no-such-model-anywhere", Usage(10, 10)) is None


@pytest.mark.parametrize("kind", sorted(LOCAL_KINDS))
def test_local_kinds_cost_nothing(table: PriceTable, kind: str) -> None:
    price = table.price_for(kind, "gpt-4o-mini")
    assert price is not None
    assert (price.input_usd_per_token, price.output_usd_per_token, price.source) == (0.0, 0.0, "local")


def test_local_model_still_gets_its_context_window(table: PriceTable) -> None:
    assert table.context_window("ollama", "llama3.1:8b") == bundled_facts("ollama/llama3.1")["max_input_tokens"]
    assert table.context_window("anthropic", "claude-sonnet-4-5") == 200000


def test_override_wins_over_bundled_and_local() -> None:
    table = PriceTable.load_bundled([
        PriceOverride(model="gpt-4o-mini", input_usd_per_mtok=1.0, output_usd_per_mtok=2.0),
        {"provider": "box2-vllm", "model": "meta-llama/Llama-3.1-8B-Instruct",
         "input_usd_per_mtok": 0.05, "output_usd_per_mtok": 0.1},
    ])
    cloud = table.price_for("openai", "gpt-4o-mini-2024-07-18")
    gpu = table.price_for("vllm", "meta-llama/Llama-3.1-8B-Instruct", provider="box2-vllm")
    other_box = table.price_for("vllm", "meta-llama/Llama-3.1-8B-Instruct", provider="box3-vllm")
    assert cloud is not None
    assert gpu is not None
    assert other_box is not None
    assert (cloud.source, cloud.input_usd_per_token, cloud.output_usd_per_token) == ("override", 1e-6, 2e-6)
    assert gpu.source == "override"
    assert gpu.output_usd_per_mtok == pytest.approx(0.1)
    assert (other_box.source, other_box.output_usd_per_token) == ("local", 0.0)


def test_provider_scoped_override_beats_a_global_one() -> None:
    table = PriceTable.load_bundled([
        {"model": "gpt-4o", "input_usd_per_mtok": 9.0, "output_usd_per_mtok": 9.0},
        {"provider": "azure-eu", "model": "gpt-4o", "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 12.0},
    ])
    scoped = table.price_for("openai", "gpt-4o", provider="azure-eu")
    unscoped = table.price_for("openai", "gpt-4o", provider="openai-main")
    assert scoped is not None
    assert unscoped is not None
    assert scoped.input_usd_per_mtok == pytest.approx(3.0)
    assert unscoped.input_usd_per_mtok == pytest.approx(9.0)


def test_live_prices_beat_the_table_but_not_overrides() -> None:
    table = PriceTable.load_bundled()
    table.merge_live({"anthropic/claude-sonnet-4.5": (2e-6, 9e-6)}, scope="openrouter",
                     context_windows={"anthropic/claude-sonnet-4.5": 1_000_000})
    live = table.price_for("openrouter", "anthropic/claude-sonnet-4.5")
    direct = table.price_for("anthropic", "claude-sonnet-4-5")
    assert live is not None
    assert direct is not None
    assert (live.source, live.input_usd_per_token, live.context_window) == ("live", 2e-6, 1_000_000)
    assert direct.source == "bundled"  # live prices are scoped to the provider they came from
    table.set_overrides([{"model": "claude-sonnet-4.5", "input_usd_per_mtok": 1, "output_usd_per_mtok": 1}])
    overridden = table.price_for("openrouter", "anthropic/claude-sonnet-4.5")
    assert overridden is not None
    assert overridden.source == "override"


def test_cost_is_prompt_times_input_plus_completion_times_output() -> None:
    price = ModelPrice(input_usd_per_token=3e-6, output_usd_per_token=15e-6)
    assert cost(Usage(prompt_tokens=1000, completion_tokens=500), price) == pytest.approx(0.003 + 0.0075)
    assert cost(Usage(), price) == 0.0


def test_cost_of_uses_the_matched_price(table: PriceTable) -> None:
    spent = table.cost_of("openai", "gpt-4o-mini", Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000))
    assert spent == pytest.approx(0.15 + 0.60)


def test_canonical_form_joins_spellings_of_one_model() -> None:
    assert canonical("Claude-Sonnet-4.5") == canonical("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert canonical("claude-sonnet-4-5@20250929") == "claude-sonnet-4-5"
    assert canonical("gpt-4o-mini-2024-07-18") == "gpt-4o-mini"


def test_table_is_read_lazily_once_not_at_import() -> None:
    probe = (
        "from providers.pricing import PriceTable, _bundled\n"
        "assert _bundled.cache_info().currsize == 0, 'read at import'\n"
        "a = PriceTable.load_bundled(); b = PriceTable.load_bundled()\n"
        "assert _bundled.cache_info().currsize == 0, 'read before the first lookup'\n"
        "a.price_for('openai', 'gpt-4o'); b.price_for('openai', 'gpt-4o-mini')\n"
        "info = _bundled.cache_info()\n"
        "assert (info.misses, info.hits) == (1, 1), info\n"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True, timeout=30)
