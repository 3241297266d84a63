"""The package boundaries are executable: ``lint-imports`` keeps the real tree and breaks on a
planted violation (in a copy of the tree, so nothing is left behind in the checkout).

The contracts are ``[tool.importlinter]`` in pyproject.toml; ``make lint`` runs them too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("switchboard", "flows", "tasks", "blocks", "serve")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CORE = "The core is Prefect-free"
TASKS = "Tasks are independent"
LAYERS = "Layers:"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the packages in ``root`` (first on the path, ahead of the install)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def verdicts(output: str) -> dict[str, str]:
    """``{contract name prefix: "KEPT" | "BROKEN"}`` from lint-imports' summary."""
    flat = " ".join(output.split())  # contract names wrap at 80 columns
    found = {}
    for name in (CORE, TASKS, LAYERS):
        start = flat.index(name)
        found[name] = next(w for w in flat[start:].split() if w in ("KEPT", "BROKEN"))
    return found


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml, to plant violations in."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_real_tree_keeps_every_contract() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert verdicts(done.stdout) == {CORE: "KEPT", TASKS: "KEPT", LAYERS: "KEPT"}


@pytest.mark.parametrize(
    ("path", "source", "broken"),
    [
        ("switchboard/ingress/_planted.py", "import prefect\n", CORE),
        ("switchboard/_planted.py", "from prefect.context import FlowRunContext\n", CORE),
        ("switchboard/routing/_planted.py", "from flows import route_conversations\n", CORE),
        ("switchboard/_planted.py", "import tasks.routing\n", CORE),
        ("switchboard/_planted.py", "from blocks.vault import VaultConnection\n", CORE),
        ("switchboard/_planted.py", "from serve import flow_handler\n", CORE),
        ("switchboard/_planted.py", "def f():\n    import prefect  # lazy too\n", CORE),
        ("tasks/_planted.py", "from tasks.routing import connect_account\n", TASKS),
        ("blocks/_planted.py", "from tasks import routing\n", LAYERS),
        ("tasks/_planted.py", "from flows import route_conversations\n", LAYERS),
        ("flows/_planted.py", "import serve\n", LAYERS),
    ],
)
def test_a_planted_violation_breaks_its_contract(
    tree: Path, path: str, source: str, broken: str
) -> None:
    (tree / path).write_text(source)
    done = lint_imports(tree)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert verdicts(done.stdout)[broken] == "BROKEN"
    assert path.removesuffix(".py").replace("/", ".") in done.stdout


def test_a_task_module_importing_another_breaks_independence(tree: Path) -> None:
    """Not only a new module: an existing task that starts using another task's module."""
    tokens = tree / "tasks" / "tokens.py"
    tokens.write_text(tokens.read_text() + "\nfrom tasks import routing as _routing  # noqa\n")
    done = lint_imports(tree)
    assert done.returncode == 1, done.stdout[-3000:]
    assert verdicts(done.stdout) == {CORE: "KEPT", TASKS: "BROKEN", LAYERS: "KEPT"}


def test_the_core_imports_without_prefect_or_the_prefect_side() -> None:
    """At run time too: every core module imports with Prefect and the Prefect side unimportable
    (catches what a static graph cannot, such as ``importlib.import_module("flows...")`` at import
    time)."""
    script = """
import importlib, pkgutil, sys
for name in ("prefect", "flows", "tasks", "blocks", "serve"):
    sys.modules[name] = None  # `import name` now raises ImportError
import switchboard
for module in pkgutil.walk_packages(switchboard.__path__, "switchboard."):
    importlib.import_module(module.name)
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def private_imports_from_outside(root: Path) -> list[str]:
    """``module -> imported`` for every import of a ``_private`` module of a subpackage of the
    core from outside that subpackage (``switchboard.x._y`` is ``switchboard.x``'s own)."""
    import ast

    found = []
    for path in sorted((root / "switchboard").rglob("*.py")):
        module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                for i, part in enumerate(parts[2:], start=2):
                    owner = ".".join(parts[:i])
                    if part.startswith("_") and not f"{module}.".startswith(f"{owner}."):
                        found.append(f"{module} -> {name}")
                        break
    return found


def test_core_subpackages_are_used_through_their_public_names() -> None:
    """A subpackage's ``_private`` modules are its own: others import what its ``__init__``
    exports, so it can move things between its modules without breaking a caller."""
    assert private_imports_from_outside(ROOT) == []
