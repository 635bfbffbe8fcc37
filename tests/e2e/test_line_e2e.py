"""A burst at the provider's real limit, through the whole local stack: the line drains at the
account's rate, nothing is lost, nothing is paid twice, and the reconciler leaves waiting videos alone.

12 uploads per minute puts the slots 5.25 s apart, longer than the 5 s the ingest function waits
after a batch: all but the first video wait for the line's schedule, as at the default 1/min. The
emulator enforces the same limit (0429 above it), so going over it would show as a refusal.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Final

import pytest

from devstack.emulator.state import max_in_window
from devstack.stack import LocalStack
from functions.core import env
from functions.core.clock import epoch
from functions.core.contract import trace_tag
from functions.core.status import PARSE, QUEUED, SUBMITTING, UNPARSE
from tests.conftest import TEST_STACK

pytestmark = pytest.mark.e2e

SAMPLE: Final = (Path(__file__).parents[1] / "fixtures" / "sample.mp4").read_bytes()
RATE: Final = 12
DROPS: Final = 8


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    config = replace(
        TEST_STACK,
        callback_delays=(0.2, 0.5),
        provider_uploads_per_minute=RATE,
        ingest_every_seconds=2,
        # The reconciler runs every 2 s and takes anything older than 3 s for its business.
        reconcile_every_seconds=2,
        function_env={
            **TEST_STACK.function_env,
            env.UPLOADS_PER_MINUTE: str(RATE),
            env.RECONCILE_AFTER_SECONDS: "3",
        },
    )
    with LocalStack(config) as running:
        yield running


def test_a_burst_above_the_rate_waits_in_line_and_every_video_is_billed_once(stack: LocalStack) -> None:
    assert stack.emulator is not None
    # Given eight videos dropped at once at 12 uploads per minute
    uploads = [stack.upload(f"line/clip-{i}.mp4", SAMPLE) for i in range(DROPS)]

    # Then all of them end PARSE
    def all_parsed() -> bool:
        records = [stack.record(u.video_id) for u in uploads]
        return all(r is not None and r.status == PARSE for r in records)

    stack.wait_for(all_parsed, timeout=(DROPS - 1) * 60 / RATE * 1.05 + 30, what="every video PARSE")

    # with exactly one billed call each, and not one refused for the rate
    calls = stack.emulator.calls()
    for upload in uploads:
        mine = [c for c in calls if trace_tag(upload.video_id) in c["form"].get("tags", [])]
        assert [c["outcome"] for c in mine] == ["accepted"], upload.key
    assert stack.emulator.billed_calls() == DROPS
    assert not [c for c in calls if c["outcome"] == "rate_limited"]
    # never more than the limit in any 60 s window, and never two calls closer than the limit's spacing
    accepted = sorted(c["at"] for c in calls if c["outcome"] == "accepted")
    assert max_in_window(accepted, 60.0) <= RATE
    assert min(b - a for a, b in itertools.pairwise(accepted)) >= 60 / RATE
    # at close to the rate: the burst took no more than 1.2 x the ideal (N - 1) x 5 s
    assert accepted[-1] - accepted[0] <= (DROPS - 1) * 60 / RATE * 1.2

    # Each one waited in line and went once; the reconciler, running all along, never took a
    # waiting video for an orphan (it would show in the history as a reconcile step before UNPARSE)
    waited = 0
    for upload in uploads:
        record = stack.record(upload.video_id)
        assert record is not None
        steps = [(s.to_status, s.by) for s in record.history]
        assert steps[:2] == [(QUEUED, "ingest"), (SUBMITTING, "ingest")], steps
        assert [s for s, _ in steps].count(SUBMITTING) == 1
        assert UNPARSE in [s for s, _ in steps] or steps[-1] == (PARSE, "callback")
        queued, submitted = record.history[0].at, record.history[1].at
        waited += epoch(submitted) - epoch(queued) > 5.0
    assert waited >= DROPS - 2, "the rate should have made most videos wait past the inline 5 s"

    # Nothing dead-lettered, nothing left in line
    dlq = stack.session.client("sqs").get_queue_attributes(
        QueueUrl=stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert dlq["ApproximateNumberOfMessages"] == "0"
    ordered = sorted(uploads, key=lambda u: epoch(stack.record(u.video_id).history[1].at))  # type: ignore[union-attr]
    print(
        f"\n{DROPS} drops at {RATE}/min: {len(accepted)} billed calls in {accepted[-1] - accepted[0]:.1f} s"
        f" (ideal {(DROPS - 1) * 60 / RATE:.1f} s), max {max_in_window(accepted, 60.0)} in any 60 s,"
        f" smallest gap {min(b - a for a, b in itertools.pairwise(accepted)):.2f} s,"
        f" submission order {[u.key.rsplit('-', 1)[1] for u in ordered]}"
    )
