"""The status table: one item per video, keyed and indexed as ``functions.core.table`` defines."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from functions.core import table as schema

__all__ = ["StatusTable"]


class StatusTable(Construct):
    """On-demand table with point-in-time recovery, TTL and the four indexes the functions query.

    Retained when the stack is deleted unless ``destroy_on_delete``: it is the only record of what
    was submitted (and billed) and of each video's provider number. With ``stream``, every write
    is on its DynamoDB stream with the item before and after (the status events read it).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, destroy_on_delete: bool = False, stream: bool = False
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=schema.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            # Traffic is a few writes per video; on-demand costs nothing while idle.
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # The AWS-managed key (aws/dynamodb) rather than the AWS-owned one: its use shows in
            # CloudTrail, at no monthly cost and with no key policy to maintain.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY if destroy_on_delete else RemovalPolicy.RETAIN,
            # Nobody deletes the only record of what was billed by mistake (console, CLI, a stack change).
            deletion_protection=not destroy_on_delete,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if stream else None,
        )
        # Full projections: the reconciler and operators read whole records from both indexes.
        self._index(schema.STATUS_INDEX, schema.STATUS_INDEX_PARTITION_KEY, schema.STATUS_INDEX_SORT_KEY)
        self._index(schema.VIDEO_NO_INDEX, schema.VIDEO_NO_INDEX_PARTITION_KEY)
        # The line of videos waiting for an upload slot: sparse (QUEUED records only), oldest first;
        # entries carry only what a drainer needs to pick the next due video.
        self._index(
            schema.LINE_INDEX,
            schema.LINE_INDEX_PARTITION_KEY,
            schema.LINE_INDEX_SORT_KEY,
            projection=dynamodb.ProjectionType.INCLUDE,
            projected=schema.LINE_INDEX_PROJECTED,
        )
        # Every recorded version of one object, newest first (the status API). Keys only: the API
        # reads each version's record from the table, so the index holds no copy of any history.
        self._index(
            schema.OBJECT_INDEX,
            schema.OBJECT_INDEX_PARTITION_KEY,
            schema.OBJECT_INDEX_SORT_KEY,
            projection=dynamodb.ProjectionType.KEYS_ONLY,
        )

    def _index(
        self,
        name: str,
        partition_key: str,
        sort_key: str | None = None,
        *,
        projection: dynamodb.ProjectionType = dynamodb.ProjectionType.ALL,
        projected: tuple[str, ...] = (),
    ) -> None:
        """A global secondary index on string keys."""
        self.table.add_global_secondary_index(
            index_name=name,
            partition_key=dynamodb.Attribute(name=partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=(
                dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING) if sort_key else None
            ),
            projection_type=projection,
            non_key_attributes=list(projected) if projected else None,
        )
