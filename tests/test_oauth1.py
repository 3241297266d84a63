"""OAuth 1.0a signing with Vault-held keys, verified by the sandbox (oauthlib)."""

from __future__ import annotations

import hashlib
import json

import httpx2
from pydantic import SecretStr

from sandbox.servers import ManagedProcess
from switchboard._models import OAuth1Keys
from switchboard.oauth1 import oauth1_auth
from switchboard.vault import CredentialStore


def _keys_in_vault(sandbox: ManagedProcess, store: CredentialStore, name: str) -> OAuth1Keys:
    issued = httpx2.post(f"{sandbox.url}/_control/oauth1-keys", json={}).raise_for_status().json()
    store.put_oauth1(name, OAuth1Keys.model_validate(issued))
    return store.read_oauth1(name)


def test_signed_json_post_arrives_with_its_body(
    sandbox: ManagedProcess, credential_store: CredentialStore, unique_name: str
) -> None:
    keys = _keys_in_vault(sandbox, credential_store, unique_name)
    body = json.dumps({"skillIds": ["12", "13"], "note": "ünïcode"}).encode()
    with httpx2.Client(auth=oauth1_auth(keys)) as client:
        response = client.post(
            f"{sandbox.url}/oauth1/echo",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert response.json()["consumer_key"] == keys.consumer_key.get_secret_value()


def test_signed_form_post_verifies(
    sandbox: ManagedProcess, credential_store: CredentialStore, unique_name: str
) -> None:
    keys = _keys_in_vault(sandbox, credential_store, unique_name)
    with httpx2.Client(auth=oauth1_auth(keys)) as client:
        response = client.post(f"{sandbox.url}/oauth1/echo?v=1", data={"a": "1", "b": "two"})
    assert response.status_code == 200, response.text


def test_wrong_secret_is_rejected(
    sandbox: ManagedProcess, credential_store: CredentialStore, unique_name: str
) -> None:
    keys = _keys_in_vault(sandbox, credential_store, unique_name)
    wrong = keys.model_copy(update={"token_secret": SecretStr("sbx-wrong")})
    with httpx2.Client(auth=oauth1_auth(wrong)) as client:
        assert client.post(f"{sandbox.url}/oauth1/echo", json={"a": 1}).status_code == 401


def test_keys_never_show_in_reprs(
    sandbox: ManagedProcess, credential_store: CredentialStore, unique_name: str
) -> None:
    keys = _keys_in_vault(sandbox, credential_store, unique_name)
    assert "sbx-" not in repr(keys) + str(keys) + repr(oauth1_auth(keys))
