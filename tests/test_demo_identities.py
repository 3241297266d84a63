"""The demo gives each child its own Vault identity: the ingress never holds the flows'."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from scripts.demo import Demo, DemoConfig
from switchboard import admin


def test_the_demo_ingress_gets_the_routing_identity_only(tmp_path: Path) -> None:
    flows = admin.AppRoleIdentity("flows-role", SecretStr("flows-secret-id"))
    routing = admin.AppRoleIdentity("routing-role", SecretStr("routing-secret-id"))
    config = DemoConfig(state_dir=tmp_path, ports={}, once=True)
    demo = Demo(config, flows_env={**flows.as_env(), "VAULT_ADDR": "http://127.0.0.1:1"})
    demo.identity, demo.routing_identity = flows, routing

    env = demo.ingress_env()

    assert env["SWITCHBOARD_VAULT_ROLE_ID"] == "routing-role"
    assert env["SWITCHBOARD_VAULT_SECRET_ID"] == "routing-secret-id"
    assert "flows-secret-id" not in env.values()
    assert "VAULT_TOKEN" not in env
    assert demo.flows_env["SWITCHBOARD_VAULT_SECRET_ID"] == "flows-secret-id"  # the worker's
