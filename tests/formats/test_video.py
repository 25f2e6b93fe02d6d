"""The video request faces: what is taken, what is refused (400), and the task as each face
shows it."""

from __future__ import annotations

import pytest

from airelay.formats.video import (
    MAX_CONTENT_ITEMS,
    TaskStatus,
    TaskView,
    generations_request,
    generations_task,
    openai_request,
    openai_video,
)


def test_the_seed_body_is_read_whole() -> None:
    request = generations_request(
        {
            "model": "bytedance/doubao-seedance-2.0",
            "prompt": "hand picks an apple",
            "duration": 5,
            "resolution": "720p",
            "aspect_ratio": "16:9",
            "seed": 3,
            "content": [
                {
                    "type": "image_url",
                    "image_url": {"url": "https://a/1.jpg"},
                    "role": "first_frame",
                },
                {
                    "type": "image_url",
                    "image_url": {"url": "https://a/2.jpg"},
                    "role": "last_frame",
                },
            ],
        }
    )
    assert request.seconds == 5 and request.price_key == "720p"
    assert request.first("last_frame") is not None
    assert [m.role for m in request.media] == ["first_frame", "last_frame"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"model": "", "prompt": "x"},
        {"model": "m"},
        {"model": "m", "prompt": "x", "duration": 61},
        {"model": "m", "prompt": "x", "duration": True},
        {"model": "m", "prompt": "x", "seed": "1"},
        {"model": "m", "prompt": "x", "aspect_ratio": "wide"},
        {"model": "m", "prompt": "x", "content": "nope"},
        {
            "model": "m",
            "prompt": "x",
            "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
        },
        {
            "model": "m",
            "prompt": "x",
            "content": [{"type": "image_url", "image_url": {"url": "https://x"}, "role": "poster"}],
        },
        {
            "model": "m",
            "prompt": "x",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://x"}, "role": "first_frame"}
            ]
            * 2,
        },
        {
            "model": "m",
            "prompt": "x",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://x"}, "role": "reference_image"}
            ]
            * (MAX_CONTENT_ITEMS + 1),
        },
    ],
)
def test_bad_bodies_are_value_errors(body: object) -> None:
    with pytest.raises(ValueError):
        generations_request(body)


def test_openai_fields_take_seconds_as_text() -> None:
    request = openai_request(
        {"model": "sora-2", "prompt": "p", "seconds": "12", "size": "1280x720"}
    )
    assert (request.seconds, request.size, request.price_key) == (12, "1280x720", "1280x720")
    assert openai_request({"model": "sora-2", "prompt": "p"}).seconds == 4  # OpenAI's default
    with pytest.raises(ValueError):
        openai_request({"model": "sora-2", "prompt": "p", "input_reference": "file"})


def _view(status: TaskStatus) -> TaskView:
    return TaskView(
        "video_1",
        "m",
        status,
        40,
        100,
        None,
        5,
        None,
        "720p",
        "p",
        "https://v" if status is TaskStatus.SUCCEEDED else None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("status", "seed", "openai"),
    [
        (TaskStatus.SUBMITTING, "queued", "queued"),
        (TaskStatus.QUEUED, "queued", "queued"),
        (TaskStatus.RUNNING, "running", "in_progress"),
        (TaskStatus.SUCCEEDED, "succeeded", "completed"),
        (TaskStatus.FAILED, "failed", "failed"),
        (TaskStatus.CANCELLED, "failed", "failed"),
    ],
)
def test_each_face_names_the_status_its_own_way(status: TaskStatus, seed: str, openai: str) -> None:
    assert generations_task(_view(status))["status"] == seed
    assert openai_video(_view(status))["status"] == openai


def test_a_succeeded_task_lists_its_video() -> None:
    shown = generations_task(_view(TaskStatus.SUCCEEDED))
    assert shown["object"] == "video.generation.task"
    assert shown["data"] == [{"video_url": "https://v"}]
    assert "data" not in generations_task(_view(TaskStatus.RUNNING))
