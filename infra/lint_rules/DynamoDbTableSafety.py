"""E9103: every DynamoDB table keeps its data: point-in-time recovery, encryption, Retain.

The table is the merchant's order and returns history; `sam delete`, a replacement caused by
a key-schema edit, or a bad write must never lose it.
"""

from __future__ import annotations

from cfnlint.rules import CloudFormationLintRule, RuleMatch


def _true(value) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


class DynamoDbTableSafety(CloudFormationLintRule):
    id = "E9103"
    shortdesc = "DynamoDB tables have PITR, SSE and DeletionPolicy Retain"
    description = (
        "AWS::DynamoDB::Table needs PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled: true, "
        "SSESpecification.SSEEnabled: true, DeletionPolicy: Retain and UpdateReplacePolicy: Retain. "
        "AWS::Serverless::SimpleTable cannot express these and is refused."
    )
    source_url = "https://github.com/homeward/homeward/blob/main/infra/lint_rules/DynamoDbTableSafety.py"
    tags = ["homeward", "dynamodb", "data-protection"]

    def match(self, cfn):
        matches = []
        for name in cfn.get_resources(["AWS::Serverless::SimpleTable"]):
            matches.append(
                RuleMatch(
                    ["Resources", name, "Type"],
                    f"{name}: use AWS::DynamoDB::Table (SimpleTable has no PITR or DeletionPolicy control)",
                )
            )
        for name, resource in cfn.get_resources(["AWS::DynamoDB::Table"]).items():
            props = resource.get("Properties") or {}
            pitr = (props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled")
            if not _true(pitr):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"{name}: PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled must be true",
                    )
                )
            sse = (props.get("SSESpecification") or {}).get("SSEEnabled")
            if not _true(sse):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties"], f"{name}: SSESpecification.SSEEnabled must be true"
                    )
                )
            for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
                if resource.get(policy) != "Retain":
                    matches.append(RuleMatch(["Resources", name], f"{name}: {policy} must be Retain"))
        return matches
