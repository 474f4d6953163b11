"""Lambda event filtering (`FilterCriteria`): does a record match a filter pattern?

The pattern language is EventBridge's: a pattern mirrors the record's structure and lists
acceptable values at the leaves - literals, or `prefix`, `suffix`, `equals-ignore-case`,
`anything-but`, `numeric` and `exists` matchers; `$or` joins alternatives. A record passes a
`FilterCriteria` when it matches any of its patterns.
"""

from __future__ import annotations

import json
import operator

_MISSING = object()
_COMPARE = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def passes(filter_criteria: dict | None, record: dict) -> bool:
    """True when there is no filter or any of its patterns matches."""
    filters = (filter_criteria or {}).get("Filters") or []
    if not filters:
        return True
    return any(matches(_pattern(f["Pattern"]), record) for f in filters)


def _pattern(pattern) -> dict:
    return json.loads(pattern) if isinstance(pattern, str) else pattern


def matches(pattern: dict, value) -> bool:
    """Match a (sub)pattern against a (sub)record."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(alternative, value) for alternative in expected):
                return False
            continue
        actual = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if isinstance(expected, dict):
            if actual is _MISSING or not matches(expected, actual):
                return False
        elif not any(_leaf(rule, actual) for rule in expected):
            return False
    return True


def _leaf(rule, actual) -> bool:
    """One acceptable value from a pattern's list against a record's value (or list of values)."""
    if isinstance(rule, dict) and "exists" in rule:
        return (actual is not _MISSING) == bool(rule["exists"])
    if actual is _MISSING:
        return False
    if isinstance(actual, list):
        return any(_leaf(rule, item) for item in actual)
    if not isinstance(rule, dict):
        return _equal(rule, actual)
    ((kind, arg),) = rule.items()
    operator_ = _OPERATORS.get(kind)
    if operator_ is None:
        raise ValueError(f"filter operator {kind!r} is not supported locally")
    return operator_(arg, actual)


def _prefix(arg, actual) -> bool:
    return isinstance(actual, str) and _affix(arg, actual, str.startswith)


def _suffix(arg, actual) -> bool:
    return isinstance(actual, str) and _affix(arg, actual, str.endswith)


def _equals_ignore_case(arg, actual) -> bool:
    return isinstance(actual, str) and actual.lower() == arg.lower()


def _anything_but(arg, actual) -> bool:
    if isinstance(arg, dict):
        return not _leaf(arg, actual)
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_equal(e, actual) for e in excluded)


def _numeric(arg, actual) -> bool:
    number = _number(actual)
    return number is not None and all(
        _COMPARE[op](number, bound) for op, bound in zip(arg[::2], arg[1::2], strict=True)
    )


_OPERATORS = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _equals_ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
}


def _affix(arg, actual: str, test) -> bool:
    if isinstance(arg, dict):  # {"prefix": {"equals-ignore-case": "abc"}}
        return test(actual.lower(), arg["equals-ignore-case"].lower())
    return test(actual, arg)


def _equal(expected, actual) -> bool:
    """JSON equality: 5 matches 5.0 but not "5", and true is not 1."""
    if _number(expected) is not None:
        return _number(actual) == expected
    return type(expected) is type(actual) and expected == actual


def _number(value) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
