"""A real third-party client, the ``openai`` package, streaming from /v1/chat/completions."""

from __future__ import annotations

import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from nbchat.server import DemoModel, UpstreamModel, create_app
from tests.server_fixtures import ScriptedModel, Serve, serve

__all__ = ["serve"]  # the fixture, imported for pytest

TOKEN = "classroom-token-0123456789"
PROMPT = "How do I read a CSV file?"
MESSAGES = [{"role": "user", "content": PROMPT}]


def stream_text(
    client: openai.OpenAI, include_usage: bool = False
) -> tuple[str, list[ChatCompletionChunk]]:
    chunks = list(
        client.chat.completions.create(
            model="demo",
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": include_usage},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def test_openai_package_streams_from_the_server_without_a_token(serve: Serve) -> None:
    url = serve(create_app(tokens_per_second=3000)).url
    with openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0) as client:
        text, chunks = stream_text(client, include_usage=True)
        assert text == DemoModel().reply(MESSAGES)
        usage = chunks[-1].usage
        assert usage is not None
        assert usage.completion_tokens == len(DemoModel().tokens(MESSAGES))
        assert [m.id for m in client.models.list()] == ["demo"]
        whole = client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": PROMPT}], max_tokens=5
        )
        assert whole.choices[0].finish_reason == "length"
        assert whole.choices[0].message.content == "".join(DemoModel().tokens(MESSAGES)[:5])


def test_openai_package_with_a_token(serve: Serve) -> None:
    url = serve(create_app(tokens_per_second=3000, users={"class": TOKEN})).url
    with openai.OpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0) as client:
        text, _ = stream_text(client)
        assert text == DemoModel().reply(MESSAGES)
    with openai.OpenAI(base_url=url + "/v1", api_key="wrong-token", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError) as info:
            stream_text(client)
        assert info.value.status_code == 401
        assert "wrong-token" not in str(info.value)


def test_openai_package_through_the_gateway(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    upstream = serve(create_app(tokens_per_second=3000)).url + "/v1"
    monkeypatch.setenv("NBCHAT_UPSTREAM_API_KEY", "sk-upstream-0123456789")
    gateway = serve(create_app(UpstreamModel(upstream, model="demo"), users={"s": TOKEN})).url
    with openai.OpenAI(base_url=gateway + "/v1", api_key=TOKEN, max_retries=0) as client:
        text, _ = stream_text(client)
    assert text == DemoModel().reply(MESSAGES)


def test_openai_package_sees_errors_as_its_own_exceptions(serve: Serve) -> None:
    model = ScriptedModel(pieces=[f"t{i} " for i in range(300)], delay=0.01, name="demo")
    url = serve(create_app(model, users={"s": TOKEN}, max_concurrent=1)).url
    with openai.OpenAI(base_url=url + "/v1", api_key=TOKEN, max_retries=0) as client:
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "x"}]
            )
        stream = client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": "x"}], stream=True
        )
        next(iter(stream))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="demo", messages=[{"role": "user", "content": "x"}]
            )
        stream.close()


async def test_async_openai_client_streams(serve: Serve) -> None:
    url = serve(create_app(tokens_per_second=3000)).url
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="demo", messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == DemoModel().reply(MESSAGES)
