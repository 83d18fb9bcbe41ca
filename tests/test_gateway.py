"""The gateway: sessions and /v1 forwarded to a real upstream (another server on loopback)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from nbchat.errors import ConfigurationError
from nbchat.server import DemoModel, ServerStats, UpstreamModel, create_app
from nbchat.server.upstream import DEFAULT_KEY_ENV
from tests.conftest import FaultServer
from tests.net import free_port
from tests.server_fixtures import (
    Event,
    EventReader,
    Serve,
    read_events,
    serve,
    text_of,
    wait_until,
)

__all__ = ["serve"]  # the fixture, imported for pytest

KEY = "sk-gateway-secret-0123456789abcdef"
KEY_ENV = "NBCHAT_TEST_UPSTREAM_KEY"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.delenv(DEFAULT_KEY_ENV, raising=False)


def gateway(base_url: str) -> UpstreamModel:
    return UpstreamModel(base_url, model="demo", key_env=KEY_ENV)


def upstream_demo(serve: Serve) -> tuple[str, ServerStats]:
    """A demo server that only accepts the gateway's key, like a real provider."""
    served = serve(create_app(tokens_per_second=3000, users={"gateway": KEY}))
    stats: ServerStats = served.app.state.stats
    return served.url + "/v1", stats


def chat(client: httpx.Client, session_id: str, message: str) -> list[Event]:
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": message}) as r:
        assert r.status_code == 200, r.read()
        return read_events(r)


@pytest.mark.usefixtures("keyed")
def test_sessions_are_answered_by_the_upstream_with_history(serve: Serve) -> None:
    base_url, stats = upstream_demo(serve)
    client = serve(create_app(gateway(base_url))).client
    session_id = client.post("/sessions", json={"system_prompt": "Be brief."}).json()["id"]
    first = chat(client, session_id, "What is a closure?")
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is a closure?"},
    ]
    assert first[-1].event == "complete"
    assert text_of(first) == DemoModel().reply(conversation)
    second = chat(client, session_id, "And a generator?")
    conversation += [
        {"role": "assistant", "content": text_of(first)},
        {"role": "user", "content": "And a generator?"},
    ]
    assert text_of(second) == DemoModel().reply(conversation)
    assert "1 earlier turn" in text_of(second)
    assert stats.last_request is not None
    assert stats.last_request["messages"] == conversation
    assert stats.last_request["model"] == "demo"
    stored = client.get(f"/sessions/{session_id}").json()["messages"]
    assert [m["status"] for m in stored] == ["done"] * 4


@pytest.mark.usefixtures("keyed")
def test_openai_route_keeps_working_through_the_gateway(serve: Serve) -> None:
    base_url, _ = upstream_demo(serve)
    client = serve(create_app(gateway(base_url))).client
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["demo"]
    prompt = [{"role": "user", "content": "Say hi"}]
    body = {"model": "demo", "messages": prompt, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    text = "".join(json.loads(d)["choices"][0]["delta"].get("content", "") for d in data[:-1])
    assert text == DemoModel().reply(prompt)
    whole = client.post("/v1/chat/completions", json={"messages": prompt}).json()
    assert whole["choices"][0]["message"]["content"] == DemoModel().reply(prompt)
    assert whole["usage"]["completion_tokens"] > 0
    wrong = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": prompt})
    assert wrong.status_code == 404


def test_missing_key_is_api_key_missing_before_anything_is_saved(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    client = serve(create_app(gateway("http://127.0.0.1:9/v1"))).client
    session_id = client.post("/sessions").json()["id"]
    response = client.post(f"/sessions/{session_id}/chat", json={"message": "hi"})
    assert response.status_code == 500
    error = response.json()
    assert error["success"] is False
    assert error["error"]["code"] == "API_KEY_MISSING"
    assert f"${KEY_ENV}" in error["error"]["message"]
    assert client.get(f"/sessions/{session_id}").json()["messages"] == []
    v1 = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert v1.status_code == 500
    assert v1.json()["error"]["code"] == "api_key_missing"


def test_default_key_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    model = UpstreamModel("http://127.0.0.1:9/v1", model="m")
    assert model.key_names == [DEFAULT_KEY_ENV, "OPENAI_API_KEY"]
    monkeypatch.delenv(DEFAULT_KEY_ENV, raising=False)
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        model.check()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-provider-variable")
    model.check()
    UpstreamModel("http://x/v1", model="m", require_key=False).check()
    with pytest.raises(ConfigurationError, match="known dialects"):
        UpstreamModel("http://x/v1", model="m", dialect="klingon")
    with pytest.raises(ConfigurationError, match="--model"):
        UpstreamModel("http://x/v1", model=" ")


@pytest.mark.usefixtures("keyed")
def test_upstream_down_is_502_ai_error_naming_the_cause(serve: Serve) -> None:
    port = free_port()
    client = serve(create_app(gateway(f"http://127.0.0.1:{port}/v1"))).client
    session_id = client.post("/sessions").json()["id"]
    response = client.post(f"/sessions/{session_id}/chat", json={"message": "hi"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "AI_ERROR"
    assert f"could not connect to http://127.0.0.1:{port}" in error["message"]
    assert client.get(f"/sessions/{session_id}").json()["messages"] == []
    v1 = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})
    assert v1.status_code == 502
    assert v1.json()["error"]["code"] == "ai_error"
    assert KEY not in response.text + v1.text


def test_wrong_key_is_502_quoting_the_upstream_401(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, _ = upstream_demo(serve)
    monkeypatch.setenv(KEY_ENV, "sk-wrong-key-0000000000")
    client = serve(create_app(gateway(base_url))).client
    session_id = client.post("/sessions").json()["id"]
    response = client.post(f"/sessions/{session_id}/chat", json={"message": "hi"})
    assert response.status_code == 502
    assert "HTTP 401" in response.json()["error"]["message"]
    assert "sk-wrong-key" not in response.text


@pytest.mark.usefixtures("keyed")
def test_the_key_is_never_returned_or_logged(
    serve: Serve, fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base_url, _ = upstream_demo(serve)
    bodies: list[str] = []
    for base in (base_url, fault_server.base("echo-key"), fault_server.base("401")):
        client = serve(create_app(gateway(base))).client
        session_id = client.post("/sessions").json()["id"]
        with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
            bodies.append(r.read().decode())
        bodies.append(client.get(f"/sessions/{session_id}").text)
        bodies.append(client.get("/").text)
    # The echo-key upstream put the key in its error text: it was scrubbed.
    assert fault_server.log.headers[0]["authorization"] == f"Bearer {KEY}"
    assert "bad token" in bodies[3]
    for body in bodies:
        assert KEY not in body
    assert caplog.records, "expected access log lines"
    assert KEY not in caplog.text
    for record in caplog.records:
        assert KEY not in record.getMessage()


@pytest.mark.usefixtures("keyed")
@pytest.mark.parametrize(
    ("case", "text", "cause"),
    [("eof", "Half a reply", "before data: [DONE]"), ("midstream-error", "Partial", "overloaded")],
)
def test_upstream_failing_midstream_is_an_error_event(
    serve: Serve, fault_server: FaultServer, case: str, text: str, cause: str
) -> None:
    client = serve(create_app(gateway(fault_server.base(case)))).client
    session_id = client.post("/sessions").json()["id"]
    events = chat(client, session_id, "hi")
    assert text_of(events) == text
    assert events[-1].event == "error"
    assert events[-1].data["error"]["code"] == "AI_ERROR"
    assert cause in events[-1].data["error"]["message"]
    stored = client.get(f"/sessions/{session_id}").json()["messages"][-1]
    assert (stored["status"], stored["content"]) == ("error", text)


@pytest.mark.usefixtures("keyed")
def test_a_disconnect_closes_the_upstream_request(serve: Serve, fault_server: FaultServer) -> None:
    client = serve(create_app(gateway(fault_server.base("slow")), grace=0)).client
    session_id = client.post("/sessions").json()["id"]
    with client.stream("POST", f"/sessions/{session_id}/chat", json={"message": "hi"}) as r:
        received = text_of(EventReader(r).take(3))
    assert fault_server.log.disconnected.wait(5)
    wait_until(
        lambda: client.get(f"/sessions/{session_id}").json()["messages"][-1]["status"] == "stopped"
    )
    stored = client.get(f"/sessions/{session_id}").json()["messages"][-1]
    assert stored["content"].startswith(received)
    assert stored["content"].count("tok") < 400
