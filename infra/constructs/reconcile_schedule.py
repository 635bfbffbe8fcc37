"""The EventBridge rule that runs the reconcile function on a schedule."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

__all__ = ["ReconcileSchedule"]


class ReconcileSchedule(Construct):
    """Invokes ``handler`` on ``schedule`` (an EventBridge ``rate(...)`` or ``cron(...)`` expression)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction, schedule: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            description="Runs the memories.ai reconciler.",
            schedule=events.Schedule.expression(schedule),
            targets=[
                targets.LambdaFunction(
                    handler,
                    # A run delivered late is worthless: the next one is minutes away.
                    max_event_age=Duration.minutes(1),
                    retry_attempts=2,
                )
            ],
        )
