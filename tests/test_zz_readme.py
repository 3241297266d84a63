"""The README's configuration tables name every setting and block field the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from blocks.liveperson import LivePersonAccount
from blocks.vault import VaultConnection
from scripts.demo import PORTS
from switchboard._settings import TokenSettings, VaultSettings
from switchboard.ingress import IngressSettings
from switchboard.liveperson import LivePersonSettings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SETTINGS: list[type[BaseSettings]] = [
    VaultSettings,
    TokenSettings,
    LivePersonSettings,
    IngressSettings,
]


def variables(settings: type[BaseSettings]) -> list[str]:
    """The environment variables a settings class reads (aliases where it has them)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = []
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.extend(str(choice) for choice in alias.choices)
        else:
            names.append(f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: s.__name__)
def test_every_variable_is_documented(settings: type[BaseSettings]) -> None:
    missing = [v for v in variables(settings) if f"`{v}`" not in README]
    assert not missing, f"README.md does not document {missing}"


@pytest.mark.parametrize("block", [VaultConnection, LivePersonAccount], ids=lambda b: b.__name__)
def test_every_block_field_is_documented(block: type[VaultConnection | LivePersonAccount]) -> None:
    missing = [name for name in block.model_fields if f"`{name}`" not in README]
    assert not missing, f"README.md does not document {block.__name__} fields {missing}"


def test_the_demo_variables_are_documented() -> None:
    for _, variable, default in PORTS.values():
        assert variable in README
        assert str(default) in README
    assert re.search(r"`DEMO_ONCE`", README) and "`DEMO_STATE_DIR`" in README
