"""The test servers themselves: OpenBao answers KV v2 and Prefect runs a flow."""

from __future__ import annotations

import hvac

from sandbox.servers import ManagedProcess, free_port, port_in_use


def test_openbao_kv_v2_round_trip(vault_root: hvac.Client, unique_name: str) -> None:
    vault_root.secrets.kv.v2.create_or_update_secret(path=f"smoke/{unique_name}", secret={"a": "b"})
    read = vault_root.secrets.kv.v2.read_secret_version(
        path=f"smoke/{unique_name}", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"a": "b"}


def test_prefect_server_runs_a_flow(prefect_server: ManagedProcess) -> None:
    from prefect import flow

    @flow
    def add(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3


def test_port_in_use_is_detected(openbao: ManagedProcess) -> None:
    port = int(openbao.url.rsplit(":", 1)[1])
    assert port_in_use(port)
    assert not port_in_use(free_port())
