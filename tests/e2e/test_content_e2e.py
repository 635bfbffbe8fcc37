"""Disguised non-videos never reach the meter, through the whole local stack: the ingest function
reads each object's first bytes (one ranged GET) at its turn and refuses what is not a container
memories.ai takes, before any ``upload_url`` call; real videos of every accepted container go on."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from devstack.stack import LocalStack
from functions.core.contract import trace_tag
from functions.core.status import PARSE, REJECTED, VideoRecord

pytestmark = pytest.mark.e2e

FIXTURES: Final = Path(__file__).parents[1] / "fixtures"


def _final(stack: LocalStack, video_id: str) -> VideoRecord:
    def done() -> VideoRecord | None:
        record = stack.record(video_id)
        return record if record is not None and record.status in (PARSE, REJECTED) else None

    return stack.wait_for(done, timeout=60, what=f"{video_id} to end PARSE or REJECTED")


@pytest.mark.parametrize(
    ("key", "body", "what"),
    [
        ("disguised/notes.mp4", b"meeting notes, not a video\n" * 40, "the content is text"),
        ("disguised/photo.mov", (FIXTURES / "containers" / "frame.jpg").read_bytes(), "a JPEG image"),
        ("disguised/tone.mp4", (FIXTURES / "containers" / "tone.mp3").read_bytes(), "MP3 audio"),
    ],
)
def test_a_disguised_non_video_is_rejected_without_any_upload_url_call(
    local_stack: LocalStack, key: str, body: bytes, what: str
) -> None:
    assert local_stack.emulator is not None
    # Given a file that is not a video, named like one, dropped into the bucket
    uploaded = local_stack.upload(key, body)
    # Then it ends REJECTED with a reason that says what it is
    record = _final(local_stack, uploaded.video_id)
    assert record.status == REJECTED
    assert record.reason is not None and record.reason.startswith("not a video: ") and what in record.reason
    # and memories.ai never received a call for it (nothing billed, nothing refused after billing)
    tag = trace_tag(uploaded.video_id)
    assert [c for c in local_stack.emulator.calls() if tag in c["form"].get("tags", [])] == []


@pytest.mark.parametrize("name", ["sample.mkv", "sample.webm", "sample.avi", "sample.mov"])
def test_real_videos_of_every_container_go_through(local_stack: LocalStack, name: str) -> None:
    assert local_stack.emulator is not None
    uploaded = local_stack.upload(f"containers/{name}", (FIXTURES / "containers" / name).read_bytes())
    record = _final(local_stack, uploaded.video_id)
    assert record.status == PARSE, record.reason
    billed = [
        c for c in local_stack.emulator.calls() if trace_tag(uploaded.video_id) in c["form"].get("tags", [])
    ]
    assert [c["billed"] for c in billed] == [True]
