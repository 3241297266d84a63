"""The sandbox's plain functions, called directly."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest

from sandbox.control import parse_client
from sandbox.profiles import PROFILES, present_error
from sandbox.scenario import parse_scenario, queue_metrics
from sandbox.state import Fault, Faults, parse_fault


def test_faults_are_fifo_counted_and_scoped() -> None:
    faults = Faults()
    faults.add("token", Fault(status=500), 2)
    faults.add("token", Fault(status=429), 1)
    faults.add("token", Fault(status=401, error="invalid_client"), 1, scope="mine")
    assert faults.take("csds") is None
    assert faults.take("token", "mine") == Fault(status=401, error="invalid_client")
    assert [faults.take("token", "mine") for _ in range(3)] == [
        Fault(status=500),
        Fault(status=500),
        Fault(status=429),
    ]
    assert faults.take("token") is None
    assert faults.pending() == {}


def test_parse_fault_reads_every_field() -> None:
    spec = {"endpoint": "messages", "status": 429, "retry_after": 2, "latency": 0.5, "count": 3}
    endpoint, fault, count, scope = parse_fault({**spec, "account_id": "42"})
    assert (endpoint, count, scope) == ("messages", 3, "42")
    assert fault == Fault(status=429, retry_after=2.0, latency=0.5)
    with pytest.raises(ValueError, match="`retry_after`"):
        parse_fault({"endpoint": "token", "status": 429, "retry_after": "soon"})


def test_scenario_merges_agents_across_skills() -> None:
    account, scenario = parse_scenario(
        {
            "account_id": 42,
            "skills": {
                "1": {"agents": [{"agentId": 7}], "wait_p90_ms": 1000},
                "2": {"agents": [{"agentId": "7", "currentStatus": "AWAY"}]},
            },
        }
    )
    assert account == "42"
    [agent] = scenario.agents
    assert (agent.agent_id, agent.status, agent.skill_ids) == ("7", "AWAY", ["1", "2"])
    assert scenario.skills["1"].wait_p50_ms == 500
    assert scenario.skills["2"].wait_p90_ms == -1


def test_queue_metrics_totals_sum_counts_and_take_longest_waits() -> None:
    _, scenario = parse_scenario(
        {
            "skills": {
                "1": {"wait_p90_ms": 1000, "wait_p50_ms": 400, "unassigned": 2},
                "2": {"wait_p90_ms": 3000, "unassigned": 5},
            }
        }
    )
    answer = queue_metrics(scenario, ["1", "2", "9"])
    assert answer["skillsMetrics"]["9"]["waitTimeForAgentAssignment_90thPercentile"] == -1
    total = answer["metricsTotal"]
    assert total["unassignedConversations"] == 7
    assert total["waitTimeForAgentAssignment_90thPercentile"] == 3000
    assert total["waitTimeForAgentAssignment_50thPercentile"] == 1500
    empty = queue_metrics(parse_scenario({})[1], None)
    assert empty["skillsMetrics"] == {}
    assert empty["metricsTotal"]["waitTimeForAgentAssignment_90thPercentile"] == -1


def test_profiles_present_errors_as_their_providers_do() -> None:
    github, dot, salesforce = (
        PROFILES[n] for n in ("github", "django_oauth_toolkit", "salesforce")
    )
    basic = {"WWW-Authenticate": 'Basic error="invalid_client"'}
    body = {"error": "invalid_grant"}
    assert present_error(github, 400, body, {}) == (200, {"error": "bad_refresh_token"}, {})
    status, _, headers = present_error(dot, 400, {"error": "invalid_client"}, {})
    assert (status, headers) == (401, {"WWW-Authenticate": 'Bearer error="invalid_client"'})
    assert present_error(salesforce, 401, {"error": "invalid_client"}, basic)[::2] == (400, {})
    assert present_error(PROFILES["strict"], 401, {"error": "invalid_client"}, basic)[2] == basic


def test_a_date_profile_sends_retry_after_as_an_http_date() -> None:
    _, _, headers = present_error(PROFILES["retry_after_date"], 429, {}, {"retry-after": "120"})
    when = parsedate_to_datetime(headers["Retry-After"])
    assert 110 <= (when - datetime.now(UTC)).total_seconds() <= 121


def test_profiles_fold_in_the_older_per_client_flags() -> None:
    client = parse_client({"profile": "zendesk", "expires_in_as_string": True})
    assert (client.profile.expires_in, client.profile.token_type) == ("string", "bearer")
    assert parse_client({}).profile is PROFILES["strict"]
    with pytest.raises(ValueError, match="github"):
        parse_client({"profile": "gitlab"})
