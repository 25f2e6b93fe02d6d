"""The three official SDKs, each driven the same way: plain, streamed, tool round trip, image.

Every function returns what a user of that SDK sees, normalised: the text, and the tool calls
as (name, arguments) pairs.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
from google import genai
from google.genai import types

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["location"],
    },
}


@dataclass
class Seen:
    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class OpenAIClient:
    name = "openai"

    def __init__(self, url: str, key: str) -> None:
        self.sdk = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30)

    def plain(self, model: str, prompt: str) -> Seen:
        reply = self.sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}]
        )
        return Seen(reply.choices[0].message.content or "")

    def stream(self, model: str, prompt: str) -> Seen:
        chunks = self.sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], stream=True
        )
        return Seen("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))

    def tools(self, model: str, *, stream: bool) -> tuple[Seen, Seen]:
        tools: Any = [{"type": "function", "function": WEATHER}]
        messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
        first = self._call(model, messages, tools, stream)
        messages.append(first.pop("message"))
        for call in messages[-1]["tool_calls"]:
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": "22C sunny"})
        second = self._call(model, messages, tools, stream)
        return first["seen"], second["seen"]

    def _call(self, model: str, messages: Any, tools: Any, stream: bool) -> dict[str, Any]:
        if not stream:
            reply = self.sdk.chat.completions.create(model=model, messages=messages, tools=tools)
            message = reply.choices[0].message
            calls = [
                (c.function.name, json.loads(c.function.arguments))
                for c in message.tool_calls or []
            ]
            return {
                "seen": Seen(message.content or "", calls),
                "message": message.model_dump(exclude_none=True),
            }
        text, calls = "", {}
        for chunk in self.sdk.chat.completions.create(
            model=model, messages=messages, tools=tools, stream=True
        ):
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for delta in choice.delta.tool_calls or []:
                    call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] += delta.id or ""
                    if delta.function:
                        call["name"] += delta.function.name or ""
                        call["arguments"] += delta.function.arguments or ""
        ordered = [calls[i] for i in sorted(calls)]
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if ordered:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in ordered
            ]
        seen = Seen(text, [(c["name"], json.loads(c["arguments"])) for c in ordered])
        return {"seen": seen, "message": message}

    def image(self, model: str, prompt: str) -> Seen:
        url = "data:image/png;base64," + base64.b64encode(PNG).decode()
        reply = self.sdk.chat.completions.create(
            model=model,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": prompt},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ],
        )
        return Seen(reply.choices[0].message.content or "")


class AnthropicClient:
    name = "anthropic"

    def __init__(self, url: str, key: str) -> None:
        self.sdk = anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=30)

    def plain(self, model: str, prompt: str) -> Seen:
        reply = self.sdk.messages.create(
            model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}]
        )
        return Seen("".join(b.text for b in reply.content if b.type == "text"))

    def stream(self, model: str, prompt: str) -> Seen:
        with self.sdk.messages.stream(
            model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}]
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
        assert final.stop_reason == "end_turn"
        return Seen(text)

    def tools(self, model: str, *, stream: bool) -> tuple[Seen, Seen]:
        tools: Any = [
            {
                "name": WEATHER["name"],
                "description": WEATHER["description"],
                "input_schema": WEATHER["parameters"],
            }
        ]
        messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
        first = self._call(model, messages, tools, stream)
        assert first.stop_reason == "tool_use"
        messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": b.id, "content": "22C sunny"}
                    for b in first.content
                    if b.type == "tool_use"
                ],
            }
        )
        second = self._call(model, messages, tools, stream)
        return self._seen(first), self._seen(second)

    def _call(self, model: str, messages: Any, tools: Any, stream: bool) -> Any:
        if not stream:
            return self.sdk.messages.create(
                model=model, max_tokens=256, messages=messages, tools=tools
            )
        with self.sdk.messages.stream(
            model=model, max_tokens=256, messages=messages, tools=tools
        ) as events:
            return events.get_final_message()

    @staticmethod
    def _seen(message: Any) -> Seen:
        return Seen(
            "".join(b.text for b in message.content if b.type == "text"),
            [(b.name, b.input) for b in message.content if b.type == "tool_use"],
        )

    def image(self, model: str, prompt: str) -> Seen:
        reply = self.sdk.messages.create(
            model=model,
            max_tokens=256,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": base64.b64encode(PNG).decode(),
                            },
                        },
                        {"type": "text", "text": prompt},
                    ],
                }
            ],
        )
        return Seen("".join(b.text for b in reply.content if b.type == "text"))


class GeminiClient:
    name = "gemini"
    NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)

    def __init__(self, url: str, key: str) -> None:
        options = types.HttpOptions(base_url=url, api_version="v1beta", timeout=30_000)
        self.sdk = genai.Client(api_key=key, http_options=options)

    def plain(self, model: str, prompt: str) -> Seen:
        return Seen(self.sdk.models.generate_content(model=model, contents=prompt).text or "")

    def stream(self, model: str, prompt: str) -> Seen:
        chunks = self.sdk.models.generate_content_stream(model=model, contents=prompt)
        return Seen("".join(c.text or "" for c in chunks))

    def tools(self, model: str, *, stream: bool) -> tuple[Seen, Seen]:
        config = types.GenerateContentConfig(
            tools=[types.Tool(function_declarations=[types.FunctionDeclaration(**WEATHER)])],
            automatic_function_calling=self.NO_AFC,
        )
        history = [types.Content(role="user", parts=[types.Part(text="weather in Paris?")])]
        first_parts, first = self._call(model, history, config, stream)
        history.append(types.Content(role="model", parts=first_parts))
        history.append(
            types.Content(
                role="user",
                parts=[
                    types.Part.from_function_response(name=name, response={"result": "22C sunny"})
                    for name, _ in first.calls
                ],
            )
        )
        _, second = self._call(model, history, config, stream)
        return first, second

    def _call(self, model: str, history: Any, config: Any, stream: bool) -> tuple[list[Any], Seen]:
        if stream:
            chunks = list(
                self.sdk.models.generate_content_stream(
                    model=model, contents=history, config=config
                )
            )
        else:
            chunks = [
                self.sdk.models.generate_content(model=model, contents=history, config=config)
            ]
        parts: list[Any] = []
        seen = Seen()
        for chunk in chunks:
            for candidate in chunk.candidates or []:
                for part in (candidate.content.parts if candidate.content else None) or []:
                    parts.append(part)
                    if part.function_call is not None:
                        seen.calls.append(
                            (part.function_call.name or "", dict(part.function_call.args or {}))
                        )
                    elif part.text and not part.thought:
                        seen.text += part.text
        return parts, seen

    def image(self, model: str, prompt: str) -> Seen:
        reply = self.sdk.models.generate_content(
            model=model, contents=[types.Part.from_bytes(data=PNG, mime_type="image/png"), prompt]
        )
        return Seen(reply.text or "")


class ResponsesClient:
    """The OpenAI SDK's Responses API (``responses.create`` / ``responses.stream``)."""

    name = "responses"

    def __init__(self, url: str, key: str) -> None:
        self.sdk = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30)

    def plain(self, model: str, prompt: str) -> Seen:
        return Seen(self.sdk.responses.create(model=model, input=prompt).output_text)

    def stream(self, model: str, prompt: str) -> Seen:
        with self.sdk.responses.stream(model=model, input=prompt) as events:
            text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            final = events.get_final_response()
        assert final.status == "completed" and final.output_text == text
        return Seen(text)

    def tools(self, model: str, *, stream: bool) -> tuple[Seen, Seen]:
        tools: Any = [{"type": "function", "strict": False, **WEATHER}]
        items: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
        first = self._call(model, items, tools, stream)
        items += [item.model_dump(exclude_none=True) for item in first.output]
        items += [
            {"type": "function_call_output", "call_id": item.call_id, "output": "22C sunny"}
            for item in first.output
            if item.type == "function_call"
        ]
        second = self._call(model, items, tools, stream)
        return self._seen(first), self._seen(second)

    def _call(self, model: str, items: Any, tools: Any, stream: bool) -> Any:
        if not stream:
            return self.sdk.responses.create(model=model, input=items, tools=tools)
        with self.sdk.responses.stream(model=model, input=items, tools=tools) as events:
            for _ in events:
                pass
            return events.get_final_response()

    @staticmethod
    def _seen(response: Any) -> Seen:
        calls = [
            (item.name, json.loads(item.arguments))
            for item in response.output
            if item.type == "function_call"
        ]
        return Seen(response.output_text, calls)

    def image(self, model: str, prompt: str) -> Seen:
        url = "data:image/png;base64," + base64.b64encode(PNG).decode()
        content: Any = [
            {"type": "input_text", "text": prompt},
            {"type": "input_image", "image_url": url, "detail": "auto"},
        ]
        reply = self.sdk.responses.create(model=model, input=[{"role": "user", "content": content}])
        return Seen(reply.output_text)


CLIENTS = {
    "openai": OpenAIClient,
    "anthropic": AnthropicClient,
    "gemini": GeminiClient,
    "responses": ResponsesClient,
}
