"""Provider folders through the whole local stack: drops under two mapped prefixes (and one naming
its folder in x-amz-meta-unique-id) are uploaded under their own unique_id at the emulator, reach
PARSE by the callback (whose get_metadata confirmation the emulator answers only in the video's own
folder), and a delete with deleteAtProvider on calls delete_videos in the video's folder (the
emulator ignores a delete naming another folder)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs, urlsplit

import pytest

from devstack.stack import LocalStack, Uploaded
from functions.core import env
from functions.core.status import BY_CALLBACK, DELETED, PARSE, VideoRecord
from tests.conftest import TEST_STACK
from tests.ops.test_cli import cli, cli_json

pytestmark = pytest.mark.e2e

SAMPLE: Final = (Path(__file__).resolve().parents[1] / "fixtures" / "sample.mp4").read_bytes()
DEFAULT: Final = "main-folder"
FOLDERS: Final = {"customers/acme/": "acme", "customers/zeta/": "zeta-01"}


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    config = replace(
        TEST_STACK,
        callback_delays=(0.1, 0.3),
        # moto's EventBridge events carry the version id of a deleted version (its S3 notifications do not)
        notification_source="eventbridge",
        function_env={
            **TEST_STACK.function_env,
            env.PROVIDER_FOLDERS: json.dumps(FOLDERS),
            env.MEMORIES_UNIQUE_ID: DEFAULT,
            env.DELETE_AT_PROVIDER: "true",
        },
    )
    with LocalStack(config) as running:
        running.session.client("s3").put_bucket_versioning(
            Bucket=running.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        yield running


def parsed(stack: LocalStack, uploads: list[Uploaded]) -> list[VideoRecord]:
    def done() -> list[VideoRecord] | None:
        records = [stack.record(u.video_id) for u in uploads]
        ready = [r for r in records if r is not None and r.status == PARSE]
        return ready if len(ready) == len(uploads) else None

    return stack.wait_for(done, timeout=60, what="every drop PARSE")


def test_two_prefixes_two_folders_each_confirmed_and_deleted_in_its_own(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert stack.emulator is not None
    acme = stack.upload("customers/acme/clip 1.mp4", SAMPLE)
    zeta = stack.upload("customers/zeta/clip+2.mp4", SAMPLE)
    named = stack.upload("loose/clip 3.mp4", SAMPLE, metadata={"unique-id": "special"})
    loose = stack.upload("loose/clip 4.mp4", SAMPLE)
    records = {r.key: r for r in parsed(stack, [acme, zeta, named, loose])}

    # Then each was uploaded under its own folder at the emulator, and its record says which
    expected = {acme.key: "acme", zeta.key: "zeta-01", named.key: "special", loose.key: DEFAULT}
    assert {key: r.unique_id for key, r in records.items()} == expected
    at_emulator = {v["videoNo"]: v["unique_id"] for v in stack.emulator.videos()}
    assert {key: at_emulator[r.video_no or ""] for key, r in records.items()} == expected
    # and PARSE came by the callback: get_metadata confirmed it in the video's own folder
    for record in records.values():
        (to_parse,) = [step for step in record.history if step.to_status == PARSE]
        assert to_parse.by == BY_CALLBACK and "confirmed by get_metadata" in (to_parse.note or "")
    assert stack.emulator.billed_calls() == 4
    # the callback URLs outside the default folder name it (a hint that spares the callback a read);
    # every callback was answered 200
    hints = {
        cb["body"]["videoNo"]: parse_qs(urlsplit(cb["url"]).query).get("folder", [None])[0]
        for cb in stack.emulator.callbacks()
    }
    assert {key: hints[r.video_no or ""] for key, r in records.items()} == {
        **expected,
        loose.key: None,
    }
    assert {cb["http_status"] for cb in stack.emulator.callbacks()} == {200}
    # and the operator's show names the folder
    for key in (zeta.key, named.key):
        assert cli(stack, "show", records[key].video_id) == 0
        assert cli_json(capsys.readouterr().out)["provider_folder"] == expected[key]

    # When the acme video is deleted from S3, with provider deletes on
    stack.session.client("s3").delete_object(Bucket=stack.bucket, Key=acme.key, VersionId=acme.version_id)

    def deleted() -> VideoRecord | None:
        record = stack.record(acme.video_id)
        return record if record is not None and record.status == DELETED else None

    gone = stack.wait_for(deleted, timeout=20, what="the acme video DELETED")
    # Then delete_videos named its folder: the emulator no longer has it, the others are untouched
    left = {v["videoNo"] for v in stack.emulator.videos()}
    assert gone.video_no not in left
    assert {records[k].video_no for k in (zeta.key, named.key, loose.key)} <= left
    assert "deleted at memories.ai" in (gone.reason or "")
