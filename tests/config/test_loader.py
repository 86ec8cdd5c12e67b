"""load_config / validate_file: values after expansion and defaults, references left unresolved, errors located."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from config.kinds import KINDS
from config.loader import ConfigError, ConfigProblem, check_text, load_config, validate_file
from config.restart_argv import expand_restart_argv
from config.schema import DeckConfig, ProviderConfig, TargetConfig
from config.secret_ref import SecretRef

HERE = Path(__file__).parent
GOOD = HERE / "good"
BROKEN = HERE / "broken"
EXAMPLE = HERE.parents[1] / "config" / "llmdeck.example.yaml"


def test_example_config_loads_clean_and_shows_every_kind() -> None:
    config = load_config(EXAMPLE, environ={})
    assert {provider.kind for provider in config.providers} == set(KINDS)
    assert validate_file(EXAMPLE) == []


def test_env_vars_and_tilde_expand_in_urls_restart_and_paths(isolated_home: Path) -> None:
    environ = {"LLMDECK_TEST_BOX": "10.0.0.9", "LLMDECK_TEST_PORT": "8011", "HOME": str(isolated_home),
               "LLMDECK_TEST_KEY": "never-read"}
    config = load_config(GOOD / "env_and_tilde.yaml", environ=environ)
    provider = config.providers[0]
    assert provider.base_url == "http://10.0.0.9:8011"
    # The argv is kept as written (the confirmation shows references) and expanded only when it runs.
    assert provider.restart == ("~/bin/restart-vllm", "--port", "${LLMDECK_TEST_PORT}", "--tag",
                                "${LLMDECK_TEST_TAG:-stable}", "$$HOME")
    assert expand_restart_argv(provider.restart, environ) == (
        f"{isolated_home}/bin/restart-vllm", "--port", "8011", "--tag", "stable", "$HOME")
    assert config.hosts[0].address == "10.0.0.9"
    assert config.hosts[0].identity_file == f"{isolated_home}/.ssh/id_box2"


def test_api_key_reference_is_parsed_but_not_resolved() -> None:
    environ = {"LLMDECK_TEST_BOX": "h", "LLMDECK_TEST_PORT": "1", "LLMDECK_TEST_KEY": "sk-resolved-too-early-0000"}
    provider = load_config(GOOD / "env_and_tilde.yaml", environ=environ).providers[0]
    assert provider.api_key == "env:LLMDECK_TEST_KEY"
    assert provider.api_key_ref == SecretRef("env", "LLMDECK_TEST_KEY")
    assert "sk-resolved-too-early" not in provider.model_dump_json()


def test_unset_variable_is_an_error_at_its_value() -> None:
    problems = validate_file(GOOD / "env_and_tilde.yaml")  # conftest leaves LLMDECK_TEST_* unset
    assert [(p.line, p.col) for p in problems] == [(4, 14), (9, 15), (12, 43)]
    assert "$LLMDECK_TEST_BOX is not set" in problems[1].message
    assert problems[2].message.startswith("environment variable $LLMDECK_TEST_PORT is not set")


def test_trailing_v1_is_stripped_and_remembered() -> None:
    vllm, ollama = load_config(GOOD / "trailing_v1.yaml").providers
    assert (vllm.base_url, vllm.v1_suffix) == ("http://10.0.0.2:8000", True)
    assert (ollama.base_url, ollama.v1_suffix) == ("http://127.0.0.1:11434", False)


@pytest.mark.parametrize(
    ("name", "root", "v1"),
    [
        ("openai", "https://api.openai.com", True),
        ("claude", "https://api.anthropic.com", False),
        ("openrouter", "https://openrouter.ai/api", True),
        ("deepseek", "https://api.deepseek.com", False),
        ("hf", "https://router.huggingface.co", True),
        ("portkey", "https://api.portkey.ai", True),
        ("own-openai", "https://proxy.example.org/openai", True),
    ],
)
def test_cloud_kinds_get_their_default_base_url(name: str, root: str, v1: bool) -> None:
    provider = load_config(GOOD / "cloud_defaults.yaml").provider(name)
    assert provider is not None
    assert (provider.base_url, provider.v1_suffix) == (root, v1)


def test_provider_model_text_targets_and_fallbacks() -> None:
    config = load_config(GOOD / "text_targets.yaml")
    chat = config.route("chat")
    assert chat is not None
    assert chat.targets == (
        TargetConfig(provider="box2-vllm", model="meta-llama/Llama-3.1-8B-Instruct"),
        TargetConfig(provider="claude", model="claude-sonnet-4-5", weight=0.5),
    )
    assert chat.fallbacks == ("cloud", "claude/claude-haiku-4-5")
    assert chat.retries == 1
    assert chat.strategy == "weighted"


def test_load_config_raises_with_every_problem_in_file_order() -> None:
    path = BROKEN / "several_problems.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [(p.line, p.col) for p in caught.value.problems] == [(8, 16), (9, 22), (12, 47)]
    assert all(p.file == str(path) for p in caught.value.problems)
    first = f"{path}:8:16: timeout_s must be a number between 0.1 and 86400 seconds, not -5"
    assert str(caught.value).splitlines()[0] == first


def test_every_stage_reports_in_one_run() -> None:
    # A kind typo and a literal key (schema), an unknown provider and a fallback cycle (cross checks) and an
    # unknown ui.keys id: before, the cross checks only ran once the schema was satisfied.
    problems = validate_file(BROKEN / "everything_at_once.yaml")
    assert [(p.line, p.col, p.message.split(" — ")[0].split(";")[0]) for p in problems] == [
        (8, 11, "unknown kind 'olama'"),
        (12, 14, "api_key must be a reference, never the key itself"),
        (15, 41, "unknown provider 'box9'"),
        (19, 17, "circular fallbacks: chat -> cloud -> chat"),
        (21, 10, "unknown key binding id 'models-pulll'"),
    ]


def test_a_value_the_schema_refused_is_not_reported_again_by_the_cross_checks() -> None:
    _, problems = check_text("providers:\n  - {name: box, kind: ollama, base_url: 'http://127.0.0.1:11434'}\n"
                             "routes:\n  - {alias: chat, targets: [{provider: '', model: m}]}\n")
    assert [(p.line, p.col, p.message) for p in problems] == [(4, 40, "provider must not be empty")]


def test_an_entry_the_schema_refused_still_takes_part_in_the_cross_checks() -> None:
    _, problems = check_text("providers:\n  - {name: box, kind: ollama, base_url: 'http://127.0.0.1:11434'}\n"
                             "  - {name: box, kind: vllm}\n"
                             "routes:\n  - {alias: chat, targets: [box/m, boxx/m]}\n")
    assert [(p.line, p.col, p.message) for p in problems] == [
        (3, 5, "base_url is required for kind 'vllm' — e.g. base_url: http://127.0.0.1:8000"),
        (3, 12, "duplicate provider name 'box' — rename one (first on line 2)"),
        (5, 36, "unknown provider 'boxx' — did you mean 'box'?"),
    ]


def test_missing_file_is_one_problem_for_the_whole_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    [problem] = validate_file(missing)
    assert (problem.line, problem.col) == (0, 0)
    assert str(problem).startswith(f"{missing}: no such file")
    with pytest.raises(ConfigError):
        load_config(missing)


def test_problem_renders_as_file_line_col() -> None:
    assert str(ConfigProblem("c.yaml", 7, 11, "unknown kind")) == "c.yaml:7:11: unknown kind"


def test_empty_file_is_an_empty_config() -> None:
    config, problems = check_text("", "empty.yaml")
    assert problems == []
    assert config == DeckConfig()


def test_header_reference_is_allowed_and_exposed() -> None:
    config, problems = check_text(
        "providers:\n"
        "  - name: portkey\n"
        "    kind: portkey\n"
        "    headers: {x-portkey-virtual-key: 'keyring:vk', X-Title: llmdeck}\n"
    )
    assert problems == []
    assert config is not None
    assert config.providers[0].header_refs == {"x-portkey-virtual-key": SecretRef("keyring", "vk")}


def test_config_built_in_code_is_cross_checked_too() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown provider 'nowhere'"):
        DeckConfig.model_validate({"routes": [{"alias": "chat", "targets": ["nowhere/model"]}]})


def test_validation_error_text_never_holds_a_literal_key() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        ProviderConfig.model_validate({"name": "x", "kind": "openai", "api_key": "sk-live-0123456789abcdefghij"})
    assert "0123456789abcdefghij" not in str(caught.value)


def test_models_are_frozen() -> None:
    provider = ProviderConfig(name="local", kind="ollama", base_url="http://127.0.0.1:11434")
    with pytest.raises(pydantic.ValidationError):
        provider.name = "other"  # type: ignore[misc]


def test_json_schema_for_editors_carries_field_docs() -> None:
    schema = DeckConfig.model_json_schema()
    provider = schema["$defs"]["ProviderConfig"]
    assert "keyring:NAME" in provider["properties"]["api_key"]["description"]
    assert set(provider["properties"]["kind"]["enum"]) == set(KINDS)
