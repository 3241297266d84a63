"""LivePerson's "Messaging Conversation Routing" event, validated.

LivePerson documents the ids as strings but sends numbers too; both become strings here.
Ids go into URL paths, so they are limited to a safe alphabet and may not be only dots
(``..`` would be a path step): anything else is rejected with an error that names the field
(``events[3].routing.newSkillId: ...``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)

__all__ = [
    "DOTS_ONLY",
    "General",
    "Routing",
    "RoutingEvent",
    "TooManyEvents",
    "describe_validation_error",
    "parse_events",
]

MAX_ID_LENGTH = 128


def _id_to_str(value: Any) -> Any:
    """Accept ``123`` as ``"123"``; leave other types for pydantic to reject by name."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _not_only_dots(value: str) -> str:
    """``.`` and ``..`` are path steps, not names: in a URL they would move the request."""
    if not value.strip("."):
        raise ValueError(DOTS_ONLY)
    return value


DOTS_ONLY = "an id may not be made of dots only"
_ID_PATTERN = r"^[A-Za-z0-9._:~-]+$"
LivePersonId = Annotated[
    str,
    BeforeValidator(_id_to_str),
    StringConstraints(strict=True, pattern=_ID_PATTERN, max_length=MAX_ID_LENGTH),
    AfterValidator(_not_only_dots),
    # the parameter schema (UI form, enforced deployment parameters) takes numbers too
    WithJsonSchema(
        {
            "anyOf": [
                {
                    "type": "string",
                    "pattern": _ID_PATTERN,
                    "maxLength": MAX_ID_LENGTH,
                    "not": {"pattern": r"^\.+$"},
                },
                {"type": "integer"},
            ]
        }
    ),
]


class General(BaseModel):
    """The event's ``general`` section."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    conv_id: LivePersonId = Field(
        alias="convId", title="Conversation id", description="Conversation id."
    )
    dialog_id: LivePersonId = Field(
        alias="dialogId", title="Dialog id", description="Dialog id the message goes to."
    )
    cbot_event_type: str | None = Field(
        default=None,
        alias="cbotEventType",
        title="Event type",
        max_length=200,
        description="LivePerson event type.",
    )
    start_ts: int | None = Field(
        default=None,
        alias="startTs",
        title="Start time",
        ge=0,
        description="Conversation start, epoch milliseconds.",
    )
    in_off_hours: bool | None = Field(
        default=None,
        alias="inOffHours",
        title="In off hours",
        description="Whether the event came outside working hours.",
    )


class Routing(BaseModel):
    """The event's ``routing`` section."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    old_skill_id: LivePersonId | None = Field(
        default=None,
        alias="oldSkillId",
        title="Old skill id",
        description="Skill the conversation came from.",
    )
    new_skill_id: LivePersonId = Field(
        alias="newSkillId",
        title="New skill id",
        description="Skill the conversation was routed to.",
    )


class RoutingEvent(BaseModel):
    """One conversation routed to a skill."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    general: General = Field(description="Conversation and dialog.")
    routing: Routing = Field(description="Old and new skill.")

    @property
    def conversation_id(self) -> str:
        return self.general.conv_id

    @property
    def dialog_id(self) -> str:
        return self.general.dialog_id

    @property
    def skill_id(self) -> str:
        return self.routing.new_skill_id


_EVENTS = TypeAdapter(list[RoutingEvent])


class TooManyEvents(ValueError):
    """More events in one request than allowed (the ingress answers 413, not 422)."""


def parse_events(payload: Any, *, max_events: int | None = None) -> list[RoutingEvent]:
    """Validate one event (a mapping) or a list of them.

    Raises:
        TooManyEvents: more than ``max_events``.
        ValueError: with a message naming the first bad field, e.g. ``events[2].general.convId``.
    """
    items = payload if isinstance(payload, list) else [payload]
    if max_events is not None and len(items) > max_events:
        raise TooManyEvents(
            f"events: {len(items)} events in one request; send at most {max_events}"
        )
    if not items:
        raise ValueError("events: the list is empty; send at least one routing event")
    try:
        return _EVENTS.validate_python(items, by_alias=True)
    except ValidationError as exc:
        raise ValueError(describe_validation_error(exc, prefix="events")) from None


def describe_validation_error(exc: ValidationError, *, prefix: str = "events") -> str:
    """One line naming the first failing field (``events[0].routing.newSkillId: ...``)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    path = prefix
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    extra = f" ({exc.error_count()} errors in all)" if exc.error_count() > 1 else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "string_pattern_mismatch":
        message = f"ids may contain only letters, digits and . _ : ~ - (at most {MAX_ID_LENGTH})"
    return f"{path}: {message}{extra}"
