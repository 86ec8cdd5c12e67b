"""`ui.keys` ids: the config's list is exactly the console's bindings, an unknown id is an error at its key with
the id it most likely meant, and the shipped example and README use and list real ids."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest
import yaml
from textual.binding import Binding

import console
from config.binding_ids import BINDING_IDS
from config.loader import check_text, load_config
from config.schema import DeckConfig, UiConfig
from console.keymap import APP_BINDINGS, keymap_from_config

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "config" / "llmdeck.example.yaml"
README = ROOT / "README.md"


def console_binding_ids() -> set[str]:
    """The id of every Binding the console declares: each module's classes' BINDINGS and module-level lists."""
    found: set[str] = set()
    for info in pkgutil.walk_packages(console.__path__, "console."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            owned_class = inspect.isclass(value) and value.__module__ == module.__name__
            bindings = value.__dict__.get("BINDINGS", []) if owned_class else value
            if isinstance(bindings, list | tuple):
                found |= {item.id for item in bindings if isinstance(item, Binding) and item.id}
    return found


def test_the_config_list_is_exactly_the_console_bindings() -> None:
    ids = console_binding_ids()
    assert len(ids) >= 60  # the walk found the panes and dialogs, not just the shell
    assert sorted(ids - set(BINDING_IDS)) == [], "a console Binding id is missing from config/binding_ids.py"
    assert sorted(set(BINDING_IDS) - ids) == [], "config/binding_ids.py lists an id no console Binding has"
    assert len(BINDING_IDS) == len(set(BINDING_IDS))


def test_unknown_ids_are_errors_at_their_keys_with_a_suggestion() -> None:
    text = "ui:\n  keys: {pull: ctrl+p, models-pulll: z, routes-test-fire: x}\n"
    config, problems = check_text(text, "lab.yaml")
    assert config is None
    assert [(p.line, p.col, p.message) for p in problems] == [
        (2, 10, "unknown key binding id 'pull' — did you mean 'models-pull'?"),
        (2, 24, "unknown key binding id 'models-pulll' — did you mean 'models-pull'?"),
    ]


def test_an_id_with_no_likely_match_points_at_the_list() -> None:
    _, [problem] = check_text("ui:\n  keys:\n    zzzz: x\n", "lab.yaml")
    assert (problem.line, problem.col) == (3, 5)
    assert problem.message.startswith("unknown key binding id 'zzzz' — ids name a place and an action")
    assert "README.md (Remapping keys)" in problem.message


def test_a_config_built_in_code_is_checked_too() -> None:
    with pytest.raises(ValueError, match="did you mean 'quit'"):
        UiConfig(keys={"quitt": "ctrl+x"})
    assert UiConfig(keys={"quit": "ctrl+x"}).keys == {"quit": "ctrl+x"}


def test_the_example_remaps_a_real_id_to_keys_no_global_binding_holds() -> None:
    keys = load_config(EXAMPLE, environ={}).ui.keys
    assert keys
    assert set(keys) <= set(BINDING_IDS)
    global_keys = {key.strip(): binding.id for binding in APP_BINDINGS for key in binding.key.split(",")}
    for binding_id, written in keymap_from_config(keys).items():
        for key in written.split(","):
            assert global_keys.get(key, binding_id) == binding_id, f"{key} is the shell's {global_keys[key]}"


def test_keymap_drops_spaces_around_the_commas() -> None:
    assert keymap_from_config({" models-delete ": "ctrl+d, delete", "quit": " "}) == {
        "models-delete": "ctrl+d,delete"}


def test_the_readme_lists_every_id_and_its_example_is_valid() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Remapping keys.**"):]
    section = section[: section.index("\n\n")]
    listed = re.findall(r"`([a-z][a-z.-]*)`", section.split("The ids:", 1)[1])
    assert sorted(listed) == sorted(BINDING_IDS)
    example = re.search(r"`(ui: \{keys: .*?\}\})`", section.replace("\n", " "))
    assert example is not None
    DeckConfig.model_validate(yaml.safe_load(example.group(1)))
