"""Prefect's own block standards over every Switchboard block, and their registration."""

from __future__ import annotations

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pydantic import BaseModel

from blocks.liveperson import LivePersonAccount
from blocks.vault import VaultConnection
from sandbox.servers import ManagedProcess
from scripts.deploy import prefect_cli
from switchboard import VaultSettings
from switchboard.liveperson import LivePersonSettings

BLOCKS: list[type[Block]] = [VaultConnection, LivePersonAccount]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.__name__)
class TestAllBlocksAdhereToStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block: type[Block]) -> type[Block]:
        return block

    def test_has_a_valid_image(self, block: type[Block]) -> None:
        pytest.skip("downloads the logo from the internet, which tests here cannot reach")

    def test_has_a_logo_url(self, block: type[Block]) -> None:
        assert block._logo_url is not None
        assert str(block._logo_url).startswith("https://")


@pytest.mark.parametrize(
    ("block", "settings"),
    [(VaultConnection, VaultSettings), (LivePersonAccount, LivePersonSettings)],
    ids=lambda value: value.__name__,
)
def test_a_block_is_its_settings_model(block: type[Block], settings: type[BaseModel]) -> None:
    """One list of fields, one set of names: each block field is the same-named setting, with
    its type, default, description and constraints."""
    assert list(block.model_fields) == list(settings.model_fields)
    for name, field in block.model_fields.items():
        source = settings.model_fields[name]
        assert field.annotation == source.annotation, name
        assert field.get_default(call_default_factory=True) == source.get_default(
            call_default_factory=True
        ), name
        assert (field.description, field.metadata) == (source.description, source.metadata), name


@pytest.mark.parametrize(
    ("module", "blocks"),
    [
        ("blocks", [VaultConnection, LivePersonAccount]),
        ("blocks.vault", [VaultConnection]),
        ("blocks.liveperson", [LivePersonAccount]),
    ],
)
def test_prefect_block_register_finds_the_blocks(
    prefect_server: ManagedProcess, module: str, blocks: list[type[Block]]
) -> None:
    api_url = prefect_server.extra["api_url"]
    output = prefect_cli(api_url, "block", "register", "-m", module)
    for block in blocks:
        assert block.get_block_type_name() in output
    listed = prefect_cli(api_url, "block", "type", "ls")
    assert all(block.get_block_type_slug() in listed for block in blocks)
