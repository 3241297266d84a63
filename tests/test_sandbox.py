"""The sandbox as its clients see it: a real server on loopback, real OAuth libraries."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth1Auth, OAuth2Client

from sandbox.servers import ManagedProcess


@pytest.fixture
def http(sandbox: ManagedProcess) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sandbox.url, timeout=10) as client:
        yield client


@pytest.fixture
def account() -> str:
    return "acct-" + uuid.uuid4().hex[:8]


def register(http: httpx2.Client, **options: Any) -> dict[str, str]:
    response = http.post("/_control/clients", json=options)
    assert response.status_code == 200, response.text
    return dict(response.json())


def counters(http: httpx2.Client) -> dict[str, Any]:
    return dict(http.get("/_control/counters").json())


def token_url(sandbox: ManagedProcess) -> str:
    return f"{sandbox.url}/oauth/token"


def client_credentials(http: httpx2.Client, client: dict[str, str]) -> httpx2.Response:
    return http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
    )


def refresh(http: httpx2.Client, client: dict[str, str], refresh_token: str) -> httpx2.Response:
    return http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(client["client_id"], client["client_secret"]),
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def access_token(http: httpx2.Client) -> str:
    response = client_credentials(http, register(http))
    return str(response.json()["access_token"])


def fault(http: httpx2.Client, **spec: Any) -> None:
    response = http.post("/_control/faults", json=spec)
    assert response.status_code == 200, response.text


def oauth1_auth(http: httpx2.Client, **overrides: str) -> OAuth1Auth:
    keys = {**http.post("/_control/oauth1-keys").json(), **overrides}
    return OAuth1Auth(
        keys["consumer_key"],
        keys["consumer_secret"],
        token=keys["token"],
        token_secret=keys["token_secret"],
        force_include_body=True,
    )


# --- OAuth 2 -------------------------------------------------------------------------------


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_with_both_auth_methods(
    sandbox: ManagedProcess, http: httpx2.Client, auth_method: str
) -> None:
    client = register(http, scope="read write", access_token_lifetime=120)
    assert client["client_secret"].startswith("sbx-")
    assert "refresh_token" not in client
    with OAuth2Client(
        client["client_id"], client["client_secret"], token_endpoint_auth_method=auth_method
    ) as oauth:
        token = oauth.fetch_token(token_url(sandbox), grant_type="client_credentials")
    assert token["access_token"].startswith("sbx-")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 120
    assert token["scope"] == "read write"
    assert "refresh_token" not in token
    ping = http.get("/api/ping", headers=bearer(token["access_token"]))
    assert ping.json() == {"client_id": client["client_id"]}


def test_sentinel_alias_and_expires_in_shapes(http: httpx2.Client) -> None:
    as_string = register(http, expires_in_as_string=True, access_token_lifetime=60)
    omitted = register(http, omit_expires_in=True)
    sentinel = "/sentinel/api/v2/account/123/app/token"
    form = {"grant_type": "client_credentials"}
    first = http.post(sentinel, data={**form, **as_string}).json()
    assert first["expires_in"] == "60"
    second = http.post(sentinel, data={**form, **omitted}).json()
    assert "expires_in" not in second
    assert http.get("/api/ping", headers=bearer(second["access_token"])).status_code == 200


def test_bad_client_credentials_and_grants_are_rejected(http: httpx2.Client) -> None:
    client = register(http)
    wrong = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], "sbx-wrong"),
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    not_allowed = refresh(http, client, "sbx-rt-anything")
    assert (not_allowed.status_code, not_allowed.json()["error"]) == (400, "unauthorized_client")
    scoped = register(http, scope="read")
    too_wide = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "admin"},
        auth=(scoped["client_id"], scoped["client_secret"]),
    )
    assert too_wide.json()["error"] == "invalid_scope"


def test_rotated_secret_replaces_the_old_one(http: httpx2.Client) -> None:
    client = register(http)
    rotated = http.post(f"/_control/clients/{client['client_id']}/rotate-secret").json()
    assert rotated["client_secret"] != client["client_secret"]
    assert client_credentials(http, client).status_code == 401
    assert client_credentials(http, {**client, **rotated}).status_code == 200


def test_refresh_rotates_and_reuse_revokes_the_family(
    sandbox: ManagedProcess, http: httpx2.Client
) -> None:
    client = register(http, grant_types=["refresh_token"])
    seed = client["refresh_token"]
    assert seed.startswith("sbx-")
    before = counters(http)
    with OAuth2Client(client["client_id"], client["client_secret"]) as oauth:
        first = oauth.refresh_token(token_url(sandbox), refresh_token=seed)
        second = oauth.refresh_token(token_url(sandbox), refresh_token=first["refresh_token"])
    assert len({seed, first["refresh_token"], second["refresh_token"]}) == 3
    for token in (first, second):
        assert http.get("/api/ping", headers=bearer(token["access_token"])).status_code == 200

    reused = refresh(http, client, first["refresh_token"])  # already rotated: a replay
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    # The whole family is gone: the newest refresh token and every access token.
    assert refresh(http, client, second["refresh_token"]).json()["error"] == "invalid_grant"
    for token in (first, second):
        assert http.get("/api/ping", headers=bearer(token["access_token"])).status_code == 401
    after = counters(http)
    assert after["reuse_detected"] - before["reuse_detected"] == 1
    assert after["token"]["refresh_token"] - before["token"]["refresh_token"] == 2
    assert after["token"]["errors"] - before["token"]["errors"] == 2


def test_reuse_revokes_only_its_own_family(http: httpx2.Client) -> None:
    client = register(http, grant_types=["refresh_token", "client_credentials"])
    other = register(http, grant_types=["refresh_token"])
    first = refresh(http, client, client["refresh_token"]).json()
    other_first = refresh(http, other, other["refresh_token"]).json()
    standalone = client_credentials(http, client).json()
    assert refresh(http, client, client["refresh_token"]).status_code == 400
    assert http.get("/api/ping", headers=bearer(first["access_token"])).status_code == 401
    assert http.get("/api/ping", headers=bearer(other_first["access_token"])).status_code == 200
    assert http.get("/api/ping", headers=bearer(standalone["access_token"])).status_code == 200


def test_reseeding_starts_a_new_family_after_revocation(http: httpx2.Client) -> None:
    client = register(http, grant_types=["refresh_token"])
    first = refresh(http, client, client["refresh_token"]).json()
    assert refresh(http, client, client["refresh_token"]).status_code == 400  # family revoked
    reseeded = http.post(f"/_control/clients/{client['client_id']}/seed")
    seed = reseeded.json()["refresh_token"]
    assert seed.startswith("sbx-")
    assert refresh(http, client, first["refresh_token"]).status_code == 400
    assert refresh(http, client, seed).status_code == 200
    only_cc = register(http)
    refused = http.post(f"/_control/clients/{only_cc['client_id']}/seed")
    assert refused.status_code == 400
    assert http.post("/_control/clients/nobody/seed").status_code == 404


def test_a_rotated_token_from_another_client_does_not_revoke(http: httpx2.Client) -> None:
    client = register(http, grant_types=["refresh_token"])
    stranger = register(http, grant_types=["refresh_token"])
    first = refresh(http, client, client["refresh_token"]).json()
    assert refresh(http, stranger, client["refresh_token"]).json()["error"] == "invalid_grant"
    assert refresh(http, client, first["refresh_token"]).status_code == 200


async def test_concurrent_refreshes_exactly_one_wins(sandbox: ManagedProcess) -> None:
    async with httpx2.AsyncClient(base_url=sandbox.url, timeout=30) as http:
        clients = [
            (await http.post("/_control/clients", json={"grant_types": ["refresh_token"]})).json()
            for _ in range(21)
        ]

        async def attempt(client: dict[str, str], refresh_token: str) -> httpx2.Response:
            return await http.post(
                "/oauth/token",
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                auth=(client["client_id"], client["client_secret"]),
            )

        shared, *others = clients
        racing = await asyncio.gather(
            *(attempt(shared, shared["refresh_token"]) for _ in range(20))
        )
        statuses = sorted(response.status_code for response in racing)
        assert statuses == [200] + [400] * 19
        assert {r.json()["error"] for r in racing if r.status_code == 400} == {"invalid_grant"}

        separate = await asyncio.gather(*(attempt(c, c["refresh_token"]) for c in others))
        assert [response.status_code for response in separate] == [200] * 20
        new_tokens = {response.json()["refresh_token"] for response in separate}
        assert len(new_tokens) == 20


def test_expire_tokens_makes_access_tokens_answer_401(http: httpx2.Client) -> None:
    client, bystander = register(http), register(http)
    token = client_credentials(http, client).json()["access_token"]
    other = client_credentials(http, bystander).json()["access_token"]
    expired = http.post("/_control/expire-tokens", json={"client_id": client["client_id"]})
    assert expired.json() == {"expired": 1}
    assert http.get("/api/ping", headers=bearer(token)).status_code == 401
    assert http.get("/api/ping", headers=bearer(other)).status_code == 200
    fresh = client_credentials(http, client).json()["access_token"]
    assert http.get("/api/ping", headers=bearer(fresh)).status_code == 200


def test_ping_rejects_missing_and_unknown_bearers(http: httpx2.Client) -> None:
    missing = http.get("/api/ping")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert http.get("/api/ping", headers=bearer("sbx-at-unknown")).status_code == 401


# --- Faults --------------------------------------------------------------------------------


def test_token_faults_are_fifo_and_consumed_per_request(http: httpx2.Client) -> None:
    client = register(http, grant_types=["refresh_token", "client_credentials"])
    scope = {"endpoint": "token", "client_id": client["client_id"]}
    fault(http, **scope, status=429, retry_after=3, count=2)
    fault(http, **scope, status=400, error="invalid_grant")
    fault(http, **scope, status=503)
    before = counters(http)
    throttled = [client_credentials(http, client) for _ in range(2)]
    assert [r.status_code for r in throttled] == [429, 429]
    assert throttled[0].headers["retry-after"] == "3"
    revoked = refresh(http, client, client["refresh_token"])
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")
    assert client_credentials(http, client).status_code == 503
    assert client_credentials(http, client).status_code == 200
    # The injected invalid_grant did not touch the real seed.
    assert refresh(http, client, client["refresh_token"]).status_code == 200
    after = counters(http)
    assert after["token"]["errors"] - before["token"]["errors"] == 4


def test_latency_fault_times_out_a_client(http: httpx2.Client) -> None:
    client = register(http)
    fault(http, endpoint="token", client_id=client["client_id"], latency=2.0)
    with pytest.raises(httpx2.TimeoutException):
        http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=0.5,
        )
    assert client_credentials(http, client).status_code == 200


def test_oauth_client_library_raises_on_injected_invalid_client(
    sandbox: ManagedProcess, http: httpx2.Client
) -> None:
    client = register(http)
    fault(http, endpoint="token", client_id=client["client_id"], status=401, error="invalid_client")
    with (
        OAuth2Client(client["client_id"], client["client_secret"]) as oauth,
        pytest.raises(OAuthError) as raised,
    ):
        oauth.fetch_token(token_url(sandbox), grant_type="client_credentials")
    assert raised.value.error == "invalid_client"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"endpoint": "nope", "status": 500}, "endpoint"),
        ({"endpoint": "token", "status": 200}, "status"),
        ({"endpoint": "token", "status": 500, "count": 0}, "count"),
        ({"endpoint": "token", "latency": -1}, "latency"),
        ({"endpoint": "token", "error": "invalid_grant"}, "status"),
    ],
)
def test_bad_fault_specs_name_the_field(
    http: httpx2.Client, spec: dict[str, Any], field: str
) -> None:
    response = http.post("/_control/faults", json=spec)
    assert response.status_code == 400
    assert f"`{field}`" in response.json()["detail"]


def test_bad_control_input_is_rejected_clearly(http: httpx2.Client) -> None:
    bad_grant = http.post("/_control/clients", json={"grant_types": ["password"]})
    assert bad_grant.status_code == 400
    assert "`grant_types`" in bad_grant.json()["detail"]
    taken = register(http)["client_id"]
    assert http.post("/_control/clients", json={"client_id": taken}).status_code == 409
    not_json = http.post("/_control/clients", content=b"{", headers={"Content-Type": "x"})
    assert not_json.status_code == 400
    bad_status = http.post(
        "/_control/scenario",
        json={"skills": {"1": {"agents": [{"agentId": "a", "currentStatus": "ASLEEP"}]}}},
    )
    assert bad_status.status_code == 400
    assert "skills.1.agents[0].currentStatus" in bad_status.json()["detail"]


# --- OAuth 1 -------------------------------------------------------------------------------


def test_oauth1_json_body_arrives_and_verifies(http: httpx2.Client) -> None:
    auth = oauth1_auth(http)
    body = json.dumps({"skillIds": ["12"]}).encode()
    response = http.post(
        "/oauth1/echo", content=body, headers={"Content-Type": "application/json"}, auth=auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["consumer_key"] == auth.client_id
    assert response.json()["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_oauth1_without_force_include_body_loses_a_json_body(http: httpx2.Client) -> None:
    keys = http.post("/_control/oauth1-keys").json()
    auth = OAuth1Auth(
        keys["consumer_key"],
        keys["consumer_secret"],
        token=keys["token"],
        token_secret=keys["token_secret"],
    )
    body = b'{"skillIds": ["12"]}'
    response = http.post(
        "/oauth1/echo", content=body, headers={"Content-Type": "application/json"}, auth=auth
    )
    assert response.status_code == 200
    assert response.json()["body_sha256"] != hashlib.sha256(body).hexdigest()


def test_oauth1_form_body_is_signed(http: httpx2.Client) -> None:
    auth = oauth1_auth(http)
    signed = next(
        auth.auth_flow(http.build_request("POST", "/oauth1/echo?x=1,2", data={"note": "a b&c"}))
    )
    assert http.send(signed).status_code == 200
    tampered = http.build_request(
        "POST",
        "/oauth1/echo?x=1,2",
        content=b"note=changed",
        headers={
            "Authorization": signed.headers["Authorization"],
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert http.send(tampered).status_code == 401


def test_oauth1_rejects_wrong_secrets_unknown_keys_and_replays(http: httpx2.Client) -> None:
    assert http.post("/oauth1/echo", auth=oauth1_auth(http, consumer_secret="x")).status_code == 401
    assert http.post("/oauth1/echo", auth=oauth1_auth(http, token_secret="x")).status_code == 401
    assert http.post("/oauth1/echo", auth=oauth1_auth(http, consumer_key="abc")).status_code == 401
    missing = http.post("/oauth1/echo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("OAuth")
    signed = next(oauth1_auth(http).auth_flow(http.build_request("POST", "/oauth1/echo")))
    assert http.send(signed).status_code == 200
    assert http.send(signed).status_code == 401  # same nonce and timestamp again


# --- LivePerson ----------------------------------------------------------------------------


def set_scenario(http: httpx2.Client, account: str | None, skills: dict[str, Any]) -> None:
    payload: dict[str, Any] = {"skills": skills}
    if account is not None:
        payload["account_id"] = account
    response = http.post("/_control/scenario", json=payload)
    assert response.status_code == 200, response.text


SKILLS = {
    "12": {
        "agents": [
            {"agentId": "a1", "currentStatus": "ONLINE"},
            {"agentId": 2, "currentStatus": "AWAY"},
        ],
        "wait_p90_ms": 240000,
        "wait_p50_ms": 60000,
    },
    "13": {"agents": [{"agentId": "a1", "currentStatus": "ONLINE"}], "wait_p90_ms": 30000},
    "14": {"agents": [], "wait_p90_ms": -1},
}


def test_csds_points_every_service_at_the_sandbox(
    sandbox: ManagedProcess, http: httpx2.Client, account: str
) -> None:
    base = sandbox.url.removeprefix("http://")
    listed = http.get(f"/api/account/{account}/service/baseURI.json", params={"version": "1.0"})
    uris = {item["service"]: item for item in listed.json()["baseURIs"]}
    for service in ("msgHist", "leDataReporting", "messagingRestApiDomain", "sentinel"):
        assert uris[service] == {"service": service, "account": account, "baseURI": base}
    one = http.get(f"/api/account/{account}/service/msgHist/baseURI.json?version=1.0")
    assert one.json() == {"service": "msgHist", "account": account, "baseURI": base}
    assert http.get(f"/api/account/{account}/service/nope/baseURI.json").status_code == 404


def test_agent_view_status_shape_filters_and_auth(http: httpx2.Client, account: str) -> None:
    set_scenario(http, account, SKILLS)
    path = f"/messaging_history/api/account/{account}/agent-view/status"
    headers = bearer(access_token(http))
    everyone = http.post(path, json={}, headers=headers).json()
    assert everyone["accountID"] == account
    assert everyone["_metadata"]["count"] == 2
    record = next(r for r in everyone["agentStatusRecords"] if r["agentId"] == "a1")
    for name in (
        "agentName",
        "agentLoginName",
        "agentGroupId",
        "currentStatusDuration",
        "load",
        "busySlots",
        "configuredMaxSlots",
        "openAssignedConversations",
        "agentPresence",
        "currentConnectionState",
    ):
        assert name in record
    assert record["currentStatus"] == "ONLINE"
    assert {s["skillId"] for s in record["agentSkills"]} == {"12", "13"}

    by_number = http.post(path, json={"skillIds": [12]}, headers=headers).json()
    by_string = http.post(path, json={"skillIds": ["12"]}, headers=headers).json()
    assert [r["agentId"] for r in by_number["agentStatusRecords"]] == [
        r["agentId"] for r in by_string["agentStatusRecords"]
    ]
    assert by_number["_metadata"]["count"] == 2
    online = http.post(path, json={"skillIds": ["12"], "status": ["ONLINE"]}, headers=headers)
    assert [r["agentId"] for r in online.json()["agentStatusRecords"]] == ["a1"]
    unknown = http.post(path, json={"skillIds": ["999"]}, headers=headers).json()
    assert unknown["agentStatusRecords"] == []

    page = http.post(path, params={"offset": 1, "limit": 1}, json={}, headers=headers).json()
    assert len(page["agentStatusRecords"]) == 1
    assert page["_metadata"]["count"] == 2
    assert http.post(path, params={"limit": 1001}, json={}, headers=headers).status_code == 400

    signed = http.post(path, json={"skillIds": ["13"]}, auth=oauth1_auth(http))
    assert [r["agentId"] for r in signed.json()["agentStatusRecords"]] == ["a1"]
    assert http.post(path, json={}).status_code == 401
    assert http.post(path, json={}, headers=bearer("sbx-at-nope")).status_code == 401


def test_scenario_defaults_to_the_default_account(http: httpx2.Client, account: str) -> None:
    set_scenario(http, None, {"77": {"agents": [{"agentId": "d", "currentStatus": "ONLINE"}]}})
    path = f"/messaging_history/api/account/{account}/agent-view/status"
    records = http.post(path, json={"skillIds": ["77"]}, headers=bearer(access_token(http)))
    assert [r["agentId"] for r in records.json()["agentStatusRecords"]] == ["d"]


def test_queue_health_v1_needs_oauth1(http: httpx2.Client, account: str) -> None:
    set_scenario(http, account, SKILLS)
    path = f"/operations/api/account/{account}/msgqueuehealth/current/"
    params = {"skillIds": "12,13,14,999", "v": "1"}
    answer = http.get(path, params=params, auth=oauth1_auth(http))
    assert answer.status_code == 200, answer.text
    metrics = answer.json()["skillsMetrics"]
    assert set(metrics) == {"12", "13", "14", "999"}
    assert metrics["12"]["waitTimeForAgentAssignment_90thPercentile"] == 240000
    assert metrics["12"]["waitTimeForAgentAssignment_50thPercentile"] == 60000
    for name in (
        "avgWaitTimeForAgentAssignment_NewConversation",
        "maxWaitTimeForAgentAssignment",
        "unassignedConversations",
        "actionableConversations",
    ):
        assert name in metrics["12"]
    for no_data in ("14", "999"):
        assert metrics[no_data]["waitTimeForAgentAssignment_90thPercentile"] == -1
        assert metrics[no_data]["avgWaitTimeForAgentAssignment_NewConversation"] == -1
    total = answer.json()["metricsTotal"]
    assert total["waitTimeForAgentAssignment_90thPercentile"] == 240000
    token = access_token(http)
    assert http.get(path, params=params, headers=bearer(token)).status_code == 401
    everything = http.get(path, params={"v": "1"}, auth=oauth1_auth(http)).json()
    assert set(everything["skillsMetrics"]) == {"12", "13", "14"}


def test_queue_health_v2_needs_a_live_bearer(http: httpx2.Client, account: str) -> None:
    set_scenario(http, account, SKILLS)
    path = f"/operations/api/account/{account}/msgqueuehealth/current/"
    now = int(time.time() * 1000)
    params = {"skillIds": "13", "v": "2", "fromMillis": now - 60000, "toMillis": now}
    client = register(http)
    token = client_credentials(http, client).json()["access_token"]
    answer = http.get(path, params=params, headers=bearer(token))
    assert answer.status_code == 200
    assert (
        answer.json()["skillsMetrics"]["13"]["waitTimeForAgentAssignment_90thPercentile"] == 30000
    )
    assert (
        http.get(path, params={"skillIds": "13", "v": "2"}, headers=bearer(token)).status_code
        == 400
    )
    assert http.get(path, params=params, auth=oauth1_auth(http)).status_code == 401
    http.post("/_control/expire-tokens", json={"client_id": client["client_id"]})
    assert http.get(path, params=params, headers=bearer(token)).status_code == 401
    assert http.get(path, params={"v": "3"}, headers=bearer(token)).status_code == 400


def test_messages_are_recorded_and_deduplicated(http: httpx2.Client, account: str) -> None:
    conversation = "conv-" + uuid.uuid4().hex[:8]
    path = f"/messaging/api/account/{account}/conversations/{conversation}/messages"
    headers = {
        **bearer(access_token(http)),
        "Brand-ID": account,
        "Client-source": "switchboard-tests",
        "Request-ID": uuid.uuid4().hex,
    }
    body = {"dialogId": "d-1", "contentType": "text/plain", "message": "About 4 minutes."}
    before = counters(http)
    first = http.post(path, json=body, headers=headers)
    again = http.post(path, json=body, headers=headers)
    assert first.status_code == 201
    assert first.json()["duplicate"] is False
    assert again.status_code == 200
    assert again.json() == {"messageId": first.json()["messageId"], "duplicate": True}
    recorded = http.get("/_control/messages", params={"conversation_id": conversation}).json()
    assert len(recorded) == 1
    assert recorded[0]["message"] == "About 4 minutes."
    assert recorded[0]["dialog_id"] == "d-1"
    assert recorded[0]["request_id"] == headers["Request-ID"]
    assert recorded[0]["message_id"] == first.json()["messageId"]
    after = counters(http)
    assert after["messages"] - before["messages"] == 2
    assert after["messages_deduplicated"] - before["messages_deduplicated"] == 1

    assert http.post(path, json=body).status_code == 401
    wrong_brand = {**headers, "Brand-ID": "other", "Request-ID": "x"}
    assert http.post(path, json=body, headers=wrong_brand).status_code == 400
    html = {**body, "contentType": "text/html"}
    assert http.post(path, json=html, headers={**headers, "Request-ID": "y"}).status_code == 400


def test_liveperson_faults_are_scoped_to_an_account(http: httpx2.Client, account: str) -> None:
    fault(http, endpoint="queue_health", account_id=account, status=429, retry_after=1)
    fault(http, endpoint="csds", account_id=account, status=503)
    path = f"/operations/api/account/{account}/msgqueuehealth/current/"
    other = f"/operations/api/account/{account}-x/msgqueuehealth/current/"
    auth = oauth1_auth(http)
    assert http.get(other, params={"v": "1"}, auth=auth).status_code == 200
    throttled = http.get(path, params={"v": "1"}, auth=auth)
    assert (throttled.status_code, throttled.headers["retry-after"]) == (429, "1")
    assert http.get(path, params={"v": "1"}, auth=auth).status_code == 200
    csds = f"/api/account/{account}/service/baseURI.json"
    assert http.get(csds).status_code == 503
    assert http.get(csds).status_code == 200


def test_counters_count_each_endpoint(http: httpx2.Client, account: str) -> None:
    before = counters(http)
    http.get(f"/api/account/{account}/service/baseURI.json")
    http.post(f"/messaging_history/api/account/{account}/agent-view/status", json={})
    http.get(f"/operations/api/account/{account}/msgqueuehealth/current/?v=1")
    client_credentials(http, register(http))
    after = counters(http)
    assert after["csds"] - before["csds"] == 1
    assert after["agent_view"] - before["agent_view"] == 1
    assert after["queue_health"] - before["queue_health"] == 1
    assert after["token"]["client_credentials"] - before["token"]["client_credentials"] == 1
