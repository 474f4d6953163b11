"""E9101: every Lambda function has an explicit /aws/lambda/<function> log group with retention.

Without one, Lambda creates the group on first invocation with "never expire" retention, the
group outlives `sam delete`, and nobody pays attention to it until the bill does.
"""

from __future__ import annotations

import re

from cfnlint.rules import CloudFormationLintRule, RuleMatch

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
_SUB_NAME = re.compile(r"^/aws/lambda/\$\{([A-Za-z0-9]+)\}$")


def _function_of(log_group_name) -> str | None:
    """The logical id X for a LogGroupName of `!Sub /aws/lambda/${X}` or a Join of `/aws/lambda/` + Ref X."""
    if not isinstance(log_group_name, dict) or len(log_group_name) != 1:
        return None
    ((fn, arg),) = log_group_name.items()
    if fn == "Fn::Sub":
        text = arg[0] if isinstance(arg, list) and arg else arg
        match = _SUB_NAME.match(text) if isinstance(text, str) else None
        return match.group(1) if match else None
    if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and arg[0] == "":
        parts = arg[1]
        if (
            isinstance(parts, list)
            and len(parts) == 2
            and parts[0] == "/aws/lambda/"
            and isinstance(parts[1], dict)
            and set(parts[1]) == {"Ref"}
        ):
            return str(parts[1]["Ref"])
    return None


class LambdaLogGroups(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "Lambda functions have a log group with retention"
    description = (
        "Every AWS::Serverless::Function / AWS::Lambda::Function needs an AWS::Logs::LogGroup named "
        "!Sub /aws/lambda/${Function} (or the group its LoggingConfig.LogGroup refers to) "
        "with RetentionInDays."
    )
    source_url = "https://github.com/homeward/homeward/blob/main/infra/lint_rules/LambdaLogGroups.py"
    tags = ["homeward", "logs", "lambda"]

    def match(self, cfn):
        matches = []
        log_groups = cfn.get_resources(["AWS::Logs::LogGroup"])
        by_function: dict[str, str] = {}
        for name, resource in log_groups.items():
            function = _function_of((resource.get("Properties") or {}).get("LogGroupName"))
            if function:
                by_function.setdefault(function, name)

        for function, resource in cfn.get_resources(list(FUNCTION_TYPES)).items():
            props = resource.get("Properties") or {}
            group = by_function.get(function)
            custom = (props.get("LoggingConfig") or {}).get("LogGroup")
            if (
                group is None
                and isinstance(custom, dict)
                and set(custom) == {"Ref"}
                and custom["Ref"] in log_groups
            ):
                group = custom["Ref"]
            if group is None:
                matches.append(
                    RuleMatch(
                        ["Resources", function],
                        f"Function {function} has no AWS::Logs::LogGroup named "
                        f"!Sub /aws/lambda/${{{function}}}; Lambda would create one that never expires",
                    )
                )
                continue
            group_props = log_groups[group].get("Properties") or {}
            if group_props.get("RetentionInDays") in (None, ""):
                matches.append(
                    RuleMatch(
                        ["Resources", group, "Properties"],
                        f"Log group {group} (function {function}) has no RetentionInDays",
                    )
                )
        return matches
