"""Sealed compaction summaries: they open only for the user they were sealed for, under the
same gateway secret, byte for byte; content the gateway did not seal is not its to open."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airelay.security.compaction_seal import PREFIX, Sealer, Unsealable

SEALER = Sealer("operator-secret")


@given(text=st.text(max_size=2000), user=st.text(min_size=1, max_size=40))
def test_a_sealed_text_opens_for_its_user(text: str, user: str) -> None:
    blob = SEALER.seal(user, text)
    assert blob.startswith(PREFIX)
    assert SEALER.open(user, blob) == text


def test_the_blob_hides_the_text_and_differs_each_time() -> None:
    first, second = SEALER.seal("usr_1", "the cat is Miso"), SEALER.seal("usr_1", "the cat is Miso")
    assert first != second
    assert "Miso" not in first
    assert b"Miso" not in base64.urlsafe_b64decode(first[len(PREFIX) :] + "==")


def test_another_user_cannot_open_it() -> None:
    blob = SEALER.seal("usr_1", "summary")
    with pytest.raises(Unsealable):
        SEALER.open("usr_2", blob)


def test_another_secret_cannot_open_it() -> None:
    blob = SEALER.seal("usr_1", "summary")
    with pytest.raises(Unsealable):
        Sealer("another-secret").open("usr_1", blob)


URLSAFE = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.mark.parametrize("at", [len(PREFIX), len(PREFIX) + 5, -1])
def test_any_changed_character_is_refused(at: int) -> None:
    blob = SEALER.seal("usr_1", "a summary long enough to change")
    index = at % len(blob)
    # The character's highest bit flipped: the last character of unpadded base64 carries
    # unused low bits, so a change there alone (say to "A") could decode to the same bytes.
    flipped = URLSAFE[URLSAFE.index(blob[index]) ^ 0b100000]
    changed = blob[:index] + flipped + blob[index + 1 :]
    with pytest.raises(Unsealable):
        SEALER.open("usr_1", changed)


@pytest.mark.parametrize("blob", [PREFIX, PREFIX + "!!!", PREFIX + "AAAA", PREFIX + "x" * 5])
def test_malformed_blobs_are_refused(blob: str) -> None:
    with pytest.raises(Unsealable):
        SEALER.open("usr_1", blob)


def test_content_the_gateway_did_not_seal_is_not_its_own() -> None:
    assert SEALER.open("usr_1", "gAAAA-an-upstream-compaction") is None
