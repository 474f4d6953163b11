"""Read template.yaml (with CloudFormation's short-form tags) into plain Python data.

Everything local that needs to know the application's shape - the local stack, the
OpenAPI generator, the infrastructure tests - reads it through here, so template.yaml
stays the one wiring list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns `!Ref X` into {"Ref": "X"} and `!Sub ...` into {"Fn::Sub": ...}."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class FunctionSpec:
    """One AWS::Serverless::Function with Globals applied."""

    logical_id: str
    handler: str
    code_uri: str
    environment: dict
    events: dict
    properties: dict = field(repr=False)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


def functions(template: dict | None = None) -> list[FunctionSpec]:
    """Every function in the template, with Globals.Function merged under its own properties."""
    template = template or load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    result = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = {**defaults, **resource.get("Properties", {})}
        env = {
            **defaults.get("Environment", {}).get("Variables", {}),
            **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        }
        result.append(
            FunctionSpec(
                logical_id=logical_id,
                handler=props["Handler"],
                code_uri=props.get("CodeUri", "."),
                environment=env,
                events=props.get("Events", {}) or {},
                properties=props,
            )
        )
    return result


def http_routes(template: dict | None = None) -> list[tuple[str, str, FunctionSpec]]:
    """(method, path, function) for every HttpApi event in the template."""
    routes = []
    for fn in functions(template):
        for event in fn.events.values():
            if event.get("Type") == "HttpApi":
                props = event.get("Properties", {})
                routes.append((props.get("Method", "ANY").upper(), props.get("Path", "/"), fn))
    return routes


def parameter_defaults(template: dict | None = None) -> dict[str, str]:
    template = template or load_template()
    return {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}


NO_VALUE = object()  # what `!Ref AWS::NoValue` resolves to: the property is dropped


def resolve(value, refs: dict[str, str], attrs: dict[tuple[str, str], str] | None = None):
    """Resolve Ref / GetAtt / Sub / If / Join / Select / Split against known names.

    `!Ref AWS::NoValue` removes the list item or mapping key it stands in, as in CloudFormation.

    `refs` maps logical ids and parameter names (and pseudo parameters such as
    AWS::Region) to what `Ref` returns; `attrs` maps (logical id, attribute) to `GetAtt`.
    Conditions are evaluated as false unless named in refs as "Condition:<name>" = "true".
    """
    attrs = attrs or {}
    if isinstance(value, list):
        return [item for item in (resolve(v, refs, attrs) for v in value) if item is not NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) != 1 or next(iter(value)) not in _INTRINSICS:
        resolved = {k: resolve(v, refs, attrs) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}
    ((fn, arg),) = value.items()
    return _INTRINSICS[fn](arg, refs, attrs)


def _ref(arg, refs: dict[str, str], attrs: dict):
    return NO_VALUE if arg == "AWS::NoValue" else refs[arg]


def _get_att(arg, refs: dict[str, str], attrs: dict):
    logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
    return attrs[(logical_id, attribute)]


def _sub(arg, refs: dict[str, str], attrs: dict) -> str:
    text, local = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1], refs, attrs))
    import re

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name in local:
            return str(local[name])
        if "." in name and name.split(".", 1)[0] in refs:
            logical_id, attribute = name.split(".", 1)
            return attrs[(logical_id, attribute)]
        return str(refs[name])

    return re.sub(r"\$\{([^}!]+)\}", substitute, text)


def _if(arg, refs: dict[str, str], attrs: dict):
    condition, if_true, if_false = arg
    chosen = if_true if refs.get(f"Condition:{condition}") == "true" else if_false
    return resolve(chosen, refs, attrs)


def _join(arg, refs: dict[str, str], attrs: dict) -> str:
    separator, items = arg
    return separator.join(str(i) for i in resolve(items, refs, attrs))


def _select(arg, refs: dict[str, str], attrs: dict):
    index, items = arg
    return resolve(items, refs, attrs)[int(index)]


def _split(arg, refs: dict[str, str], attrs: dict) -> list[str]:
    separator, text = arg
    return str(resolve(text, refs, attrs)).split(separator)


# The intrinsics `resolve` reads, and how.
_INTRINSICS = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::If": _if,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
}


def dynamodb_table_kwargs(logical_id: str, table_name: str, template: dict | None = None) -> dict:
    """`create_table` arguments for a table in the template (key schema, indexes, stream)."""
    props = (template or load_template())["Resources"][logical_id]["Properties"]
    kwargs = {
        "TableName": table_name,
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return kwargs
