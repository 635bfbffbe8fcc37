"""Object metadata and presigned GET URLs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from functions.core.ports import ObjectInfo

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

_GONE: Final = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})


class S3Objects:
    """``client`` must sign with SigV4 (``Config(signature_version="s3v4")``): a presigned URL is
    only as long-lived as the credentials that sign it, and SigV4 is what states its expiry."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo | None:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        try:
            response = self._client.head_object(**params)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _GONE:
                return None
            raise
        return ObjectInfo(
            size=int(response.get("ContentLength", 0)), metadata=dict(response.get("Metadata", {}))
        )

    def presign_get(self, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        return self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl_seconds)
