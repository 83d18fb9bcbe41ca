"""The specs' own clients and common ones against ``nbchat serve``, run for real: spec
000's ``useStreamingChat`` hook (``@microsoft/fetch-event-source``) in Node, the AI SDK's
chat (what ``useChat`` runs) in Node, and every example of the README's client table
(Python, Node, curl), read from README.md so the README cannot drift from what works."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nbchat.server import DemoModel, create_app
from nbchat.server.content_stream_api import DEFAULT_TITLE
from tests.server_fixtures import ScriptedModel, Serve, Served, serve, upstream_failure

__all__ = ["serve"]  # the fixture, imported for pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
ROOT = NODE_DIR.parent.parent
TOKEN = "classroom-token-1"
PROMPT = "How do I read a CSV file?"
#: the address and token the README's examples are written for
README_URL = "http://127.0.0.1:8000"
README_TOKEN = "YOUR-TOKEN"


def _reply(*turns: str) -> str:
    """The demo model's reply to the last of ``turns`` (earlier ones answered alike)."""
    demo = DemoModel()
    messages: list[dict[str, str]] = []
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        messages.append({"role": "assistant", "content": demo.reply(messages)})
    return messages[-1]["content"]


@pytest.fixture(scope="module", autouse=True)
def _node() -> None:
    if shutil.which("node") is None:
        pytest.fail("node is not installed: these tests run the specs' JavaScript clients")
    if not (ROOT / "node_modules" / "@microsoft" / "fetch-event-source").is_dir():
        pytest.fail("node_modules lacks the client packages: run `make js-deps` (make test does)")


def _run(command: list[str], served: Served, token: str, timeout: float = 60) -> str:
    env = {**os.environ, "NBCHAT_URL": served.url, "NBCHAT_TOKEN": token}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, cwd=NODE_DIR
    )
    assert done.returncode == 0, f"{command[:2]} failed:\n{done.stderr}\n{done.stdout}"
    return done.stdout


def _node_json(script: str, *args: str, served: Served, token: str = TOKEN) -> Any:
    out = _run(["node", script, *args], served, token)
    return json.loads(out.strip().splitlines()[-1])


def _hook_session(served: Served) -> dict[str, Any]:
    with served.client_for(TOKEN) as client:
        sessions = client.get("/sessions").json()["sessions"]
        titled = [s for s in sessions if s["title"] == DEFAULT_TITLE]
        assert len(titled) == 1, "the hook's turns go to one session"
        deadline = time.monotonic() + 10
        while True:  # the server saves the reply as it notices the end
            session: dict[str, Any] = client.get(f"/sessions/{titled[0]['id']}").json()
            if all(m["status"] != "streaming" for m in session["messages"]):
                return session
            assert time.monotonic() < deadline, session
            time.sleep(0.05)


# -- spec 000's hook, as its plan writes it ----------------------------------------------


def test_spec000_hook_streams_and_the_server_saves_one_turn(serve: Serve) -> None:
    served = serve(create_app(users={"alice": TOKEN}, tokens_per_second=3000))
    first = _node_json("spec000_hook.mjs", "reply", PROMPT, served=served)
    assert first["error"] is None and first["isStreaming"] is False
    shown = first["streamingResponse"]
    assert "System prompt" in shown  # patterns_data reached the model as context
    assert first["appSaved"][-1] == {"role": "assistant", "content": shown}
    session = _hook_session(served)
    assert [(m["role"], m["status"]) for m in session["messages"]] == [
        ("user", "done"),
        ("assistant", "done"),
    ]  # one user message: the library never re-POSTed
    assert session["messages"][0]["content"] == PROMPT
    assert session["messages"][1]["content"] == shown  # text equals the saved reply

    second = _node_json("spec000_hook.mjs", "reply", "And a JSON file?", served=served)
    assert second["error"] is None
    messages = _hook_session(served)["messages"]
    assert len(messages) == 4 and messages[3]["content"] == second["streamingResponse"]
    assert "earlier" in second["streamingResponse"]  # the saved turn was the model's history


def test_spec000_hook_stop_saves_the_partial_reply(serve: Serve) -> None:
    # The hook's Stop is an abort: the reply runs on for the grace period (a hidden tab
    # comes back to it), then it is stopped and saved.
    served = serve(create_app(users={"alice": TOKEN}, tokens_per_second=40, grace=0.5))
    result = _node_json("spec000_hook.mjs", "stop", PROMPT, "40", served=served)
    assert result["error"] is None
    seen = result["stoppedAt"]
    assert len(seen) >= 40
    messages = _hook_session(served)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    saved = messages[1]
    assert saved["status"] == "stopped" and saved["error"]["code"] == "CLIENT_GONE"
    assert saved["content"].startswith(seen)
    assert len(saved["content"]) < len(_reply(PROMPT)) / 2  # stopped, not run to the end


def test_spec000_hook_survives_a_hidden_tab(serve: Serve) -> None:
    # fetch-event-source closes the request while the page is hidden and re-POSTs with
    # Last-Event-ID when it is shown: the reply went on meanwhile and arrives whole, once.
    served = serve(create_app(users={"alice": TOKEN}, tokens_per_second=60))
    result = _node_json("spec000_hook.mjs", "hide", PROMPT, "40", served=served)
    assert result["error"] is None, result
    shown = result["streamingResponse"]
    messages = _hook_session(served)["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [("user", "done"), ("assistant", "done")]
    assert messages[1]["content"] == shown and len(shown) > 200
    assert result["appSaved"][-1] == {"role": "assistant", "content": shown}


def test_spec000_hook_shows_a_wrong_token_and_stops(serve: Serve) -> None:
    served = serve(create_app(users={"alice": TOKEN}, tokens_per_second=3000), token=TOKEN)
    result = _node_json("spec000_hook.mjs", "reply", PROMPT, served=served, token="wrong-token")
    # An error event, not a 401 the hook as written would retry once a second forever.
    assert result["error"] == "Invalid bearer token." and not result["isStreaming"]
    assert result["streamingResponse"] == ""
    assert served.client.get("/sessions").json()["sessions"] == []


def test_spec000_hook_meets_a_failing_model_once(serve: Serve) -> None:
    model = ScriptedModel(fail_before_open=upstream_failure())
    served = serve(create_app(model, users={"alice": TOKEN}))
    result = _node_json("spec000_hook.mjs", "reply", PROMPT, served=served)
    assert "127.0.0.1:9" in result["error"]  # the cause, named
    assert len(model.calls) == 1  # no retries: each would be a paid upstream call
    assert _hook_session(served)["messages"] == []  # the turn left no trace


# -- the AI SDK's chat: what useChat runs --------------------------------------------------


def test_the_ai_sdk_chat_streams_two_turns(serve: Serve) -> None:
    served = serve(create_app(users={"alice": TOKEN}, tokens_per_second=3000))
    result = _node_json("ai_sdk_chat.mjs", "reply", PROMPT, "And a JSON file?", served=served)
    assert result["status"] == "ready" and result["error"] is None
    assert result["messages"] == [
        {"role": "user", "text": PROMPT},
        {"role": "assistant", "text": _reply(PROMPT)},
        {"role": "user", "text": "And a JSON file?"},
        {"role": "assistant", "text": _reply(PROMPT, "And a JSON file?")},
    ]


def test_the_ai_sdk_chat_stops(serve: Serve) -> None:
    served = serve(create_app(users={"alice": TOKEN}, tokens_per_second=40))
    result = _node_json("ai_sdk_chat.mjs", "stop", PROMPT, "40", served=served)
    assert result["status"] == "ready" and result["error"] is None
    partial = result["messages"][-1]["text"]
    assert len(partial) >= 40 and _reply(PROMPT).startswith(partial)
    assert len(partial) < len(_reply(PROMPT)) / 2
    replies = served.app.state.context.replies
    deadline = time.monotonic() + 10
    while replies.active:  # the server stopped generating too (no grace on /api/chat)
        assert time.monotonic() < deadline
        time.sleep(0.05)


# -- the README's client table -------------------------------------------------------------

_EXAMPLE = re.compile(
    r"<!-- client-example: (?P<name>[\w-]+) -->\n```(?P<lang>\w+)\n(?P<code>.*?)```", re.S
)
#: what a browser gives the examples written for one, when Node runs them
_BROWSER = {
    "fetch-event-source": f'import "{(NODE_DIR / "browser_shim.mjs").as_posix()}";\n',
    "eventsource": 'import { EventSource } from "eventsource";\n',
}


def _examples() -> dict[str, tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {m["name"]: (m["lang"], m["code"]) for m in _EXAMPLE.finditer(text)}


def test_the_readme_has_an_example_for_every_client_in_its_table() -> None:
    assert sorted(_examples()) == [
        "ai-sdk-streamtext",
        "curl",
        "eventsource",
        "fetch-event-source",
        "openai-js",
        "openai-python",
    ]


@pytest.fixture
def readme_dir() -> Iterator[Path]:
    # Inside the repository, so Node finds node_modules from there.
    folder = ROOT / "test-artifacts" / f"readme-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("name", sorted(_examples()))
def test_each_readme_client_example_streams_from_nbchat_serve(
    name: str, serve: Serve, readme_dir: Path
) -> None:
    lang, code = _examples()[name]
    # A browser EventSource cannot send a token: that example is for a server without.
    token = "" if name == "eventsource" else TOKEN
    users = {"alice": TOKEN} if token else None
    served = serve(create_app(users=users, tokens_per_second=3000))
    code = code.replace(README_URL, served.url).replace(README_TOKEN, token or "none")
    if lang == "python":
        command = [sys.executable, "-c", code]
    elif lang == "js":
        script = readme_dir / f"{name}.mjs"
        script.write_text(_BROWSER.get(name, "") + code, encoding="utf-8")
        command = ["node", str(script)]
    else:
        assert lang == "bash", f"no runner for {lang}"
        command = ["bash", "-euo", "pipefail", "-c", code]
    out = _run(command, served, token)
    expected = _reply(PROMPT)
    if name == "curl":
        data = [line[6:] for line in out.splitlines() if line.startswith("data: ")]
        assert data[-1] == "[DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
        text = "".join(c["delta"].get("content") or "" for j in chunks for c in j["choices"])
        assert text == expected
    else:
        assert out.rstrip("\n") == expected
