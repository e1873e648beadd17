"""Finding a message at Twilio after the answer to its send was lost (a worker died).

Twilio's REST API cannot be asked by idempotency key, but its Message list resource can
be filtered by ``To`` and ``From`` and lists messages newest first. A message to the same
recipient, from the same sender, created after the send began, with the same body, is
ours; reaching messages older than that without a match means Twilio never got it, so it
is safe to send. Template sends (Content SIDs) have no body to compare, and a sender
chosen by a Messaging Service is not known in advance: those cannot be matched and stay
``unknown`` for a person to check.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from cxprism.channels.protocol import (
    ANSWER_LOST,
    DeliveryStatus,
    OutboundMessage,
    SendError,
    SendResult,
)
from cxprism.channels.twilio.config import TwilioConfig
from cxprism.channels.twilio.send import API_VERSION, message_form

# Twilio's clock and ours differ a little; a message "created" just before the send
# began (by our clock) is still a candidate.
CLOCK_SKEW = timedelta(minutes=5)
MAX_PAGES = 5
PAGE_SIZE = 50
_STATUS = {"delivered": DeliveryStatus.DELIVERED, "read": DeliveryStatus.READ,
           "failed": DeliveryStatus.FAILED, "undelivered": DeliveryStatus.FAILED}


def _unmatchable(reason: str) -> SendError:
    return SendError(f"cannot look the message up at Twilio: {reason}", transient=False,
                     code=ANSWER_LOST)


async def find_message(config: TwilioConfig, message: OutboundMessage, since: datetime,
                       http: httpx.AsyncClient, *, whatsapp: bool) -> SendResult | None:
    """The message Twilio created for this send, or None when it surely has none."""
    if message.template is not None:
        raise _unmatchable("a template send has no body to compare")
    form = dict(message_form(config, message, whatsapp=whatsapp))
    if "From" not in form:
        raise _unmatchable("a Messaging Service picks the sender")
    query = urlencode({"To": form["To"], "From": form["From"], "PageSize": PAGE_SIZE})
    url = f"{config.api_base}/{API_VERSION}/Accounts/{config.account_sid}/Messages.json?{query}"
    auth = httpx.BasicAuth(config.account_sid, config.auth_token)
    for _ in range(MAX_PAGES):
        response = await http.get(url, auth=auth, headers={"Accept": "application/json"})
        if not response.is_success:
            raise _unmatchable(f"the list answered HTTP {response.status_code}")
        page: dict[str, Any] = response.json()
        found, older = _match(page.get("messages") or [], form.get("Body", ""),
                              since - CLOCK_SKEW)
        if found is not None or older:
            return found
        next_page = page.get("next_page_uri")
        if not next_page:
            return None
        url = f"{config.api_base}{next_page}"
    raise _unmatchable(f"more than {MAX_PAGES * PAGE_SIZE} recent messages to the recipient")


def _match(messages: list[dict[str, Any]], body: str, since: datetime
           ) -> tuple[SendResult | None, bool]:
    """(our message, whether the page reached messages older than ``since``)."""
    for item in messages:
        created = parsedate_to_datetime(str(item.get("date_created")))
        if created < since:
            return None, True
        if item.get("body") == body and isinstance(item.get("sid"), str):
            status = _STATUS.get(str(item.get("status")), DeliveryStatus.SENT)
            return SendResult(external_id=item["sid"], status=status,
                              details={"reconciled": True}), False
    return None, False
