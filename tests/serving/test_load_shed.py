"""Load shedding: past `max_in_flight` model requests, 503 at once instead of a growing queue."""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from serving.app import LoadShedMiddleware


def test_model_requests_past_the_limit_are_refused_at_once_and_others_pass() -> None:
    release = asyncio.Event()
    entered = 0

    async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal entered
        entered += 1
        if scope["method"] == "POST" and scope["path"] == "/v1/triage":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    shed = LoadShedMiddleware(slow_app, max_in_flight=2)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=shed)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            held = [asyncio.create_task(client.post("/v1/triage", json={})) for _ in range(2)]
            while shed.in_flight < 2:
                await asyncio.sleep(0.001)
            refused = await client.post("/v1/triage", json={})
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert "busy" in refused.json()["detail"]
            # reads and other routes are not limited
            assert (await client.get("/v1/triage")).status_code == 200
            assert (await client.post("/v1/cases/x/decisions", json={})).status_code == 200
            release.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
            assert shed.in_flight == 0
            assert (await client.post("/v1/triage", json={})).status_code == 200

    asyncio.run(scenario())
    assert entered == 5  # the refused request never reached the app
