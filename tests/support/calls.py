"""Streamed chat calls from each client surface, as a client would make them."""

from __future__ import annotations

import httpx

from support.gateway import Gateway


def stream_call(
    gateway: Gateway,
    key: str,
    client: str,
    model: str,
    json_array: bool = False,
    *,
    expect_ok: bool = True,
) -> str:
    """One streamed call from ``client``'s surface; the whole answer as text. With
    ``expect_ok`` false, any answer but a 5xx is returned (an upstream error passed on)."""
    headers = {"Authorization": f"Bearer {key}"}
    message = {"role": "user", "content": "hi"}
    if client == "openai":
        url, body = "/v1/chat/completions", {"model": model, "messages": [message], "stream": True}
    elif client == "anthropic":
        url = "/v1/messages"
        body = {"model": model, "messages": [message], "max_tokens": 50, "stream": True}
    else:
        url = f"/v1beta/models/{model}:streamGenerateContent" + ("" if json_array else "?alt=sse")
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    with httpx.Client(base_url=gateway.url, timeout=20) as http:
        response = http.post(url, json=body, headers=headers)
    if expect_ok:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code < 500, (response.status_code, response.text)
    return response.text
