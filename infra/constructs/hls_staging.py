"""The staging bucket for derived HLS playlists (functions.core.hls).

A playlist dropped with relative URIs is submitted as a derived copy whose URIs are presigned; that
copy has to live somewhere the provider can fetch through a presigned URL, and never in the source
bucket, where a new object is a new upload to ingest. This bucket has no notifications, is private,
SSE-S3 encrypted (presigned GETs of SSE-KMS objects would need kms:Decrypt for the signer and a KMS
request per fetch), SSL-only, and expires what it holds after ``EXPIRY``: longer than any presigned
URL can live, so no derived playlist disappears while a URL to it is still valid.
"""

from __future__ import annotations

import math
from typing import Final

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.core.hls import STAGING_PREFIX
from functions.core.settings import SIGV4_MAX_PRESIGN_SECONDS

__all__ = ["EXPIRY", "HlsStaging"]

# A day beyond SigV4's longest presigned URL (7 days), whatever presignedUrlTtlSeconds is set to.
EXPIRY: Final = Duration.days(math.ceil(SIGV4_MAX_PRESIGN_SECONDS / 86400) + 1)


class HlsStaging(Construct):
    """``bucket``: derived playlists under ``hls/<video_id>/``. Server access logs go to
    ``access_log_bucket`` (under ``hls-staging/``) when the stack has one (it has none when it
    adopts an existing source bucket)."""

    def __init__(self, scope: Construct, construct_id: str, *, access_log_bucket: s3.IBucket | None) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix="hls-staging/" if access_log_bucket is not None else None,
            lifecycle_rules=[
                s3.LifecycleRule(expiration=EXPIRY, abort_incomplete_multipart_upload_after=Duration.days(1))
            ],
            # Everything in it is derived and expires; nothing is lost with it.
            removal_policy=RemovalPolicy.DESTROY,
        )

    @property
    def objects_arn(self) -> str:
        return self.bucket.arn_for_objects(f"{STAGING_PREFIX}*")

    def grant_ingest(self, grantee: iam.IGrantable) -> None:
        """Write the derived playlists, and read them: a presigned URL works only for what its
        signer may GET."""
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:PutObject", "s3:GetObject"], resource_arns=[self.objects_arn]
        )
