"""Logger and Metrics shared by every function.

Logs are JSON with the request id as correlation id; emails and phone numbers are masked
in every line. Metrics are CloudWatch EMF. There is deliberately no Powertools `Tracer`:
importing the X-Ray SDK behind it costs ~270 ms of cold start here, while `Tracing: Active`
in the template already records each invocation and its AWS calls at the Lambda level.
"""

from __future__ import annotations

import logging

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from homeward.domain.shared.pii import mask_text


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with PII masked in the final line."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


logger = Logger(logger_formatter=MaskingFormatter())
metrics = Metrics()
