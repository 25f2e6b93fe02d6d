"""Video generation tasks end to end, on SQLite and PostgreSQL: the gateway creates the
upstream task at once, polls it in the background and bills it exactly once, against fake
upstreams speaking OpenAI's, Ark's, Kling's and DashScope's documented protocols; the
official OpenAI SDK (``client.videos``) and plain HTTP as clients.
"""

from __future__ import annotations

import time

import openai
import pytest
from fakes.video_upstreams import FakeVideos, Plan, video_bytes
from support.admin import Admin
from support.gateway import Gateway
from support.ledger import books, usage_rows

from airelay.money import usd_to_units

from .kit import PRICE_1080P, client, per_second, video_channel, wait_until_done

# The SDK warns on every call that OpenAI's own Sora API will close; the gateway's does not.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=20)


# -- money first: failures give everything back ----------------------------------------------


@pytest.mark.parametrize("protocol", ["openai", "ark", "kling", "dashscope"])
def test_a_task_that_fails_upstream_is_refunded_exactly_once(
    gateway: Gateway, admin: Admin, videos: FakeVideos, protocol: str
) -> None:
    video = video_channel(admin, videos, protocol)
    database_url = gateway.settings.database_url
    before = books(database_url, video.user_id)
    videos.plan = Plan(polls=1, outcome="failed")
    with client(gateway.url, video.key) as http:
        created = http.post(
            "/v1/videos/generations",
            json={"model": video.model, "prompt": "a cat", "duration": 5},
        )
        assert created.status_code == 200, created.text
        # While it runs, its price is reserved: out of the balance.
        during = books(database_url, video.user_id)
        assert before.spendable - during.spendable == 5 * per_second()
        task = wait_until_done(http, created.json()["id"])
    assert task["status"] == "failed"
    assert task["error"]["message"]
    assert "data" not in task
    time.sleep(0.6)  # more poller ticks: nothing moves again
    after = books(database_url, video.user_id)
    assert after.spendable == before.spendable
    assert after.usage_rows == 0 and after.total_usage == 0


def test_an_upstream_that_refuses_the_task_costs_nothing(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "ark")
    before = books(gateway.settings.database_url, video.user_id)
    videos.create_status = 400
    with client(gateway.url, video.key) as http:
        answer = http.post(
            "/v1/videos/generations", json={"model": video.model, "prompt": "x", "duration": 5}
        )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"]
    assert API_KEY_NOT_IN(answer.text)
    with client(gateway.url, video.key) as http:  # the client never had that task
        assert http.get("/v1/videos").json()["data"] == []
    after = books(gateway.settings.database_url, video.user_id)
    assert after.spendable == before.spendable


def API_KEY_NOT_IN(text: str) -> bool:
    from fakes.video_upstreams import API_KEY

    return API_KEY not in text


def test_a_balance_below_the_price_is_refused_with_402(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "dashscope", balance=0.2)  # 5 s cost $0.25
    with client(gateway.url, video.key) as http:
        answer = http.post(
            "/v1/videos/generations", json={"model": video.model, "prompt": "x", "duration": 5}
        )
    assert answer.status_code == 402
    assert not videos.recorded.creates  # the upstream never heard of it


# -- success: billed on the real duration ----------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "resolution", "reported", "billed", "price"),
    [
        ("ark", "720p", None, 5, "0.05"),
        ("ark", "1080p", 5, 5, PRICE_1080P),
        ("kling", "720p", 5.042, 5, "0.05"),  # Kling reports "5.042": a 5 s clip
        ("dashscope", "1080p", 4, 4, PRICE_1080P),  # shorter than asked: the rest comes back
    ],
)
def test_generations_submit_poll_succeed_at_golden_cost(
    gateway: Gateway,
    admin: Admin,
    videos: FakeVideos,
    protocol: str,
    resolution: str,
    reported: float | None,
    billed: int,
    price: str,
) -> None:
    video = video_channel(admin, videos, protocol)
    database_url = gateway.settings.database_url
    before = books(database_url, video.user_id)
    videos.plan = Plan(polls=2, seconds=reported)
    body = {
        "model": video.model,
        "prompt": "A golden retriever running on a sunny beach",
        "duration": 5,
        "resolution": resolution,
        "aspect_ratio": "16:9",
    }
    with client(gateway.url, video.key) as http:
        created = http.post("/v1/videos/generations", json=body)
        assert created.status_code == 200, created.text
        task = created.json()
        assert task["object"] == "video.generation.task"
        assert task["status"] == "queued" and task["model"] == video.model
        assert set(task) >= {"id", "object", "model", "status", "created_at"}
        done = wait_until_done(http, task["id"])
    assert done["status"] == "succeeded", done
    (upstream_task,) = videos.tasks.values()
    assert done["data"] == [{"video_url": f"{videos.origin}/files/{upstream_task.id}.mp4"}]
    assert upstream_task.id not in created.text  # the upstream's id is never shown
    # Golden cost: seconds billed x the resolution's price per second, nothing else.
    cost = billed * usd_to_units(price)
    rows = usage_rows(database_url, video.user_id)
    assert [row["cost"] for row in rows] == [cost]
    after = books(database_url, video.user_id)
    assert before.spendable - after.spendable == cost
    assert after.total_usage == cost


def test_the_upstream_gets_each_protocols_own_request(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    first_frame = "https://example.com/first.png"
    last_frame = "https://example.com/last.png"
    body = {
        "prompt": "the apple turns into a smoothie",
        "duration": 5,
        "resolution": "720p",
        "seed": 42,
        "content": [
            {"type": "image_url", "image_url": {"url": first_frame}, "role": "first_frame"},
            {"type": "image_url", "image_url": {"url": last_frame}, "role": "last_frame"},
        ],
    }
    for protocol in ("ark", "kling", "dashscope"):
        video = video_channel(admin, videos, protocol)
        with client(gateway.url, video.key) as http:
            answer = http.post("/v1/videos/generations", json={**body, "model": video.model})
            assert answer.status_code == 200, answer.text
    sent = {protocol: request for protocol, request in videos.recorded.creates}
    assert sent["ark"]["model"] == "doubao-seedance-1-0-pro-250528"
    assert sent["ark"]["content"][0] == {"type": "text", "text": body["prompt"]}
    assert sent["ark"]["content"][1]["role"] == "first_frame"
    assert sent["ark"]["duration"] == 5 and sent["ark"]["seed"] == 42
    assert sent["kling"]["kind"] == "image2video"
    assert sent["kling"]["image"] == first_frame and sent["kling"]["image_tail"] == last_frame
    assert sent["kling"]["duration"] == "5"
    assert sent["dashscope"]["input"]["first_frame_url"] == first_frame
    assert sent["dashscope"]["parameters"] == {"duration": 5, "resolution": "720P", "seed": 42}


def test_openai_sdk_create_retrieve_list_download_delete(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "openai", per_video_second="0.1")
    database_url = gateway.settings.database_url
    before = books(database_url, video.user_id)
    videos.plan = Plan(polls=1)
    client_ = sdk(gateway, video.key)
    created = client_.videos.create(
        model=video.model, prompt="a calico cat", seconds="8", size="1280x720"
    )
    assert created.status in ("queued", "in_progress")
    assert created.seconds == "8" and created.size == "1280x720"
    sent = videos.recorded.creates[0][1]
    assert sent == {"model": "sora-2", "prompt": "a calico cat", "seconds": "8", "size": "1280x720"}
    deadline = time.monotonic() + 30
    while (got := client_.videos.retrieve(created.id)).status != "completed":
        assert got.status in ("queued", "in_progress"), got
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert got.progress == 100 and got.error is None
    listed = client_.videos.list()
    assert [item.id for item in listed.data] == [created.id]
    content = client_.videos.download_content(created.id)
    (upstream_task,) = videos.tasks.values()
    assert content.read() == video_bytes(upstream_task.id)
    cost = 8 * usd_to_units("0.1")
    assert usage_rows(database_url, video.user_id)[0]["cost"] == cost
    assert before.spendable - books(database_url, video.user_id).spendable == cost
    deleted = client_.videos.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        client_.videos.retrieve(created.id)
    # Deleting a finished video gives nothing back.
    assert before.spendable - books(database_url, video.user_id).spendable == cost


def test_content_of_a_url_upstream_is_streamed_through(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "kling")
    videos.plan = Plan(polls=0)
    with client(gateway.url, video.key) as http:
        created = http.post(
            "/v1/videos/generations", json={"model": video.model, "prompt": "x", "duration": 5}
        ).json()
        wait_until_done(http, created["id"])
        answer = http.get(f"/v1/videos/{created['id']}/content")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "video/mp4"
    (upstream_task,) = videos.tasks.values()
    assert answer.content == video_bytes(upstream_task.id)


def test_a_video_url_off_the_channels_host_is_fetched_from_public_addresses_only(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "ark")
    videos.plan = Plan(polls=0)
    # The same fake, named otherwise: a host that is not the channel's, on loopback.
    videos.file_origin = f"http://localhost:{videos.port}"
    with client(gateway.url, video.key) as http:
        created = http.post(
            "/v1/videos/generations", json={"model": video.model, "prompt": "x", "duration": 5}
        ).json()
        assert wait_until_done(http, created["id"])["status"] == "succeeded"
        answer = http.get(f"/v1/videos/{created['id']}/content")
    assert answer.status_code == 502
    assert "localhost" not in answer.text


@pytest.mark.parametrize("protocol", ["ark", "openai", "dashscope"])
def test_deleting_a_running_task_cancels_and_refunds_it(
    gateway: Gateway, admin: Admin, videos: FakeVideos, protocol: str
) -> None:
    video = video_channel(admin, videos, protocol)
    before = books(gateway.settings.database_url, video.user_id)
    videos.plan = Plan(polls=10_000)
    with client(gateway.url, video.key) as http:
        created = http.post(
            "/v1/videos/generations", json={"model": video.model, "prompt": "x", "duration": 5}
        ).json()
        assert http.get(f"/v1/videos/{created['id']}/content").status_code == 400
        deleted = http.delete(f"/v1/videos/{created['id']}")
        assert deleted.json() == {"id": created["id"], "object": "video.deleted", "deleted": True}
        assert http.get(f"/v1/videos/generations/{created['id']}").status_code == 404
        assert http.delete(f"/v1/videos/{created['id']}").status_code == 404
    assert books(gateway.settings.database_url, video.user_id).spendable == before.spendable
    assert videos.recorded.cancels == list(videos.tasks)  # cancelled upstream too


# -- who sees what ----------------------------------------------------------------------------


def test_another_users_task_is_404_on_every_route(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    owner = video_channel(admin, videos, "openai")
    other_user = admin.create_user(balance=1)
    other_key = admin.create_token(other_user["id"])["key"]
    videos.plan = Plan(polls=0)
    with client(gateway.url, owner.key) as http:
        created = http.post(
            "/v1/videos", json={"model": owner.model, "prompt": "mine", "seconds": "4"}
        ).json()
    with client(gateway.url, other_key) as http:
        for method, path in [
            ("GET", f"/v1/videos/generations/{created['id']}"),
            ("GET", f"/v1/videos/{created['id']}"),
            ("GET", f"/v1/videos/{created['id']}/content"),
            ("DELETE", f"/v1/videos/{created['id']}"),
        ]:
            answer = http.request(method, path)
            assert answer.status_code == 404, (method, path)
            assert answer.json()["error"]["message"]
        assert http.get("/v1/videos").json()["data"] == []
    with pytest.raises(openai.NotFoundError):
        sdk(gateway, other_key).videos.retrieve(created["id"])
    with client(gateway.url, owner.key) as http:  # still the owner's
        assert http.get(f"/v1/videos/{created['id']}").status_code == 200


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"prompt": "x"}, "'model'"),
        ({"model": "M", "duration": 5}, "'prompt'"),
        ({"model": "M", "prompt": "x", "duration": 0}, "'duration'"),
        ({"model": "M", "prompt": "x", "duration": "five"}, "'duration'"),
        ({"model": "M", "prompt": "x", "resolution": "huge"}, "'resolution'"),
        ({"model": "M", "prompt": "x", "content": [{"type": "image_url"}]}, "url"),
        ({"model": "M", "prompt": "x", "content": [{"type": "file"}]}, "type"),
    ],
)
def test_bad_bodies_are_400(
    gateway: Gateway, admin: Admin, videos: FakeVideos, body: dict[str, object], words: str
) -> None:
    video = video_channel(admin, videos, "ark")
    if body.get("model") == "M":
        body = {**body, "model": video.model}
    with client(gateway.url, video.key) as http:
        answer = http.post("/v1/videos/generations", json=body)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["error"]["message"]


def test_a_key_without_the_video_permission_is_403(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "ark")
    key = admin.create_token(video.user_id, permissions=["chat"])["key"]
    with client(gateway.url, key) as http:
        answer = http.post(
            "/v1/videos/generations", json={"model": video.model, "prompt": "x", "duration": 5}
        )
        assert answer.status_code == 403
        assert http.get("/v1/videos").status_code == 403


def test_a_resolution_without_a_price_is_400(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "ark", per_video_second={"720p": "0.05"})
    with client(gateway.url, video.key) as http:
        answer = http.post(
            "/v1/videos/generations",
            json={"model": video.model, "prompt": "x", "duration": 5, "resolution": "1080p"},
        )
    assert answer.status_code == 400
    assert "1080p" in answer.json()["error"]["message"]


def test_channels_that_cannot_serve_videos_are_refused(admin: Admin) -> None:
    for fields in (
        {"type": "glm", "endpoints": ["chat", "video"], "api_keys": ["k"]},  # no video API
        {"type": "kling", "api_keys": ["only-the-access-key"]},  # needs AK:SK
    ):
        answer = admin.http.post(
            "/v1/admin/channels", json={"name": "ch-bad", "models": ["m"], **fields}
        )
        assert answer.status_code == 400, answer.text


def test_the_model_list_shows_video_models_to_keys_that_may_make_videos(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "dashscope")
    chat_only = admin.create_token(video.user_id, permissions=["chat"])["key"]
    with client(gateway.url, video.key) as http:
        listed = {m["id"]: m for m in http.get("/v1/models").json()["data"]}
    assert listed[video.model]["endpoints"] == ["video"]
    with client(gateway.url, chat_only) as http:
        assert video.model not in {m["id"] for m in http.get("/v1/models").json()["data"]}


def test_a_keys_quota_counts_its_running_tasks(
    gateway: Gateway, admin: Admin, videos: FakeVideos
) -> None:
    video = video_channel(admin, videos, "ark")  # 5 s at $0.05: $0.25 a task
    key = admin.create_token(video.user_id, quota=0.3)["key"]
    videos.plan = Plan(polls=10_000)
    body = {"model": video.model, "prompt": "x", "duration": 5}
    with client(gateway.url, key) as http:
        first = http.post("/v1/videos/generations", json=body)
        assert first.status_code == 200
        second = http.post("/v1/videos/generations", json=body)
        assert second.status_code == 403  # the first one's $0.25 is counted
        assert "quota" in second.json()["error"]["message"]
        http.delete(f"/v1/videos/{first.json()['id']}")
        assert http.post("/v1/videos/generations", json=body).status_code == 200
