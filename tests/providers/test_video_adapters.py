"""Each video task adapter builds its provider's documented request and reads its answers;
Kling's JWT verifies with the secret key and carries the access key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import orjson
import pytest

from airelay.formats.video import Media, TaskStatus, VideoRequest
from airelay.providers.video_ark import ArkVideos
from airelay.providers.video_dashscope import DashScopeVideos
from airelay.providers.video_kling import TOKEN_SECONDS, KlingVideos, check_kling_key
from airelay.providers.video_openai import OpenAIVideos

REQUEST = VideoRequest(model="public", prompt="a cat", seconds=5, resolution="720p")
FRAMES = (Media("https://x/first.png", "first_frame"), Media("https://x/last.png", "last_frame"))


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_kling_signs_each_request_with_a_jwt_of_the_access_key() -> None:
    adapter = KlingVideos(clock=lambda: 1_700_000_000.0)
    request = adapter.create("https://kling", "AK:SK", "kling-v2-1", REQUEST)
    token = request.headers["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    assert json.loads(_b64(header)) == {"alg": "HS256", "typ": "JWT"}
    claims = json.loads(_b64(payload))
    assert claims == {"iss": "AK", "exp": 1_700_000_000 + TOKEN_SECONDS, "nbf": 1_699_999_995}
    expected = hmac.new(b"SK", f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert _b64(signature) == expected
    assert "SK" not in token.split(".")[1]


def test_kling_keys_must_hold_both_halves() -> None:
    for bad in ("only-access", ":secret", "access:"):
        with pytest.raises(ValueError, match="ACCESS_KEY:SECRET_KEY"):
            check_kling_key(bad)


def test_kling_image_to_video_keeps_its_kind_with_the_id() -> None:
    adapter = KlingVideos()
    request = VideoRequest(model="m", prompt="p", seconds=10, resolution="1080p", media=FRAMES)
    sent = adapter.create("https://kling/", "AK:SK", "kling-v2-1", request)
    assert sent.url == "https://kling/v1/videos/image2video"
    assert orjson.loads(sent.body) == {
        "model_name": "kling-v2-1",
        "prompt": "p",
        "duration": "10",
        "mode": "pro",
        "image": "https://x/first.png",
        "image_tail": "https://x/last.png",
    }
    answer = {"code": 0, "data": {"task_id": "123", "task_status": "submitted"}}
    upstream_id = adapter.created(orjson.dumps(answer), request)
    assert upstream_id == "image2video/123"
    assert adapter.poll("https://kling", "AK:SK", upstream_id).url == (
        "https://kling/v1/videos/image2video/123"
    )
    with pytest.raises(ValueError, match="refused"):
        adapter.created(orjson.dumps({"code": 1201, "message": "bad", "data": None}), request)


@pytest.mark.parametrize(
    ("adapter", "answer", "status", "seconds", "url"),
    [
        (
            KlingVideos(),
            {
                "code": 0,
                "data": {
                    "task_status": "succeed",
                    "task_result": {"videos": [{"url": "https://v/1.mp4", "duration": "5.042"}]},
                },
            },
            TaskStatus.SUCCEEDED,
            5.042,
            "https://v/1.mp4",
        ),
        (
            KlingVideos(),
            {"code": 0, "data": {"task_status": "processing"}},
            TaskStatus.RUNNING,
            None,
            None,
        ),
        (
            ArkVideos(),
            {
                "id": "cgt-1",
                "status": "succeeded",
                "content": {"video_url": "https://v/2.mp4"},
                "duration": 5,
            },
            TaskStatus.SUCCEEDED,
            5.0,
            "https://v/2.mp4",
        ),
        (ArkVideos(), {"id": "cgt-1", "status": "expired"}, TaskStatus.FAILED, None, None),
        (ArkVideos(), {"id": "cgt-1", "status": "cancelled"}, TaskStatus.CANCELLED, None, None),
        (
            DashScopeVideos(),
            {
                "output": {"task_status": "SUCCEEDED", "video_url": "https://v/3.mp4"},
                "usage": {"video_duration": 5},
            },
            TaskStatus.SUCCEEDED,
            5.0,
            "https://v/3.mp4",
        ),
        (
            DashScopeVideos(),
            {
                "output": {"task_status": "SUCCEEDED", "results": {"video_url": "https://v/4.mp4"}},
                "usage": {"duration": 18.13},
            },
            TaskStatus.SUCCEEDED,
            18.13,
            "https://v/4.mp4",
        ),
        (DashScopeVideos(), {"output": {"task_status": "UNKNOWN"}}, TaskStatus.FAILED, None, None),
        (DashScopeVideos(), {"output": {"task_status": "PENDING"}}, TaskStatus.QUEUED, None, None),
        (
            OpenAIVideos(),
            {"id": "v", "status": "completed", "progress": 100, "seconds": "8"},
            TaskStatus.SUCCEEDED,
            8.0,
            None,
        ),
        (
            OpenAIVideos(),
            {"id": "v", "status": "in_progress", "progress": 30},
            TaskStatus.RUNNING,
            None,
            None,
        ),
    ],
)
def test_statuses_are_read_in_each_providers_words(
    adapter: object,
    answer: dict[str, object],
    status: TaskStatus,
    seconds: float | None,
    url: str | None,
) -> None:
    state = adapter.status(orjson.dumps(answer))  # type: ignore[attr-defined]
    assert (state.status, state.seconds, state.video_url) == (status, seconds, url)


@pytest.mark.parametrize("adapter", [KlingVideos(), ArkVideos(), DashScopeVideos(), OpenAIVideos()])
def test_an_unknown_status_or_a_non_json_answer_is_a_value_error(adapter: object) -> None:
    with pytest.raises(ValueError):
        adapter.status(b"<html>")  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        adapter.status(
            orjson.dumps(
                {
                    "status": "weird",
                    "data": {"task_status": "weird"},
                    "output": {"task_status": "weird"},
                }
            )
        )  # type: ignore[attr-defined]


def test_failures_carry_the_upstreams_reason() -> None:
    ark = ArkVideos().status(
        orjson.dumps(
            {
                "status": "failed",
                "error": {"code": "OutputVideoSensitiveContentDetected", "message": "sensitive"},
            }
        )
    )
    assert (ark.error_code, ark.error_message) == (
        "OutputVideoSensitiveContentDetected",
        "sensitive",
    )
    wan = DashScopeVideos().status(
        orjson.dumps(
            {"output": {"task_status": "FAILED", "code": "DataInspectionFailed", "message": "no"}}
        )
    )
    assert (wan.error_code, wan.error_message) == ("DataInspectionFailed", "no")


def test_dashscope_asks_for_an_asynchronous_task() -> None:
    sent = DashScopeVideos().create(
        "https://dashscope.aliyuncs.com/api/v1",
        "sk",
        "wan2.2-t2v-plus",
        VideoRequest(model="m", prompt="p", seconds=5, size="1280x720", seed=7),
    )
    assert sent.url.endswith("/services/aigc/video-generation/video-synthesis")
    assert sent.headers["X-DashScope-Async"] == "enable"
    assert orjson.loads(sent.body) == {
        "model": "wan2.2-t2v-plus",
        "input": {"prompt": "p"},
        "parameters": {"duration": 5, "size": "1280*720", "seed": 7},
    }


def test_openai_sends_a_form_as_the_sdk_does() -> None:
    sent = OpenAIVideos().create(
        "https://api.openai.com/v1",
        "sk",
        "sora-2",
        VideoRequest(model="m", prompt="p", seconds=8, size="720x1280"),
    )
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert b'name="seconds"\r\n\r\n8\r\n' in sent.body
    assert b'name="size"\r\n\r\n720x1280\r\n' in sent.body
    content = OpenAIVideos().content("https://api.openai.com/v1", "sk", "video_1")
    assert content is not None and content.url == "https://api.openai.com/v1/videos/video_1/content"
