"""Object metadata and presigned GET URLs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from functions.core.errors import ObjectUnreadable
from functions.core.hls import PLAYLIST_CONTENT_TYPE, ListedObject
from functions.core.ports import ObjectInfo

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

_GONE: Final = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})
# A range from byte 0 is unsatisfiable only for an empty object.
_EMPTY: Final = frozenset({"416", "InvalidRange"})
# S3 refuses the caller (its policy or the bucket's), or KMS refuses to decrypt an SSE-KMS object
# (S3 answers KMS.DisabledException, KMS.KMSInvalidStateException, ... or AccessDenied naming kms:Decrypt).
_REFUSED: Final = frozenset({"403", "AccessDenied", "Forbidden", "AllAccessDisabled"})


def _unreadable(exc: ClientError) -> ObjectUnreadable | None:
    code = _error_code(exc)
    message = str(exc.response.get("Error", {}).get("Message") or "")
    kms = code.startswith("KMS.") or "kms" in message.lower()
    if code in _REFUSED or code.startswith("KMS."):
        return ObjectUnreadable(code, message or "access denied", kms=kms)
    return None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def _params(bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    return params


def _etag(response: Mapping[str, Any]) -> str | None:
    """S3's API quotes the ETag; its event notifications do not: compared, they must match."""
    etag = response.get("ETag")
    return str(etag).strip('"') if etag else None


def _total_size(response: Mapping[str, Any]) -> int:
    """``Content-Range: bytes 0-4095/12345`` names the whole object's size; without it the body is all."""
    content_range = str(response.get("ContentRange") or "")
    total = content_range.rpartition("/")[2]
    return int(total) if total.isdigit() else int(response.get("ContentLength", 0))


class S3Objects:
    """``client`` must sign with SigV4 (``Config(signature_version="s3v4")``): a presigned URL is
    only as long-lived as the credentials that sign it, and SigV4 is what states its expiry."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo | None:
        try:
            response = self._client.head_object(**_params(bucket, key, version_id))
        except ClientError as exc:
            if _error_code(exc) in _GONE:
                return None
            raise
        return ObjectInfo(
            size=int(response.get("ContentLength", 0)),
            metadata=dict(response.get("Metadata", {})),
            version_id=response.get("VersionId"),
            etag=_etag(response),
        )

    def peek(self, bucket: str, key: str, version_id: str | None, length: int) -> ObjectInfo | None:
        """One ranged GET: the size S3 reports, the user metadata, the version, and the first bytes."""
        try:
            response = self._client.get_object(
                **_params(bucket, key, version_id), Range=f"bytes=0-{max(0, length - 1)}"
            )
        except ClientError as exc:
            code = _error_code(exc)
            if code in _GONE:
                return None
            if code in _EMPTY:
                return self.head(bucket, key, version_id)
            unreadable = _unreadable(exc)
            if unreadable is not None:
                raise unreadable from exc
            raise
        with response["Body"] as body:
            head = body.read(length)
        return ObjectInfo(
            size=_total_size(response),
            metadata=dict(response.get("Metadata", {})),
            version_id=response.get("VersionId"),
            etag=_etag(response),
            head=head,
        )

    def latest_version(self, bucket: str, key: str) -> str | None:
        paginator = self._client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key):
            # Newest first within a key; other keys share the prefix (``a.mp4`` and ``a.mp4.bak``).
            for version in page.get("Versions", []):
                if version["Key"] == key:
                    version_id = version.get("VersionId")
                    return version_id if version_id and version_id != "null" else None
        return None

    def presign_get(self, bucket: str, key: str, version_id: str | None, ttl_seconds: int) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params=_params(bucket, key, version_id), ExpiresIn=ttl_seconds
        )

    def latest_versions(
        self, bucket: str, prefix: str, last_key: str, limit: int | None = None
    ) -> dict[str, ListedObject]:
        """One ListObjectVersions (paged) of the keys under ``prefix`` in its folder, up to ``last_key``
        (or about ``limit`` keys): the newest version of each (absent when that is a delete marker),
        with its size."""
        found: dict[str, ListedObject] = {}
        seen = 0
        paginator = self._client.get_paginator("list_object_versions")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
                seen += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
                for version in page.get("Versions", []):
                    if version.get("IsLatest") and version["Key"] <= last_key:
                        version_id = version.get("VersionId")
                        found[version["Key"]] = ListedObject(
                            size=int(version.get("Size", 0)),
                            version_id=version_id if version_id and version_id != "null" else None,
                        )
                # Keys come in order: once the next page starts past the last one wanted, stop.
                if str(page.get("NextKeyMarker") or "") >= last_key or not page.get("IsTruncated"):
                    break
                if limit is not None and seen >= limit:
                    break
        except ClientError as exc:
            unreadable = _unreadable(exc)
            if unreadable is not None:
                raise unreadable from exc
            raise
        return found

    def put_playlist(self, bucket: str, key: str, body: bytes) -> None:
        """Write a derived HLS playlist (the staging bucket's default encryption applies)."""
        self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=PLAYLIST_CONTENT_TYPE)
