"""The fake Meta itself: what end-to-end tests rely on it for."""

from __future__ import annotations

import httpx

from cxprism.channels.protocol import WebhookRequest
from cxprism.channels.whatsapp import WhatsAppCloudConnector
from tests.channels.whatsapp.helpers import HOOK_URL, WA_ID, cloud_config
from tests.fixtures.fake_meta import FakeMeta, text_message


async def test_posted_webhooks_verify(fake_meta: FakeMeta) -> None:
    results = []

    def hooks_route(request: httpx.Request) -> httpx.Response:
        webhook = WebhookRequest(method="POST", url=str(request.url),
                                 headers={k.lower(): v for k, v in request.headers.items()},
                                 body=request.read())
        results.append(WhatsAppCloudConnector().handle_webhook(cloud_config(), webhook))
        return httpx.Response(200)

    payload = fake_meta.notification(messages=[text_message(WA_ID, "hello")],
                                     contacts=[(WA_ID, "Ana")])
    async with httpx.AsyncClient(transport=httpx.MockTransport(hooks_route)) as client:
        assert (await fake_meta.post_webhook(client, HOOK_URL, payload)).status_code == 200
    assert [m.text for m in results[0].messages] == ["hello"]


async def test_the_api_validates_like_graph(fake_meta: FakeMeta) -> None:
    url = f"{fake_meta.base_url}/v21.0/{fake_meta.phone_number_id}/messages"
    bearer = {"Authorization": f"Bearer {fake_meta.access_token}"}
    async with httpx.AsyncClient() as http:
        empty = await http.post(url, json={"messaging_product": "whatsapp", "to": WA_ID,
                                           "type": "text", "text": {"body": ""}},
                                headers=bearer)
        unknown = await http.post(url.replace(fake_meta.phone_number_id, "42"), headers=bearer,
                                  json={"messaging_product": "whatsapp", "to": WA_ID,
                                        "type": "text", "text": {"body": "x"}})
        anonymous = await http.post(url, json={})
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, 100)
    assert unknown.status_code == 400
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, 190)
