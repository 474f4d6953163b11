"""Homeward's local stack: moto for AWS, the template's resources, and the real handlers over HTTP.

    python -m infra.local              # what `make run` starts
    python -m infra.local --help

Everything comes from template.yaml: the resources are created in moto from their own
definitions, every HttpApi route is served on one port, and the template's DynamoDB stream,
SQS, SNS and schedule events are delivered to their handlers in Lambda's shapes.
See docs/local-stack.md.
"""

from infra.local.stack import LocalStack

__all__ = ["LocalStack"]
