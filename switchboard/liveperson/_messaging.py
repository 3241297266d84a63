"""Messaging REST API (domain ``messagingRestApiDomain``): a brand message into a conversation."""

from __future__ import annotations

from typing import Any

import httpx2

from switchboard._exceptions import UpstreamError
from switchboard.liveperson._adapter import AccountApi, Adapter, json_body, missing
from switchboard.liveperson._models import SentMessage
from switchboard.liveperson._paths import segment

__all__ = ["Messaging"]


class Messaging(AccountApi):
    """Brand messages into a conversation.

    The path is configurable (``LivePersonSettings.messaging_path``): LivePerson's public docs
    do not pin it down.

    https://developers.liveperson.com/messaging-rest-api-overview.html
    """

    service = "messages"

    def __init__(
        self,
        adapter: Adapter,
        *,
        account_id: str,
        scheme: str,
        path_template: str,
        client_source: str,
        auth: httpx2.Auth,
    ) -> None:
        super().__init__(adapter, account_id=account_id, scheme=scheme, auth=auth)
        self._path_template = path_template
        self._client_source = client_source

    async def send_message(
        self, host: str, *, conversation_id: str, dialog_id: str, text: str, request_id: str
    ) -> SentMessage:
        """POST: /messaging/api/account/{accountId}/conversations/{conversationId}/messages

        ``request_id`` goes out as ``Request-ID``: the same id again is answered with the first
        message's id instead of a second message. An answer that says ``"duplicate": true`` is
        a delivered message, whether it comes as 2xx or 409 Conflict and with or without the
        message id; any other 409 is a refusal.
        """
        path = self._path_template.format(
            account_id=segment(self._account_id, name="account_id"),
            conversation_id=segment(conversation_id, name="conversation_id"),
        )
        response = await self._request(
            "POST",
            host,
            path,
            headers={
                "Brand-ID": self._account_id,
                "Client-source": self._client_source,
                "Request-ID": request_id,
            },
            json={"dialogId": dialog_id, "contentType": "text/plain", "message": text},
            accept=_CONFLICT,
        )
        conflict = response.status_code == 409
        body: Any = (
            _json_or_none(response) if conflict else json_body(response, service=self.service)
        )
        answer = body if isinstance(body, dict) else {}
        duplicate = answer.get("duplicate") is True
        message_id = answer.get("messageId")
        if conflict and not duplicate:
            where = f"{self.service}: POST {response.request.url.path}"
            raise UpstreamError(f"{where} answered HTTP 409", service=self.service, status=409)
        if message_id is None and not duplicate:
            raise missing(self.service, "messageId")
        return SentMessage(
            message_id=None if message_id is None else str(message_id), duplicate=duplicate
        )


_CONFLICT = frozenset({409})


def _json_or_none(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
