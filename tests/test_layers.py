"""The core never imports the UI: providers/ and config/ load without textual (and never import rich themselves)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_core_imports_pull_in_no_ui_library() -> None:
    # rich may still appear: httpx imports it for its own command line when it is installed.
    code = (
        "import sys, importlib, pkgutil\n"
        "import providers, config\n"
        "for pkg in (providers, config):\n"
        "    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'console'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                            timeout=120)
    assert result.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_imports_flow_console_to_providers_to_config_only() -> None:
    for path in (ROOT / "providers").rglob("*.py"):
        assert not _imports(path) & {"console", "textual", "rich"}, path
    for path in (ROOT / "config").rglob("*.py"):
        assert not _imports(path) & {"console", "providers", "textual", "rich"}, path


def _module_imports(path: Path) -> set[str]:
    """Full dotted names of what `path` imports (absolute imports only: the project uses no relative ones)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_production_code_never_imports_the_emulators() -> None:
    # Only what starts emulators on purpose may: the demo and `llmdeck emulate`.
    starters = {ROOT / "console" / "demo.py", ROOT / "console" / "commands" / "emulate.py"}
    emulators = ROOT / "providers" / "emulators"
    for package in ("providers", "console", "config"):
        for path in (ROOT / package).rglob("*.py"):
            if path in starters or emulators in path.parents:
                continue
            reached = {name for name in _module_imports(path) if name.startswith("providers.emulators")}
            assert not reached, f"{path.relative_to(ROOT)} imports {sorted(reached)}"


DECK_PARTS = frozenset({"router", "monitor", "metrics", "spend", "signals", "ledger", "client"})
"""The Deck's parts: the console asks the Deck (its methods) and never reaches through it into these."""


def _deck_part_reaches(source: str) -> list[str]:
    """`<something named deck>.<part>` chains in `source`, as `line: text`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Attribute) and node.attr in DECK_PARTS):
            continue
        owner = node.value
        name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
        if name.lower().endswith("deck"):
            found.append((node.lineno, ast.unparse(node)))
    return [f"{line}: {text}" for line, text in sorted(found)]


def test_the_deck_part_scan_finds_reaches_through_any_deck() -> None:
    source = "deck.router.routes\nself.app.deck.monitor.probe_now()\nx = self._deck.ledger\ndeck.aliases()\n"
    assert _deck_part_reaches(source) == ["1: deck.router", "2: self.app.deck.monitor", "3: self._deck.ledger"]


def test_the_console_reaches_the_decks_parts_only_through_the_deck() -> None:
    reaches = {str(path.relative_to(ROOT)): found for path in (ROOT / "console").rglob("*.py")
               if (found := _deck_part_reaches(path.read_text(encoding="utf-8")))}
    assert reaches == {}
