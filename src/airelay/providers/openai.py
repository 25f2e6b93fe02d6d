"""OpenAI-compatible upstreams: OpenAI itself and the many providers that copy its API."""

from __future__ import annotations


class OpenAICompatible:
    """``base_url`` is what the OpenAI SDK takes (``https://api.deepseek.com/v1``)."""

    wire_format = "openai"

    def chat_url(self, base_url: str, model: str, *, stream: bool) -> str:
        return base_url.rstrip("/") + "/chat/completions"

    def headers(self, api_key: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + api_key, "Content-Type": "application/json"}
