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


_CONTENT_TYPES = {"PDF": "application/pdf", "PNG": "image/png", "ZPL": "application/zpl"}


class LabelFiles:
    """Label files in the private, encrypted labels bucket; shoppers get short-lived links."""

    def __init__(self, bucket: str) -> None:
        self._bucket = bucket

    def store(self, rma: str, files: dict[str, bytes]) -> dict[str, str]:
        keys = {}
        for label_format, body in files.items():
            key = f"labels/{rma}/label.{label_format.lower()}"
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
