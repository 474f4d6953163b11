"""S3: presigned uploads for return photos and label files (the buckets stay private).

This module builds the objects' keys: `photos/<order_id>/<32 hex>.<ext>` in the photos bucket
(the format and `is_photo_of` are the model's, models/returns.py, for the domain's check)
(only the shopper of that order may upload there), `labels/<rma>/label.<format>` in the labels
bucket.
"""

from __future__ import annotations

import uuid

from homeward.adapters.aws import client
from homeward.models.returns import PHOTOS_PREFIX


def photo_key(order_id: str, content_type: str) -> str:
    """A new, unguessable key for one photo of an order (`image/jpeg` is stored as `.jpg`)."""
    extension = content_type.split("/")[1].replace("jpeg", "jpg")
    return f"{PHOTOS_PREFIX}{order_id}/{uuid.uuid4().hex}.{extension}"


def label_key(rma: str, label_format: str) -> str:
    return f"labels/{rma}/label.{label_format.lower()}"


def presigned_photo_post(bucket: str, key: str, content_type: str, *, max_bytes: int, expires: int) -> dict:
    """A POST policy that only accepts this key, this content type and at most `max_bytes`."""
    return client("s3").generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=expires,
    )


_CONTENT_TYPES = {"PDF": "application/pdf", "PNG": "image/png", "ZPL": "application/zpl"}


class LabelFiles:
    """Label files in the private, encrypted labels bucket; shoppers get short-lived links."""

    def __init__(self, bucket: str) -> None:
        self._bucket = bucket

    def store(self, rma: str, files: dict[str, bytes]) -> dict[str, str]:
        keys = {}
        for label_format, body in files.items():
            key = label_key(rma, label_format)
            client("s3").put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType=_CONTENT_TYPES[label_format],
                ServerSideEncryption="AES256",
            )
            keys[label_format] = key
        return keys

    def link(self, key: str, *, filename: str, expires: int) -> str:
        return client("s3").generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires,
        )
