"""A gateway that polls video tasks often (tests wait for them), and the fake upstreams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.video_upstreams import FakeVideos
from support.gateway import Gateway

VIDEO_SETTINGS: dict[str, object] = {
    "video_poll_seconds": 0.2,
    # Well above a poll, even on a loaded machine: a creation or a poll waits for the fake
    # upstream up to half the lease (at 5 s, a creation under the whole suite's load once
    # gave up after 2.5 s and answered 502).
    "video_lease_seconds": 20,
    "video_max_wait_seconds": 600,
}


@pytest.fixture(scope="module")
def gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    with Gateway(database_url, data_dir, **VIDEO_SETTINGS) as running:
        yield running


@pytest.fixture(scope="module")
def videos() -> Iterator[FakeVideos]:
    with FakeVideos() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _fresh_videos(request: pytest.FixtureRequest) -> None:
    if "videos" in request.fixturenames:
        request.getfixturevalue("videos").reset()
