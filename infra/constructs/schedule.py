"""An EventBridge rule that invokes a function on a schedule (the reconciler, and the ingest line)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

__all__ = ["FunctionSchedule"]


class FunctionSchedule(Construct):
    """Invokes ``handler`` on ``schedule`` (an EventBridge ``rate(...)`` or ``cron(...)`` expression).

    A run delivered late is worthless (the next one comes soon and does the same work), so events
    older than ``max_event_age`` (default one minute) are dropped rather than retried.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        schedule: str,
        description: str,
        max_event_age: Duration | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description=description,
            schedule=events.Schedule.expression(schedule),
            targets=[
                targets.LambdaFunction(
                    handler, max_event_age=max_event_age or Duration.minutes(1), retry_attempts=2
                )
            ],
        )
