"""The README's configuration tables name every setting and block field the code reads, with
the defaults the code has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import AliasChoices
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from blocks.liveperson import LivePersonAccount
from blocks.vault import VaultConnection
from scripts.demo import PORTS
from switchboard._settings import TokenSettings, VaultSettings
from switchboard.ingress import IngressSettings
from switchboard.liveperson import LivePersonSettings
from switchboard.metrics import MetricsSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SETTINGS: list[type[BaseSettings]] = [
    VaultSettings,
    TokenSettings,
    LivePersonSettings,
    IngressSettings,
    MetricsSettings,
]


def variables(settings: type[BaseSettings]) -> list[str]:
    """The environment variables a settings class reads (aliases where it has them)."""
    return [name for names in _variables_by_field(settings).values() for name in names]


def _variables_by_field(settings: type[BaseSettings]) -> dict[str, list[str]]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    found = {}
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            found[name] = [str(choice) for choice in alias.choices]
        else:
            found[name] = [f"{prefix}{name}".upper()]
    return found


def documented_defaults() -> dict[str, str]:
    """``| `VARIABLE` ... | `default` | meaning |`` rows: the first variable's default cell."""
    rows = re.findall(r"^\| `([A-Z0-9_]+)`[^|]*\| ([^|]+) \|", README, flags=re.MULTILINE)
    return {variable: cell.strip().strip("`") for variable, cell in rows}


def same(code: Any, cell: str) -> bool:
    if code is PydanticUndefined:
        return cell == "required"
    if code is None:
        return cell == "\u2013"  # the en dash the tables use for "none"
    if isinstance(code, bool):
        return cell == str(code).lower()
    if isinstance(code, int | float):
        try:
            return abs(float(cell) - code) < 1e-3
        except ValueError:
            return False
    return cell == str(code)


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.__name__)
def test_every_variable_is_documented(settings: type[BaseSettings]) -> None:
    missing = [v for v in variables(settings) if f"`{v}`" not in README]
    assert not missing, f"README.md does not document {missing}"


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.__name__)
def test_documented_defaults_are_the_code_defaults(settings: type[BaseSettings]) -> None:
    cells = documented_defaults()
    wrong = []
    for name, names in _variables_by_field(settings).items():
        field = settings.model_fields[name]
        if field.default_factory is not None or names[0] not in cells:
            continue  # structured defaults are described in words
        if not same(field.default, cells[names[0]]):
            wrong.append(f"{names[0]}: README {cells[names[0]]!r}, code {field.default!r}")
    assert not wrong, "README.md defaults differ from the code: " + "; ".join(wrong)


@pytest.mark.parametrize("block", [VaultConnection, LivePersonAccount], ids=lambda b: b.__name__)
def test_every_block_field_is_documented(block: type[VaultConnection | LivePersonAccount]) -> None:
    missing = [name for name in block.model_fields if f"`{name}`" not in README]
    assert not missing, f"README.md does not document {block.__name__} fields {missing}"


def test_the_demo_variables_are_documented() -> None:
    for _, variable, default in PORTS.values():
        assert variable in README
        assert str(default) in README
    assert re.search(r"`DEMO_ONCE`", README) and "`DEMO_STATE_DIR`" in README
