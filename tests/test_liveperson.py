"""LivePerson clients against the sandbox simulator, and the routing event model."""

# ruff: noqa: F811  (pytest fixtures imported from test_routing_support)
from __future__ import annotations

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_routing_support import MIN, conv, lp_account, routing_event  # noqa: F401

from switchboard._exceptions import Unauthorized, UpstreamError, UpstreamUnavailable
from switchboard.liveperson import (
    LivePersonClient,
    LivePersonSettings,
    RoutingEvent,
    parse_events,
)
from switchboard.routing import (
    read_availability,
    read_queue_health,
    resolve_domains,
    route_batch,
)


async def test_csds_resolves_every_service_routing_needs(lp_account) -> None:
    before = lp_account.counters()["csds"]
    async with LivePersonClient(lp_account.settings, tokens=lp_account.tokens) as client:
        domains = await resolve_domains(client)
        await resolve_domains(client)  # cached
    host = lp_account.url.removeprefix("http://")
    assert domains.host("msgHist") == host
    assert domains.host("messagingRestApiDomain") == host
    assert lp_account.counters()["csds"] == before + 1
    with pytest.raises(UpstreamError, match="no domain for service 'nope'"):
        domains.host("nope")


async def test_agent_view_pages_and_counts_online_agents(lp_account) -> None:
    lp_account.scenario(
        {"1": (["ONLINE", "AWAY", "OFFLINE"], 1000), "2": (["AWAY"], 1000), "3": ([], 1000)}
    )
    async with LivePersonClient(lp_account.settings, tokens=lp_account.tokens) as client:
        domains = await client.domains.get()
        page = await client.agent_view.list_agent_statuses(
            domains.host("msgHist"), ["1", "2"], offset=0, limit=2
        )
        assert (len(page.records), page.count) == (2, 4)
        assert page.records[0].skill_ids == ("1",)
        availability = await read_availability(client, domains, ["1", "2", "3"])
        with pytest.raises(ValueError, match="limit"):
            await client.agent_view.list_agent_statuses("h", ["1"], limit=1001)
    assert (availability["1"].agents, availability["1"].online) == (3, 1)
    assert (availability["2"].agents, availability["2"].online) == (1, 0)
    assert (availability["3"].agents, availability["3"].online) == (0, 0)


def kmm(lp_account) -> LivePersonSettings:
    """The account with Key Messaging Metrics' agent view as its availability source."""
    return lp_account.settings.model_copy(update={"availability_source": "key_messaging_metrics"})


async def test_key_messaging_metrics_agent_view_counts_online_agents(lp_account) -> None:
    lp_account.scenario(
        {"1": (["ONLINE", "AWAY", "OFFLINE"], 1000), "2": (["AWAY"], 1000), "3": ([], 1000)}
    )
    before = lp_account.counters()["agent_view"]
    async with LivePersonClient(kmm(lp_account), tokens=lp_account.tokens) as client:
        domains = await resolve_domains(client)
        assert client.services[0] == "agentManagerWorkspace"
        availability = await read_availability(client, domains, ["1", "2", "3"])
        page = await client.key_messaging_metrics.list_agent_view(
            domains.host("agentManagerWorkspace"), ["1"], statuses=["ONLINE", "AWAY"]
        )
        with pytest.raises(ValueError, match="offset \\+ limit"):
            await client.key_messaging_metrics.list_agent_view("h", ["1"], offset=1)
    assert lp_account.counters()["agent_view"] == before + 2  # one per lookup, not per skill
    assert (availability["1"].online, availability["2"].online, availability["3"].online) == (
        1,
        0,
        0,
    )
    assert sorted(r.current_status for r in page.records) == ["AWAY", "ONLINE"]
    assert page.records[0].skill_ids == ("1",)  # LivePerson sends skill ids as numbers


@pytest.mark.parametrize("source", ["agent_view", "key_messaging_metrics"])
async def test_either_availability_source_routes_a_batch_alike(lp_account, source: str) -> None:
    lp_account.scenario({"1": (["AWAY"], MIN), "2": (["ONLINE"], 9 * MIN), "3": (["ONLINE"], 0)})
    settings = lp_account.settings.model_copy(update={"availability_source": source})
    events = parse_events([routing_event(conv("src"), skill) for skill in (1, 2, 3)])
    async with LivePersonClient(settings, tokens=lp_account.tokens) as client:
        decisions = await route_batch(client, events)
    assert [d.kind for d in decisions] == ["no_agent", "busy", "no_message"]
    assert decisions[1].message_id is not None


async def test_key_messaging_metrics_cut_at_1000_agents_is_asked_again_in_halves(
    lp_account,
) -> None:
    lp_account.scenario({"1": (["ONLINE"] * 1000, 1000), "2": (["ONLINE"], 1000)})
    before = lp_account.counters()["agent_view"]
    async with LivePersonClient(kmm(lp_account), tokens=lp_account.tokens) as client:
        availability = await read_availability(client, await client.domains.get(), ["1", "2"])
    assert (availability["1"].online, availability["2"].online) == (1000, 1)
    assert lp_account.counters()["agent_view"] == before + 3  # both skills, then each alone


async def test_the_key_messaging_metrics_simulator_refuses_what_liveperson_refuses(
    lp_account,
) -> None:
    token = (await lp_account.tokens.aget(lp_account.client_id)).get_secret_value()
    url = f"{lp_account.url}/manager_workspace/api/account/{lp_account.account_id}/agent_view"
    headers = {"Authorization": f"Bearer {token}"}
    window = {"time": {"from": 1, "to": 2}}
    async with httpx2.AsyncClient(timeout=10) as http:
        no_time = await http.post(url, json={"filters": {}}, headers=headers)
        too_far = await http.post(
            url, params={"offset": 990, "limit": 20}, json={"filters": window}, headers=headers
        )
        unsigned = await http.post(url, json={"filters": window})
    assert (no_time.status_code, too_far.status_code, unsigned.status_code) == (400, 400, 401)
    assert "filters.time" in no_time.text and "offset" in too_far.text


async def test_queue_health_v2_reads_p90_and_no_data(lp_account) -> None:
    lp_account.scenario({"1": (["ONLINE"], 7 * MIN), "2": (["ONLINE"], None)})
    before = lp_account.counters()["queue_health"]
    async with LivePersonClient(lp_account.settings, tokens=lp_account.tokens) as client:
        waits = await read_queue_health(client, await client.domains.get(), ["1", "2", "9"])
    assert waits["1"].p90_ms == 7 * MIN
    assert "2" not in waits or waits["2"].p90_ms is None
    assert "9" not in waits or waits["9"].p90_ms is None
    assert lp_account.counters()["queue_health"] == before + 1


async def test_queue_health_is_kept_per_skill_for_the_cache_seconds(lp_account) -> None:
    lp_account.scenario({"1": (["ONLINE"], 7 * MIN), "2": (["ONLINE"], 2 * MIN)})
    settings = lp_account.settings.model_copy(update={"queue_health_cache_seconds": 60})
    before = lp_account.counters()["queue_health"]
    async with LivePersonClient(settings, tokens=lp_account.tokens) as client:
        domains = await client.domains.get()
        first = await read_queue_health(client, domains, ["1", "9"])
        lp_account.scenario({"1": (["ONLINE"], 1 * MIN), "2": (["ONLINE"], 2 * MIN)})
        second = await read_queue_health(client, domains, ["1", "2", "9"])  # asks for 2 only
    assert first["1"].p90_ms == second["1"].p90_ms == 7 * MIN  # kept, not re-read
    assert second["2"].p90_ms == 2 * MIN and second["9"].p90_ms is None
    assert lp_account.counters()["queue_health"] == before + 2


async def test_queue_health_v1_signs_with_oauth1_keys(lp_account, credential_store) -> None:
    from switchboard._models import OAuth1Keys
    from switchboard.oauth1 import oauth1_auth

    keys = OAuth1Keys.model_validate(lp_account.control("oauth1-keys", {}))
    lp_account.scenario({"1": (["ONLINE"], 3 * MIN)})
    settings = lp_account.settings.model_copy(update={"queue_health_version": 1})
    async with LivePersonClient(settings, tokens=lp_account.tokens, oauth1=oauth1_auth(keys)) as c:
        waits = await read_queue_health(c, await c.domains.get(), ["1"])
    assert waits["1"].p90_ms == 3 * MIN
    wrong = OAuth1Keys.model_validate(
        {**keys.model_dump(mode="json"), "consumer_secret": "sbx-wrong", "consumer_key": "x"}
    )
    async with LivePersonClient(settings, tokens=lp_account.tokens, oauth1=oauth1_auth(wrong)) as c:
        with pytest.raises(Unauthorized, match="queue_health"):
            await read_queue_health(c, await c.domains.get(), ["1"])


async def test_messaging_sends_headers_and_dedupes_on_request_id(lp_account) -> None:
    async with LivePersonClient(lp_account.settings, tokens=lp_account.tokens) as client:
        host = (await client.domains.get()).host("messagingRestApiDomain")
        first = await client.messaging.send_message(
            host, conversation_id="conv-1", dialog_id="dlg-1", text="Hello", request_id="r-1"
        )
        again = await client.messaging.send_message(
            host, conversation_id="conv-1", dialog_id="dlg-1", text="Hello", request_id="r-1"
        )
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.message_id == first.message_id
    [recorded] = lp_account.messages()
    assert recorded["conversation_id"] == "conv-1"
    assert recorded["dialog_id"] == "dlg-1"
    assert recorded["request_id"] == "r-1"
    assert recorded["client_source"] == "switchboard"


async def test_429_is_retried_after_retry_after(lp_account) -> None:
    lp_account.scenario({"1": (["ONLINE"], MIN)})
    lp_account.fault("queue_health", status=429, retry_after=0.2)
    async with LivePersonClient(lp_account.settings, tokens=lp_account.tokens) as client:
        waits = await read_queue_health(client, await client.domains.get(), ["1"])
    assert waits["1"].p90_ms == MIN


async def test_5xx_after_all_attempts_raises_unavailable_not_no_agent(lp_account) -> None:
    lp_account.scenario({"1": (["ONLINE"], MIN)})
    settings = lp_account.settings.model_copy(update={"max_attempts": 2})
    lp_account.fault("agent_view", count=2, status=503)
    async with LivePersonClient(settings, tokens=lp_account.tokens) as client:
        domains = await client.domains.get()
        with pytest.raises(UpstreamUnavailable, match=r"agent_view: POST .* HTTP 503") as caught:
            await read_availability(client, domains, ["1"])
        assert caught.value.status == 503
        assert (await read_availability(client, domains, ["1"]))["1"].online == 1


async def test_expired_bearer_is_invalidated_and_replaced(lp_account) -> None:
    lp_account.scenario({"1": (["ONLINE"], MIN)})
    async with LivePersonClient(lp_account.settings, tokens=lp_account.tokens) as client:
        domains = await client.domains.get()
        await read_queue_health(client, domains, ["1"])
        reads = lp_account.tokens.vault_reads
        lp_account.expire_bearer()
        waits = await read_queue_health(client, domains, ["1"])
    assert waits["1"].p90_ms == MIN
    assert lp_account.tokens.vault_reads > reads  # re-read (and refreshed) once after the 401


async def test_a_bearer_rejected_twice_is_unauthorized(lp_account) -> None:
    class Stale:
        async def aget(self, name):
            return await lp_account.tokens.aget(name)

        def invalidate(self, name, token):
            pass  # keeps handing out the expired token

    async with LivePersonClient(lp_account.settings, tokens=Stale()) as client:
        domains = await client.domains.get()
        lp_account.expire_bearer()
        with pytest.raises(Unauthorized, match="HTTP 401") as caught:
            await read_queue_health(client, domains, ["1"])
    assert "sbx-" not in str(caught.value)


# --- the routing event --------------------------------------------------------------------


def test_ids_as_numbers_become_strings() -> None:
    [event] = parse_events(routing_event("c-1", 42, dialog="7"))
    assert (event.conversation_id, event.dialog_id, event.skill_id) == ("c-1", "7", "42")
    assert event.routing.old_skill_id == "-1"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"general": {"dialogId": "d"}, "routing": {"newSkillId": "1"}},
            "events[0].general.convId",
        ),
        (
            {"general": {"convId": "c"}, "routing": {"newSkillId": "1"}},
            "events[0].general.dialogId",
        ),
        (
            {"general": {"convId": "c", "dialogId": "d"}, "routing": {}},
            "events[0].routing.newSkillId",
        ),
        ({"general": {"convId": "c", "dialogId": "d"}}, "events[0].routing"),
        (routing_event("c", True), "events[0].routing.newSkillId"),
        (routing_event("c", 1.5), "events[0].routing.newSkillId"),
        (routing_event("c/../x", "1"), "events[0].general.convId"),
        (routing_event("..", "1"), "events[0].general.convId"),
        (routing_event(".", "1"), "events[0].general.convId"),
        (routing_event("c", "1", dialog="..."), "events[0].general.dialogId"),
        (routing_event("c", ".."), "events[0].routing.newSkillId"),
        (routing_event("ç", "1"), "events[0].general.convId"),
        ([routing_event("c", 1), "nope"], "events[1]"),
        (
            {**routing_event("c", 1), "general": {"convId": "c", "dialogId": "d", "startTs": "x"}},
            "events[0].general.startTs",
        ),
    ],
)
def test_bad_events_name_the_field(payload, field) -> None:
    with pytest.raises(ValueError) as caught:
        parse_events(payload)
    assert str(caught.value).startswith(f"{field}: ")


def test_an_id_of_dots_is_named_as_such() -> None:
    with pytest.raises(ValueError) as caught:
        parse_events(routing_event("..", "1"))
    assert str(caught.value) == "events[0].general.convId: an id may not be made of dots only"


@pytest.mark.parametrize("conversation", ["..", ".", "...", "%2e%2e", "a.b"])
async def test_no_conversation_id_can_move_the_messaging_url(lp_account, conversation) -> None:
    """Ids the event model refuses still cannot change the path if they reach the client."""
    async with LivePersonClient(lp_account.settings, tokens=lp_account.tokens) as client:
        host = (await client.domains.get()).host("messagingRestApiDomain")
        try:
            await client.messaging.send_message(
                host, conversation_id=conversation, dialog_id="d", text="Hi", request_id="r-dots"
            )
        except ValueError as exc:
            assert "conversation_id" in str(exc) and set(conversation) == {"."}
            return
    [recorded] = lp_account.messages()  # one segment, whatever it held
    assert recorded["conversation_id"] == conversation


def test_each_id_is_one_quoted_path_segment() -> None:
    from switchboard.liveperson._paths import account_path, segment

    assert segment("a/b?c#d e", name="x") == "a%2Fb%3Fc%23d%20e"
    assert segment("%2e%2e", name="x") == "%252e%252e"
    for dots in ("", ".", "..", "...."):
        with pytest.raises(ValueError, match="conversation_id"):
            segment(dots, name="conversation_id")
    assert account_path("/api", "1/..", "/x") == "/api/account/1%2F../x"


def test_empty_and_oversized_batches_are_refused() -> None:
    with pytest.raises(ValueError, match="events: the list is empty"):
        parse_events([])
    with pytest.raises(ValueError, match="at most 2"):
        parse_events([routing_event("a", 1)] * 3, max_events=2)


def test_settings_refuse_v1_without_keys_and_bad_paths() -> None:
    with pytest.raises(ValueError, match="SWITCHBOARD_LP_OAUTH1_KEYS"):
        LivePersonSettings(account_id="1", queue_health_version=1)
    with pytest.raises(ValueError, match="conversation_id"):
        LivePersonSettings(account_id="1", messaging_path="/messages/{account_id}")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    conv=json_values,
    skill=json_values,
    drop=st.sampled_from(["convId", "dialogId", "newSkillId", None]),
)
def test_any_payload_parses_or_names_a_field(conv, skill, drop) -> None:
    payload = routing_event("c", 1)
    payload["general"]["convId"] = conv
    payload["routing"]["newSkillId"] = skill
    if drop:
        section = "routing" if drop == "newSkillId" else "general"
        del payload[section][drop]
    try:
        [event] = parse_events(payload)
    except ValueError as exc:
        assert str(exc).startswith("events[0].")
        assert any(name in str(exc) for name in ("convId", "dialogId", "newSkillId"))
    else:
        assert isinstance(event, RoutingEvent)
        assert event.conversation_id.isascii() and event.skill_id.isascii()


async def test_a_non_json_answer_is_an_outage_not_a_crash(lp_account) -> None:
    """A proxy's HTML maintenance page with status 200 must not surface as a ValueError."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class MaintenancePage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>down for maintenance</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), MaintenancePage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = lp_account.settings.model_copy(
            update={"csds_host": f"127.0.0.1:{server.server_address[1]}"}
        )
        async with LivePersonClient(settings, tokens=lp_account.tokens) as client:
            with pytest.raises(UpstreamUnavailable, match="not JSON"):
                await resolve_domains(client)
    finally:
        server.shutdown()
        server.server_close()
