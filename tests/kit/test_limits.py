"""The body-size middleware at the ASGI level: whole bodies pass, partial ones never do."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from cxprism.kit.limits import BodySizeLimit

SCOPE: Scope = {"type": "http", "method": "POST", "path": "/x", "headers": []}


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def feeder(*messages: Message) -> Receive:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0)

    return receive


async def run(limit: int, *messages: Message) -> tuple[Recorder, list[Message]]:
    app = Recorder()
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await BodySizeLimit(app, limit)(SCOPE, feeder(*messages), send)
    return app, sent


async def test_a_body_in_chunks_reaches_the_app_whole() -> None:
    app, sent = await run(100, {"type": "http.request", "body": b"ab", "more_body": True},
                          {"type": "http.request", "body": b"cd", "more_body": False})
    assert app.bodies == [b"abcd"]
    assert sent[0]["status"] == 204


async def test_a_client_disconnecting_mid_body_never_reaches_the_app() -> None:
    app, sent = await run(100, {"type": "http.request", "body": b'{"name": ', "more_body": True},
                          {"type": "http.disconnect"})
    assert app.bodies == []
    assert sent == []


async def test_a_disconnect_before_any_body_never_reaches_the_app() -> None:
    app, sent = await run(100, {"type": "http.disconnect"})
    assert app.bodies == [] and sent == []


async def test_a_body_over_the_limit_is_413_without_the_app() -> None:
    app, sent = await run(3, {"type": "http.request", "body": b"abcd", "more_body": False})
    assert app.bodies == []
    assert sent[0]["status"] == 413
