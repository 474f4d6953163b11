"""S3: presigned uploads for return photos (the bucket stays private)."""

from __future__ import annotations

from homeward.adapters.aws import client


def presigned_photo_post(bucket: str, key: str, content_type: str, *, max_bytes: int, expires: int) -> dict:
    """A POST policy that only accepts this key, this content type and at most `max_bytes`."""
    return client("s3").generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=expires,
    )
