"""DashScope (Alibaba Model Studio) image synthesis: Wan / Qwen text-to-image as an
asynchronous task (``X-DashScope-Async: enable``), translated from the OpenAI request.

Submit (``POST .../services/aigc/text2image/image-synthesis``): ``{"model", "input":
{"prompt", "negative_prompt"?}, "parameters": {"size": "W*H", "n", "seed"?,
"prompt_extend"?, "watermark"?}}``; the answer is ``{"output": {"task_id", "task_status":
"PENDING"}, "request_id"}``.

Poll (``GET .../tasks/{task_id}``): ``output.task_status`` goes ``PENDING`` → ``RUNNING``
→ ``SUCCEEDED`` or ``FAILED`` (``CANCELED``, ``UNKNOWN`` also end it). A success lists its
images in ``output.results[{url, actual_prompt}]`` (a result with ``code`` instead of
``url`` is an image that failed alone), or, for the wan2.6 protocol, in
``output.choices[].message.content[{image}]``; ``usage.image_count`` counts them. A failure
has ``output.code`` and ``output.message``. Images come as URLs on Alibaba's storage,
valid 24 hours.
"""

from __future__ import annotations

from typing import Any

import orjson

from airelay.formats.images import (
    Built,
    Generated,
    ImageAnswer,
    ImageRequest,
    Pending,
    TaskFailed,
)
from airelay.formats.names import WireFormat

RUNNING = frozenset({"PENDING", "RUNNING"})
# Fields of the OpenAI-shaped request that go into DashScope's ``parameters`` as they are.
_PARAMETERS = ("seed", "prompt_extend", "watermark")


def request_body(request: ImageRequest, upstream_model: str) -> dict[str, Any]:
    given: dict[str, Any] = {"prompt": request.prompt}
    negative = request.fields.get("negative_prompt")
    if isinstance(negative, str) and negative:
        given["negative_prompt"] = negative
    parameters: dict[str, Any] = {"n": request.n}
    if request.size is not None and "x" in request.size:
        parameters["size"] = request.size.replace("x", "*")
    for name in _PARAMETERS:
        if name in request.fields:
            parameters[name] = request.fields[name]
    return {"model": upstream_model, "input": given, "parameters": parameters}


def _output(body: bytes) -> dict[str, Any]:
    document = orjson.loads(body)
    output = document.get("output") if isinstance(document, dict) else None
    if not isinstance(output, dict):
        raise ValueError("the answer has no 'output' object")
    return output


def _images(output: dict[str, Any]) -> list[Generated]:
    images: list[Generated] = []
    for result in output.get("results") or ():
        if isinstance(result, dict) and isinstance(result.get("url"), str):
            prompt = result.get("actual_prompt")
            images.append(
                Generated(
                    url=result["url"], revised_prompt=prompt if isinstance(prompt, str) else None
                )
            )
    for choice in output.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        for item in content or () if isinstance(content, list) else ():
            if isinstance(item, dict) and isinstance(item.get("image"), str):
                images.append(Generated(url=item["image"]))
    return images


class DashScopeImages:
    """DashScope's image synthesis task: submitted, then polled until it ends."""

    name = WireFormat.DASHSCOPE_IMAGES
    edits = False

    def url(self, head_url: str, request: ImageRequest) -> str:
        return head_url

    def build(self, request: ImageRequest, upstream_model: str) -> Built:
        return Built(orjson.dumps(request_body(request, upstream_model)), "application/json")

    def answer(self, body: bytes) -> ImageAnswer | Pending:
        output = _output(body)
        task_id = output.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ValueError("the task was not accepted: no 'output.task_id'")
        return self._status(output, task_id)

    def poll(self, body: bytes) -> ImageAnswer | Pending:
        output = _output(body)
        return self._status(output, str(output.get("task_id") or ""))

    def _status(self, output: dict[str, Any], task_id: str) -> ImageAnswer | Pending:
        status = output.get("task_status")
        if status in RUNNING:
            return Pending(task_id)
        if status == "SUCCEEDED":
            images = _images(output)
            if not images:
                raise TaskFailed("the task succeeded without any image")
            return ImageAnswer(images)
        reason = output.get("message") or output.get("code") or f"task status {status}"
        raise TaskFailed(str(reason)[:500])


WIRE = DashScopeImages()
