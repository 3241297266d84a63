"""Shared fixtures for the routing tests: a LivePerson account on the sandbox with a real bearer.

The bearer is acquired by the token half (``Refresher``) into OpenBao, and read through an
``AccessTokenCache``, exactly as in production. Nothing is mocked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from helpers import register_credential

from switchboard._settings import TokenSettings
from switchboard.consumer import AccessTokenCache
from switchboard.liveperson import LivePersonSettings
from switchboard.refresh import Refresher

MIN = 60_000


def conv(tag: str) -> str:
    """A conversation id no other test uses."""
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def routing_event(conv: str, skill: str | int, dialog: str | None = None) -> dict[str, Any]:
    return {
        "general": {"convId": conv, "dialogId": dialog or f"{conv}-d", "cbotEventType": "routed"},
        "routing": {"oldSkillId": "-1", "newSkillId": skill},
    }


@dataclass
class SandboxAccount:
    """One LivePerson account on the sandbox, with its own credential and scenario."""

    url: str
    account_id: str
    client_id: str  # also the name of its credential in Vault
    settings: LivePersonSettings
    tokens: AccessTokenCache

    def control(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        if payload is None:
            response = httpx2.get(f"{self.url}/_control/{path}", timeout=10)
        else:
            response = httpx2.post(f"{self.url}/_control/{path}", json=payload, timeout=10)
        return response.raise_for_status().json()

    def scenario(self, skills: dict[str, tuple[list[str], int | None]]) -> None:
        """skill id → (statuses of its agents, p90 wait in ms or None for -1)."""
        self.control(
            "scenario",
            {
                "account_id": self.account_id,
                "skills": {
                    skill: {
                        "agents": [
                            {"agentId": f"{skill}-{i}", "currentStatus": status}
                            for i, status in enumerate(statuses)
                        ],
                        "wait_p90_ms": -1 if p90 is None else p90,
                    }
                    for skill, (statuses, p90) in skills.items()
                },
            },
        )

    def fault(self, endpoint: str, count: int = 1, **fault: Any) -> None:
        self.control(
            "faults", {"endpoint": endpoint, "account_id": self.account_id, "count": count, **fault}
        )

    def counters(self) -> dict[str, Any]:
        return dict(self.control("counters"))

    def messages(self) -> list[dict[str, Any]]:
        return list(
            httpx2.get(
                f"{self.url}/_control/messages", params={"account_id": self.account_id}, timeout=10
            )
            .raise_for_status()
            .json()
        )

    def expire_bearer(self) -> None:
        self.control("expire-tokens", {"client_id": self.client_id})


def create_account(sandbox_url: str, store, tag: str, journal_dir: Path) -> SandboxAccount:
    """A sandbox OAuth client, its definition and first token in Vault, and the account settings."""
    name = f"lp-{tag}"
    register_credential(sandbox_url, store, name)
    refresher = Refresher(store, TokenSettings(journal_dir=journal_dir))
    assert refresher.refresh(name).status == "refreshed"
    settings = LivePersonSettings(
        account_id=f"acct-{tag}",
        csds_host=sandbox_url.removeprefix("http://"),
        scheme="http",
        bearer_credential=name,
        send_concurrency=8,
    )
    tokens = AccessTokenCache(store, refresh=lambda n: refresher.refresh(n, force=True))
    return SandboxAccount(sandbox_url, settings.account_id, name, settings, tokens)


@pytest.fixture
def lp_account(sandbox, credential_store, unique_name: str, tmp_path: Path) -> SandboxAccount:
    return create_account(sandbox.url, credential_store, unique_name, tmp_path / "journal")
