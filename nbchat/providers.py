"""Provider presets: base URL, dialect and key variable of the services users have.

``Chat(provider="anthropic", model="claude-sonnet-4-5")`` is
``Chat(base_url="https://api.anthropic.com/v1", dialect="anthropic", model=...)`` with
the key read from ``$ANTHROPIC_API_KEY``. Any field can still be given explicitly
(``base_url=`` for a proxy, ``dialect="openai-responses"`` for OpenAI's Responses
API). Auth header styles belong to the dialects (Bearer; Anthropic's ``x-api-key`` +
``anthropic-version``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    """A preset: where the service lives, how it streams, where its key comes from.

    ``key_env`` names the environment variable of the key; ``key_required`` says
    whether a missing key is an error before any request (local servers need none).
    ``host_env`` names a variable that overrides the host (``OLLAMA_HOST``).
    """

    name: str
    base_url: str
    dialect: str
    key_env: str | None
    key_required: bool = True
    host_env: str | None = None
    example_model: str = ""

    def resolved_base_url(self) -> str:
        """``base_url``, with the host taken from ``host_env`` when that is set."""
        if self.host_env:
            host = os.environ.get(self.host_env, "").strip().rstrip("/")
            if host:
                if "://" not in host:
                    host = f"http://{host}"
                return f"{host}/v1"
        return self.base_url


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "openai", "https://api.openai.com/v1", "openai-chat", "OPENAI_API_KEY",
            example_model="gpt-4o-mini",
        ),
        Provider(
            "anthropic", "https://api.anthropic.com/v1", "anthropic", "ANTHROPIC_API_KEY",
            example_model="claude-sonnet-4-5",
        ),
        Provider(
            "openrouter", "https://openrouter.ai/api/v1", "openai-chat", "OPENROUTER_API_KEY",
            example_model="meta-llama/llama-3.1-8b-instruct",
        ),
        Provider(
            "ollama", "http://localhost:11434/v1", "openai-chat", "OLLAMA_API_KEY",
            key_required=False, host_env="OLLAMA_HOST", example_model="llama3.2",
        ),
        Provider(
            "vllm", "http://localhost:8000/v1", "openai-chat", "VLLM_API_KEY",
            key_required=False, example_model="Qwen/Qwen2.5-1.5B-Instruct",
        ),
    )
}  # fmt: skip


def provider_names() -> list[str]:
    """The names ``Chat(provider=...)`` accepts."""
    return sorted(PROVIDERS)


__all__ = ["PROVIDERS", "Provider", "provider_names"]
