"""The Gemini and DashScope image wires: the OpenAI request translated into each, and each
one's answers (and task states) read back into images."""

from __future__ import annotations

import base64

import orjson
import pytest

from airelay.formats import dashscope_images, gemini_images, openai_images
from airelay.formats.images import ImageAnswer, Part, Pending, TaskFailed
from airelay.formats.usage import Usage


def request(**fields: object) -> openai_images.ImageRequest:
    payload = {"model": "m", "prompt": "a fox", **fields}
    return openai_images.check_generation(payload, orjson.dumps(payload), "application/json")


@pytest.mark.parametrize(
    ("size", "ratio"),
    [("1024x1024", "1:1"), ("1536x1024", "3:2"), ("1024x1536", "2:3"), ("1792x1024", "16:9"),
     ("2560x1080", "21:9"), ("auto", None), (None, None)],
)  # fmt: skip
def test_gemini_aspect_ratio(size: str | None, ratio: str | None) -> None:
    assert gemini_images.aspect_ratio(size) == ratio


def test_gemini_request_and_edit() -> None:
    wire = gemini_images.WIRE
    built = wire.build(request(n=2, size="1024x1024", quality="hd"), "gemini-2.5-flash-image")
    assert orjson.loads(built.body) == {
        "contents": [{"role": "user", "parts": [{"text": "a fox"}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "candidateCount": 2,
            "imageConfig": {"aspectRatio": "1:1"},
        },
    }
    edit = request()
    edit.edit = True
    edit.images = [Part("image", b"PNG", "a.png", "image/png")]
    edit.mask = Part("mask", b"MASK", "m.png", None)
    parts = orjson.loads(wire.build(edit, "g").body)["contents"][0]["parts"]
    assert parts[1:] == [
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"PNG").decode()}},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(b"MASK").decode()}},
    ]
    assert wire.url("https://g/v1beta/models/x:generateContent", edit).endswith(":generateContent")


def test_gemini_answer() -> None:
    answer = gemini_images.WIRE.answer(
        orjson.dumps(
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [
                                {"text": "hi"},
                                {"inlineData": {"mimeType": "image/jpeg", "data": "QQ=="}},
                            ]
                        }
                    },
                    {"content": {"parts": [{"inlineData": {"data": "Qg=="}}]}},
                    {"finishReason": "SAFETY"},
                ],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2580},
            }
        )
    )  # fmt: skip
    assert isinstance(answer, ImageAnswer)
    assert [(i.b64, i.mime) for i in answer.images] == [
        ("QQ==", "image/jpeg"),
        ("Qg==", "image/png"),
    ]
    assert answer.usage == Usage(prompt_tokens=4, completion_tokens=2580)
    for bad in (b'{"candidates": [{"content": {"parts": [{"text": "no"}]}}]}', b"[]", b"{}"):
        with pytest.raises(ValueError):
            gemini_images.WIRE.answer(bad)


def test_dashscope_request() -> None:
    body = dashscope_images.WIRE.build(
        request(n=3, size="1024x768", negative_prompt="blur", seed=7), "wan2.2-t2i-flash"
    ).body
    assert orjson.loads(body) == {
        "model": "wan2.2-t2i-flash",
        "input": {"prompt": "a fox", "negative_prompt": "blur"},
        "parameters": {"n": 3, "size": "1024*768", "seed": 7},
    }
    assert not dashscope_images.WIRE.edits


def task(output: dict[str, object]) -> bytes:
    return orjson.dumps({"request_id": "r", "output": output})


def test_dashscope_task_states() -> None:
    wire = dashscope_images.WIRE
    assert wire.answer(task({"task_id": "t1", "task_status": "PENDING"})) == Pending("t1")
    assert wire.poll(task({"task_id": "t1", "task_status": "RUNNING"})) == Pending("t1")
    done = wire.poll(
        task(
            {
                "task_id": "t1",
                "task_status": "SUCCEEDED",
                "results": [
                    {"url": "https://oss/1.png", "actual_prompt": "a fox, detailed"},
                    {"code": "DataInspectionFailed", "message": "one image failed"},
                ],
            }
        )
    )
    assert isinstance(done, ImageAnswer)
    assert [(i.url, i.revised_prompt) for i in done.images] == [
        ("https://oss/1.png", "a fox, detailed")
    ]
    choices = wire.poll(
        task({"task_status": "SUCCEEDED", "choices": [{"message": {"content": [{"image": "https://oss/2.png"}]}}]})
    )  # fmt: skip
    assert isinstance(choices, ImageAnswer) and choices.images[0].url == "https://oss/2.png"
    with pytest.raises(TaskFailed, match="inappropriate"):
        wire.poll(task({"task_status": "FAILED", "code": "X", "message": "inappropriate"}))
    with pytest.raises(TaskFailed, match="UNKNOWN"):
        wire.poll(task({"task_status": "UNKNOWN"}))
    with pytest.raises(TaskFailed):
        wire.poll(task({"task_status": "SUCCEEDED", "results": []}))
    with pytest.raises(ValueError):
        wire.answer(task({"task_status": "PENDING"}))  # no task id
    with pytest.raises(ValueError):
        wire.answer(b'{"code": "x"}')
