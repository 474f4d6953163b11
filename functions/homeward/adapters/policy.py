"""Where the return policy comes from.

The default ships with the code (homeward/policy/return-policy.json). When the function
has RETURN_POLICY_PARAMETER set and that SSM parameter exists, its JSON replaces the
default within five minutes of an edit, with no redeploy. A parameter that fails
validation is refused loudly (the function answers 503) rather than half-applied.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from homeward.adapters.aws import client
from homeward.errors import DependencyFailed
from homeward.models.policy import ReturnPolicy

BUNDLED = Path(__file__).resolve().parent.parent / "policy" / "return-policy.json"
_MAX_AGE_SECONDS = 300


@cache
def bundled_policy() -> ReturnPolicy:
    return ReturnPolicy.model_validate_json(BUNDLED.read_text())


@cache
def _provider():
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=client("ssm"))


def load_policy(parameter_name: str | None) -> ReturnPolicy:
    """The SSM override if configured and present, else the bundled default."""
    if not parameter_name:
        return bundled_policy()
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
    from pydantic import ValidationError

    try:
        raw = _provider().get(parameter_name, max_age=_MAX_AGE_SECONDS)
    except GetParameterError as exc:
        if "ParameterNotFound" in str(exc):
            return bundled_policy()
        raise DependencyFailed("Could not read the return policy") from exc
    try:
        return ReturnPolicy.model_validate_json(raw)
    except ValidationError as exc:
        raise DependencyFailed(
            "The configured return policy is invalid", details={"errors": exc.errors(include_url=False)}
        ) from exc
