"""What the video tests share: a priced video model on a channel of each protocol, calls
with ``requests``-style HTTP, and waiting for a task to end."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from fakes.video_upstreams import API_KEY, KLING_ACCESS, KLING_SECRET, FakeVideos
from support.admin import Admin, unique_model

from airelay.money import usd_to_units

PRICE_PER_SECOND = "0.05"  # USD
PRICE_1080P = "0.12"

#: Channel type per fake protocol.
TYPES = {"openai": "openai", "ark": "doubao", "kling": "kling", "dashscope": "dashscope"}
UPSTREAM_MODELS = {
    "openai": "sora-2",
    "ark": "doubao-seedance-1-0-pro-250528",
    "kling": "kling-v2-1",
    "dashscope": "wan2.2-t2v-plus",
}


@dataclass
class Video:
    model: str
    key: str
    user_id: str
    channel_id: str
    protocol: str


def per_second(usd: str = PRICE_PER_SECOND) -> int:
    return usd_to_units(usd)


def video_channel(
    admin: Admin, fake: FakeVideos, protocol: str, *, balance: float = 10, **pricing: Any
) -> Video:
    """A public model on a ``protocol`` channel, priced per second (by resolution: 1080p
    dearer), and a user with ``balance`` USD and a key."""
    model = unique_model("video")
    key = f"{KLING_ACCESS}:{KLING_SECRET}" if protocol == "kling" else API_KEY
    channel = admin.create_channel(
        type=TYPES[protocol],
        base_url=fake.base_url(protocol),
        api_keys=[key],
        models=[model],
        model_mapping={model: UPSTREAM_MODELS[protocol]},
        endpoints=["video"],
        price=pricing or {"per_video_second": {"default": PRICE_PER_SECOND, "1080p": PRICE_1080P}},
    )
    user = admin.create_user(balance=balance)
    token = admin.create_token(user["id"])["key"]
    return Video(model, token, user["id"], channel["id"], protocol)


def client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def wait_until_done(http: httpx.Client, task_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the gateway's task until it is no longer queued or running."""
    deadline = time.monotonic() + timeout
    while True:
        answer = http.get(f"/v1/videos/generations/{task_id}")
        assert answer.status_code == 200, answer.text
        task: dict[str, Any] = answer.json()
        if task["status"] not in ("queued", "running"):
            return task
        assert time.monotonic() < deadline, task
        time.sleep(0.1)
