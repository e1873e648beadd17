"""A WhatsApp Cloud API channel: one business phone number of a Meta app.

``access_token`` (a system user's token) sends; ``app_secret`` signs Meta's webhooks
(``X-Hub-Signature-256``); ``verify_token`` is the string chosen when subscribing the
webhook, echoed in Meta's ``hub.verify_token`` handshake. Secrets are plain ``str`` with
``repr=False`` (see :class:`cxprism.channels.twilio.config.TwilioConfig` for why).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cxprism.channels.whatsapp.fields import E164, ApiBase, pattern

PhoneNumberId = Annotated[str, StringConstraints(strip_whitespace=True),
                          pattern(r"[0-9]{1,32}", "the phone number ID Meta shows (digits)")]
AccessToken = Annotated[str, StringConstraints(strip_whitespace=True),
                        pattern(r"[\x21-\x7e]{16,2048}", "an access token, without spaces")]
AppSecret = Annotated[str, StringConstraints(strip_whitespace=True),
                      pattern(r"[A-Za-z0-9]{16,128}", "the app secret (letters and digits)")]
VerifyToken = Annotated[str, StringConstraints(strip_whitespace=True),
                        pattern(r"[\x21-\x7e]{8,256}",
                                "at least 8 printable characters, without spaces")]
ApiVersion = Annotated[str, StringConstraints(strip_whitespace=True),
                       pattern(r"v[0-9]{1,3}\.[0-9]{1,2}", "a Graph API version such as v21.0")]


class WhatsAppCloudConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number_id: PhoneNumberId
    display_phone_number: E164
    access_token: AccessToken = Field(repr=False)
    app_secret: AppSecret = Field(repr=False)
    verify_token: VerifyToken = Field(repr=False)
    graph_base: ApiBase = "https://graph.facebook.com"
    api_version: ApiVersion = "v21.0"
