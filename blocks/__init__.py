"""Switchboard's Prefect blocks; ``prefect block register -m blocks`` registers them all."""

from blocks.liveperson import LivePersonAccount
from blocks.vault import VaultConnection

__all__ = ["LivePersonAccount", "VaultConnection"]
