"""The API's guard in front of LitServe's queues, on an app that stands in for the queue."""

import asyncio
import base64
import json

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from flows.api import Guard, check_port
from tasks.common.serving import ApiParams, Rejected, rejected

ROUTE = "/v1/text/classify"


def guarded(app, **params) -> tuple[Guard, CollectorRegistry]:
    registry = CollectorRegistry()
    guard = Guard(
        app,
        routes={ROUTE: "text"},
        api=ApiParams(**params),
        requests=Counter("requests", "", ["domain", "status"], registry=registry),
        latency=Histogram("latency", "", ["domain"], registry=registry),
    )
    return guard, registry


async def echo(scope, receive, send) -> None:
    """Answers with the body and content type it was given."""
    message = await receive()
    kind = dict(scope["headers"])[b"content-type"]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-type", kind)]})
    await send({"type": "http.response.body", "body": message["body"]})


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def test_a_full_queue_answers_429_and_frees_its_place():
    release = asyncio.Event()

    async def slow(scope, receive, send):
        await release.wait()
        await echo(scope, receive, send)

    guard, registry = guarded(slow, max_queue=2)

    async def run():
        async with client(guard) as http:
            waiting = [asyncio.create_task(http.post(ROUTE, json={"n": i})) for i in range(2)]
            await asyncio.sleep(0.1)
            refused = await http.post(ROUTE, json={"n": 3})
            release.set()
            done = await asyncio.gather(*waiting)
            again = await http.post(ROUTE, json={"n": 4})
            return refused, done, again

    refused, done, again = asyncio.run(run())
    assert refused.status_code == 429
    assert refused.json() == {"detail": "text: api.max_queue requests in flight"}
    assert [d.status_code for d in done] == [200, 200]
    assert again.status_code == 200
    assert registry.get_sample_value("requests_total", {"domain": "text", "status": "429"}) == 1


def test_a_slow_answer_is_a_504():
    async def stuck(scope, receive, send):
        await asyncio.sleep(5)

    guard, _ = guarded(stuck, timeout=0.2)

    async def run():
        async with client(guard) as http:
            return await http.post(ROUTE, json={})

    answer = asyncio.run(run())
    assert answer.status_code == 504
    assert "api.timeout (0.2 s)" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "detail"),
    [
        ({"content": b"{nope"}, 400, "malformed JSON"),
        ({"content": b"x" * 101}, 413, "over api.max_body_bytes"),
    ],
)
def test_bodies_are_checked_before_the_queue(request_kwargs, status, detail):
    guard, _ = guarded(echo, max_body_bytes=100)

    async def run():
        async with client(guard) as http:
            return await http.post(ROUTE, **request_kwargs)

    answer = asyncio.run(run())
    assert answer.status_code == status
    assert detail in answer.json()["detail"]


def test_multipart_files_arrive_as_the_json_form():
    guard, _ = guarded(echo)

    async def run():
        async with client(guard) as http:
            files = [("images", ("a.png", b"\x89PNG one")), ("images", ("b.dcm", b"two"))]
            return await http.post(ROUTE, files=files, data={"k": "3"})

    answer = asyncio.run(run())
    assert answer.headers["x-type"] == "application/json"
    assert json.loads(answer.content) == {
        "images": [
            {"name": "a.png", "data": base64.b64encode(b"\x89PNG one").decode()},
            {"name": "b.dcm", "data": base64.b64encode(b"two").decode()},
        ],
        "k": "3",
    }


def test_other_paths_pass_untouched():
    guard, _ = guarded(echo, max_body_bytes=1)

    async def run():
        async with client(guard) as http:
            return await http.post(
                "/elsewhere", content=b"not json at all", headers={"content-type": "text/plain"}
            )

    answer = asyncio.run(run())
    assert answer.status_code == 200
    assert answer.headers["x-type"] == "text/plain"


def test_errors_become_one_status_each():
    from pydantic import BaseModel, ValidationError

    from tasks.common.errors import InputError, TooLarge

    class Body(BaseModel):
        texts: list[str]

    with pytest.raises(ValidationError) as caught:
        Body.model_validate({"texts": [1]})
    assert rejected(caught.value) == Rejected(422, "texts.0: Input should be a valid string")
    assert rejected(TooLarge("big")) == Rejected(413, "big")
    assert rejected(InputError("bad")) == Rejected(422, "bad")


def test_a_taken_port_is_one_line_before_anything_loads():
    import socket

    from tasks.common.errors import InputError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError, match=rf"--port {port}: Address already in use"):
            check_port("127.0.0.1", port)
    with pytest.raises(InputError, match="--port 80: choose one from 1024 to 65535"):
        check_port("127.0.0.1", 80)
