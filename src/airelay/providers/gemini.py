"""Google's Gemini API (generativelanguage, v1beta): the model is in the URL, the key in
``x-goog-api-key``; streams are asked for as SSE (``alt=sse``)."""

from __future__ import annotations

from urllib.parse import quote


class Gemini:
    """``base_url`` is what the google-genai SDK takes
    (``https://generativelanguage.googleapis.com``); a version suffix is tolerated."""

    wire_format = "gemini"

    def chat_url(self, base_url: str, model: str, *, stream: bool) -> str:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{_versioned(base_url)}/models/{quote(model, safe='')}:{action}"

    def headers(self, api_key: str) -> dict[str, str]:
        return {"x-goog-api-key": api_key, "Content-Type": "application/json"}


def _versioned(base_url: str) -> str:
    root = base_url.rstrip("/")
    if root.endswith(("/v1beta", "/v1", "/v1alpha")):
        return root
    return root + "/v1beta"
