"""The LivePerson simulator: CSDS, both agent views, queue health and the messaging endpoint.

Shapes follow ``shared/reference/liveperson-api.md``; every CSDS baseURI points back at
this sandbox. Auth is real: sandbox-issued bearers (expired or revoked answer 401) and
OAuth 1 signatures verified with oauthlib.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.oauth1_verifier import OAUTH1_CHALLENGE, OAuth1Verifier
from sandbox.oauth2_server import TokenStore
from sandbox.scenario import DEFAULT_ACCOUNT, AgentRecord, Scenario, queue_metrics
from sandbox.state import BEARER_CHALLENGE, Counters, Faults, bad_request, unauthorized

__all__ = ["CSDS_SERVICES", "LivePersonSimulator", "LivePersonState"]

#: Service names CSDS knows; each resolves to this sandbox.
CSDS_SERVICES = (
    "msgHist",
    "agentManagerWorkspace",
    "leDataReporting",
    "asyncMessagingEnt",
    "sentinel",
    "agentVep",
    "messagingRestApiDomain",
    "msgEwtAPI",
    "accountConfigReadOnly",
    "accountConfigReadWrite",
)
_MAX_LIMIT = 1000
_KMM_MAX_RESULTS = 1000
_KMM_DEFAULT_STATUSES = frozenset({"ONLINE", "BACK_SOON", "AWAY"})
"""Key Messaging Metrics' agent view without ``effectiveAgentStatus``: logged-in agents only."""
_SKILL_ID = re.compile(r"-?[0-9]+")
"""LivePerson skill ids are numbers; anything else is a 400, as a strict server answers."""


@dataclass
class LivePersonState:
    """Scenarios per account and the messages posted into conversations."""

    scenarios: dict[str, Scenario] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    by_request_id: dict[tuple[str, str], str] = field(default_factory=dict)
    refused: dict[tuple[str, str], int] = field(default_factory=dict)
    """(account, conversation) → the status every message into it is answered with."""
    duplicate_status: dict[str, int] = field(default_factory=dict)
    """account → status of a repeated Request-ID's answer (default 200)."""

    def scenario(self, account_id: str) -> Scenario:
        found = self.scenarios.get(account_id) or self.scenarios.get(DEFAULT_ACCOUNT)
        return found or Scenario.build({})

    def clear(self) -> None:
        self.scenarios.clear()
        self.messages.clear()
        self.by_request_id.clear()
        self.refused.clear()
        self.duplicate_status.clear()


def _query_int(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"query parameter `{name}` must be an integer, got {raw!r}") from None


def _skill_ids(ids: set[str] | list[str] | None, name: str) -> None:
    bad = sorted(i for i in ids or () if not _SKILL_ID.fullmatch(i))
    if bad:
        raise ValueError(f"`{name}` must be numeric skill ids, got {bad[:3]}")


def _id_list(value: Any, name: str) -> set[str] | None:
    """A body filter of ids (strings or numbers) as strings; missing or empty = no filter."""
    if value is None or value == []:
        return None
    if not isinstance(value, list) or any(isinstance(item, bool | dict | list) for item in value):
        raise ValueError(f"`{name}` must be a list of ids (strings or numbers)")
    return {str(item) for item in value}


class LivePersonSimulator:
    """Routes for the LivePerson APIs the routing flow calls."""

    def __init__(
        self,
        state: LivePersonState,
        tokens: TokenStore,
        oauth1: OAuth1Verifier,
        faults: Faults,
        counters: Counters,
    ) -> None:
        self.state = state
        self.tokens = tokens
        self.oauth1 = oauth1
        self.faults = faults
        self.counters = counters

    def routes(self) -> list[Route]:
        account = "/api/account/{account_id}"
        return [
            Route(f"{account}/service/baseURI.json", self.csds_all, methods=["GET"]),
            Route(f"{account}/service/{{service}}/baseURI.json", self.csds_one, methods=["GET"]),
            Route(
                f"/messaging_history{account}/agent-view/status",
                self.agent_view,
                methods=["POST"],
            ),
            Route(
                f"/manager_workspace{account}/agent_view",
                self.kmm_agent_view,
                methods=["POST"],
            ),
            Route(
                f"/operations{account}/msgqueuehealth/current/",
                self.queue_health,
                methods=["GET"],
            ),
            Route(
                f"/operations{account}/msgqueuehealth/current",
                self.queue_health,
                methods=["GET"],
            ),
            Route(
                "/messaging/api/account/{account_id}/conversations/{conversation_id}/messages",
                self.post_message,
                methods=["POST"],
            ),
            Route("/_control/messaging", self.control_messaging, methods=["POST"]),
        ]

    async def control_messaging(self, request: Request) -> Response:
        """POST /_control/messaging ``{"account_id", "refuse"?: {conv: status},
        "duplicate_status"?: 200 | 409}``: conversations that refuse every message (as a closed
        one does), and how a repeated Request-ID is answered."""
        try:
            body = json.loads(await request.body())
            account_id = body["account_id"]
            refuse = body.get("refuse", {})
            duplicate = body.get("duplicate_status")
            if not isinstance(account_id, str) or not isinstance(refuse, dict):
                raise ValueError
            if any(not isinstance(v, int) or not 400 <= v <= 499 for v in refuse.values()):
                raise ValueError
            if duplicate not in (None, 200, 409):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return bad_request(
                '`account_id` (string), `refuse` ({"<conversation>": 4xx}) and '
                "`duplicate_status` (200 or 409) expected"
            )
        for conversation, status in refuse.items():
            self.state.refused[(account_id, str(conversation))] = status
        if duplicate is not None:
            self.state.duplicate_status[account_id] = duplicate
        return JSONResponse({"refused": len(refuse)})

    def _base_uri(self, request: Request) -> str:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        return f"127.0.0.1:{server[1]}"

    async def csds_all(self, request: Request) -> Response:
        """GET /api/account/{account_id}/service/baseURI.json?version=1.0"""
        self.counters.csds += 1
        account_id = request.path_params["account_id"]
        if (injected := await self.faults.apply("csds", account_id)) is not None:
            return injected
        base = self._base_uri(request)
        return JSONResponse(
            {
                "baseURIs": [
                    {"service": name, "account": account_id, "baseURI": base}
                    for name in CSDS_SERVICES
                ]
            }
        )

    async def csds_one(self, request: Request) -> Response:
        """GET /api/account/{account_id}/service/{service}/baseURI.json?version=1.0"""
        self.counters.csds += 1
        account_id, service = request.path_params["account_id"], request.path_params["service"]
        if (injected := await self.faults.apply("csds", account_id)) is not None:
            return injected
        if service not in CSDS_SERVICES:
            return JSONResponse(
                {"error": "not_found", "detail": f"unknown service {service!r}"}, status_code=404
            )
        return JSONResponse(
            {"service": service, "account": account_id, "baseURI": self._base_uri(request)}
        )

    async def agent_view(self, request: Request) -> Response:
        """POST /messaging_history/api/account/{account_id}/agent-view/status (bearer or OAuth 1)"""
        self.counters.agent_view += 1
        account_id = request.path_params["account_id"]
        if (injected := await self.faults.apply("agent_view", account_id)) is not None:
            return injected
        body = await request.body()
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("OAuth "):
            if self.oauth1.verify(request, body) is None:
                return unauthorized(OAUTH1_CHALLENGE)
        elif self.tokens.bearer_client(authorization) is None:
            return unauthorized(BEARER_CHALLENGE)
        try:
            filters = json.loads(body) if body.strip() else {}
            if not isinstance(filters, dict):
                raise ValueError("the body must be a JSON object of filters")
            offset = _query_int(request, "offset", 0) or 0
            limit = _query_int(request, "limit", 50) or 50
            if not 0 < limit <= _MAX_LIMIT or offset < 0:
                raise ValueError(f"`limit` must be 1..{_MAX_LIMIT} and `offset` >= 0")
            skills = _id_list(filters.get("skillIds"), "skillIds")
            _skill_ids(skills, "skillIds")
            agents = _id_list(filters.get("agentIds"), "agentIds")
            statuses = filters.get("status", filters.get("Status"))
            if isinstance(statuses, str):
                statuses = [statuses]
            wanted_status = _id_list(statuses, "status")
        except ValueError as error:
            return bad_request(str(error))
        scenario = self.state.scenario(account_id)
        present = filters.get("agentPresence", True) is not False
        matched = [
            record
            for record in scenario.agents
            if present
            and (skills is None or not skills.isdisjoint(record.skill_ids))
            and (agents is None or record.agent_id in agents)
            and (wanted_status is None or record.status in wanted_status)
        ]
        page = matched[offset : offset + limit]
        metadata: dict[str, Any] = {
            "count": len(matched),
            "self": {"rel": "self", "href": str(request.url)},
            "shardsStatusResult": {"partialResult": False},
        }
        if offset + limit < len(matched):
            next_url = request.url.include_query_params(offset=offset + limit, limit=limit)
            metadata["next"] = {"rel": "next", "href": str(next_url)}
        return JSONResponse(
            {
                "_metadata": metadata,
                "accountID": account_id,
                "agentStatusRecords": [record.render(scenario.since_ms) for record in page],
            }
        )

    async def kmm_agent_view(self, request: Request) -> Response:
        """POST /manager_workspace/api/account/{account_id}/agent_view (bearer): Key Messaging
        Metrics' agent view; shares agent-view's counter and faults (one availability lookup)."""
        self.counters.agent_view += 1
        account_id = request.path_params["account_id"]
        if (injected := await self.faults.apply("agent_view", account_id)) is not None:
            return injected
        if self.tokens.bearer_client(request.headers.get("authorization")) is None:
            return unauthorized(BEARER_CHALLENGE)
        try:
            query = _kmm_query(await request.body())
            offset = _query_int(request, "offset", 0) or 0
            limit = _query_int(request, "limit", 50) or 50
            if limit < 1 or offset < 0 or offset + limit > _KMM_MAX_RESULTS:
                raise ValueError(f"`offset` + `limit` must be 1..{_KMM_MAX_RESULTS}")
        except ValueError as error:
            return bad_request(str(error))
        skills, agents, statuses = query
        scenario = self.state.scenario(account_id)
        matched = [
            record
            for record in scenario.agents
            if (skills is None or not skills.isdisjoint(record.skill_ids))
            and (agents is None or record.agent_id in agents)
            and record.status in statuses
        ]
        visible = matched[:_KMM_MAX_RESULTS]
        metadata: dict[str, Any] = {
            "count": len(matched),
            "self": {"rel": "self", "href": str(request.url)},
        }
        if offset + limit < len(visible):
            next_url = request.url.include_query_params(offset=offset + limit, limit=limit)
            metadata["next"] = {"rel": "next", "href": str(next_url)}
        return JSONResponse(
            {
                "metadata": metadata,
                "agentViewRecords": [
                    _kmm_record(record, scenario.since_ms)
                    for record in visible[offset : offset + limit]
                ],
            }
        )

    async def queue_health(self, request: Request) -> Response:
        """GET /operations/api/account/{account_id}/msgqueuehealth/current/?skillIds=..&v=1|2"""
        self.counters.queue_health += 1
        account_id = request.path_params["account_id"]
        if (injected := await self.faults.apply("queue_health", account_id)) is not None:
            return injected
        version = request.query_params.get("v")
        if version not in ("1", "2"):
            return bad_request(f"query parameter `v` must be 1 or 2, got {version!r}")
        if version == "1":
            if self.oauth1.verify(request, await request.body()) is None:
                return unauthorized(OAUTH1_CHALLENGE)
        else:
            if self.tokens.bearer_client(request.headers.get("authorization")) is None:
                return unauthorized(BEARER_CHALLENGE)
            try:
                from_ms = _query_int(request, "fromMillis")
                to_ms = _query_int(request, "toMillis")
            except ValueError as error:
                return bad_request(str(error))
            if from_ms is None or to_ms is None or from_ms > to_ms:
                return bad_request(
                    "v=2 needs integer `fromMillis` <= `toMillis` (epoch milliseconds)"
                )
        raw = request.query_params.get("skillIds", "")
        skill_ids = None if raw in ("", "all") else [s.strip() for s in raw.split(",") if s.strip()]
        try:
            _skill_ids(skill_ids, "skillIds")
        except ValueError as error:
            return bad_request(str(error))
        return JSONResponse(queue_metrics(self.state.scenario(account_id), skill_ids))

    async def post_message(self, request: Request) -> Response:
        """POST /messaging/api/account/{account_id}/conversations/{conversation_id}/messages"""
        self.counters.messages += 1
        account_id = request.path_params["account_id"]
        if (injected := await self.faults.apply("messages", account_id)) is not None:
            return injected
        if self.tokens.bearer_client(request.headers.get("authorization")) is None:
            return unauthorized(BEARER_CHALLENGE)
        brand_id = request.headers.get("brand-id")
        if brand_id != account_id:
            return bad_request(f"header `Brand-ID` must be the account id {account_id!r}")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return bad_request("the body must be JSON: {dialogId, contentType, message}")
        if not isinstance(body, dict):
            return bad_request("the body must be a JSON object: {dialogId, contentType, message}")
        dialog_id, message = body.get("dialogId"), body.get("message")
        if not isinstance(dialog_id, str) or not dialog_id:
            return bad_request("`dialogId` must be a non-empty string")
        if body.get("contentType") != "text/plain":
            return bad_request('`contentType` must be "text/plain"')
        if not isinstance(message, str) or not message:
            return bad_request("`message` must be a non-empty string")
        conversation_id = request.path_params["conversation_id"]
        if (status := self.state.refused.get((account_id, conversation_id))) is not None:
            return bad_request(f"conversation {conversation_id!r} refuses messages", status)
        request_id = request.headers.get("request-id")
        if request_id and (account_id, request_id) in self.state.by_request_id:
            self.counters.messages_deduplicated += 1
            message_id = self.state.by_request_id[(account_id, request_id)]
            status = self.state.duplicate_status.get(account_id, 200)
            return JSONResponse({"messageId": message_id, "duplicate": True}, status_code=status)
        message_id = str(uuid.uuid4())
        if request_id:
            self.state.by_request_id[(account_id, request_id)] = message_id
        self.state.messages.append(
            {
                "account_id": account_id,
                "conversation_id": conversation_id,
                "dialog_id": dialog_id,
                "message": message,
                "request_id": request_id,
                "message_id": message_id,
                "client_source": request.headers.get("client-source"),
                "received_at": time.time(),  # epoch seconds: the bench's event-to-message latency
            }
        )
        return JSONResponse({"messageId": message_id, "duplicate": False}, status_code=201)


def _kmm_query(raw: bytes) -> tuple[set[str] | None, set[str] | None, set[str]]:
    """The skill, agent and status filters of a KMM agent-view body; ``ValueError`` naming the
    field when it is not the documented shape (``filters.time`` is required)."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValueError("the body must be JSON with `filters`") from None
    filters = body.get("filters") if isinstance(body, dict) else None
    if not isinstance(filters, dict):
        raise ValueError("`filters` is required and must be an object")
    window = filters.get("time")
    start, end = (window.get("from"), window.get("to")) if isinstance(window, dict) else (0, 0)
    if (
        not isinstance(window, dict)
        or type(start) is not int
        or type(end) is not int
        or start > end
    ):
        raise ValueError("`filters.time` needs integer `from` <= `to` (epoch milliseconds)")
    skills = _id_list(filters.get("agentSkillIds"), "filters.agentSkillIds")
    _skill_ids(skills, "filters.agentSkillIds")
    agents = _id_list(filters.get("agentIds"), "filters.agentIds")
    statuses = _id_list(filters.get("effectiveAgentStatus"), "filters.effectiveAgentStatus")
    return skills, agents, statuses or set(_KMM_DEFAULT_STATUSES)


def _kmm_record(record: AgentRecord, since_ms: int) -> dict[str, Any]:
    """One ``agentViewRecords`` item: status at the top, skills (numbers) in the metadata."""
    return {
        "agentId": record.agent_id,
        "agentGroupId": -1,
        "agentCurrentStatus": record.status,
        "agentCurrentStatusStartTime": since_ms,
        "agentCurrentStatusReasonId": "NA",
        "activeConversations": 0,
        "assignedConversations": 0,
        "agentLoad": 0.0,
        "agentMetadata": {
            "agentName": f"Agent {record.agent_id}",
            "agentLoginName": f"agent{record.agent_id}@sandbox.invalid",
            "agentGroupName": "Main Group",
            "configuredMaxSlots": 5,
            "agentSkills": [
                {"skillId": int(skill), "skillName": f"Skill {skill}"} for skill in record.skill_ids
            ],
        },
    }
