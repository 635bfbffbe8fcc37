"""Results beside the video, locally (``writeResults``): the results bucket, the results queue with
its dead-letter queue, and the rule on moto's default EventBridge bus that sends the status events
to PARSE to the queue, as infra/constructs/results.py defines them. The stack's SqsPoller feeds the
real results handler from the queue.

What only matters on AWS (encryption, SSL-only policies, the queue policy for the rule) is left out:
moto does not enforce it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

import boto3

from functions.core import env
from functions.core import events as contract
from functions.core.results import ResultsConfig, max_receives
from functions.core.settings import ResultsSettings
from functions.core.status import PARSE

__all__ = [
    "LOCAL_RESULTS_DEFAULTS",
    "ResultsNames",
    "ResultsResources",
    "create_results_resources",
    "redrive",
]

# The retry schedule locally, unless the environment says otherwise: seconds, not minutes, so a
# held result shows its retries within a session (deployed: 60 s doubling to an hour, a day at most).
LOCAL_RESULTS_DEFAULTS: Final = {
    env.RESULTS_RETRY_BASE_SECONDS: "1",
    env.RESULTS_RETRY_MAX_SECONDS: "4",
    env.RESULTS_MAX_WAIT_SECONDS: "300",
}


@dataclass(frozen=True, slots=True)
class ResultsNames:
    bucket: str = "memories-ingest-results"
    queue: str = "memories-ingest-results"
    dead_letter_queue: str = "memories-ingest-results-dlq"
    rule: str = "memories-ingest-results-parsed"


@dataclass(frozen=True, slots=True)
class ResultsResources:
    bucket: str
    queue_url: str
    dead_letter_queue_url: str
    rule: str

    def environment(self) -> dict[str, str]:
        """The results function's variables that name these resources."""
        return {
            env.RESULTS_BUCKET_NAME: self.bucket,
            env.RESULTS_QUEUE_URL: self.queue_url,
            env.RESULTS_DEAD_LETTER_QUEUE_URL: self.dead_letter_queue_url,
        }


def create_results_resources(
    session: boto3.Session, *, visibility_timeout_seconds: int, names: ResultsNames | None = None
) -> ResultsResources:
    """Create them on the endpoints ``session`` resolves to (the queue's redrive comes with
    ``redrive``, once the function's settings, which name the queue, can be read)."""
    names = names or ResultsNames()
    sqs = session.client("sqs")
    dlq_url = sqs.create_queue(QueueName=names.dead_letter_queue)["QueueUrl"]
    queue_url = sqs.create_queue(
        QueueName=names.queue, Attributes={"VisibilityTimeout": str(visibility_timeout_seconds)}
    )["QueueUrl"]
    session.client("s3").create_bucket(Bucket=names.bucket)
    events = session.client("events")
    pattern = {
        "source": [contract.SOURCE],
        "detail-type": [contract.STATUS_CHANGED],
        "detail": {"to_status": [PARSE]},
    }
    events.put_rule(Name=names.rule, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(
        Rule=names.rule, Targets=[{"Id": "results-queue", "Arn": _queue_arn(session, queue_url)}]
    )
    return ResultsResources(
        bucket=names.bucket, queue_url=queue_url, dead_letter_queue_url=dlq_url, rule=names.rule
    )


def redrive(session: boto3.Session, resources: ResultsResources, settings: ResultsSettings) -> int:
    """The dead-letter queue after the receives ``settings``' retry schedule makes, plus a margin,
    as the CDK stack sizes it for the deployed schedule; returns that count."""
    config = ResultsConfig(
        results_bucket=resources.bucket,
        retry_base_seconds=settings.retry_base_seconds,
        retry_max_seconds=settings.retry_max_seconds,
        max_wait_seconds=settings.max_wait_seconds,
    )
    count = max_receives(config)
    policy = {
        "deadLetterTargetArn": _queue_arn(session, resources.dead_letter_queue_url),
        "maxReceiveCount": count,
    }
    session.client("sqs").set_queue_attributes(
        QueueUrl=resources.queue_url, Attributes={"RedrivePolicy": json.dumps(policy)}
    )
    return count


def _queue_arn(session: boto3.Session, queue_url: str) -> str:
    attributes = session.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]
