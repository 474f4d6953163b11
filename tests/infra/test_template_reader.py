"""infra/template.py: CloudFormation short-form tags and intrinsic resolution."""

from __future__ import annotations

import textwrap

from infra.template import functions, http_routes, load_template, resolve

REFS = {"Table": "homeward-table", "AWS::Region": "us-east-1", "Stage": "dev", "Condition:IsProd": "false"}
ATTRS = {("Table", "Arn"): "arn:aws:dynamodb:us-east-1:123456789012:table/homeward-table"}


def test_short_form_tags_load_as_intrinsics(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        textwrap.dedent("""
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Handler: a.b.handler
              Environment:
                Variables: {T: !Ref Table, A: !GetAtt Table.Arn, S: !Sub "${Table}-x"}
    """)
    )
    env = load_template(path)["Resources"]["Fn"]["Properties"]["Environment"]["Variables"]
    assert env == {
        "T": {"Ref": "Table"},
        "A": {"Fn::GetAtt": ["Table", "Arn"]},
        "S": {"Fn::Sub": "${Table}-x"},
    }


def test_resolve_intrinsics():
    assert resolve({"Fn::Sub": "${Table.Arn}/index/gsi1"}, REFS, ATTRS).endswith("homeward-table/index/gsi1")
    assert (
        resolve({"Fn::Sub": ["${X}-${Stage}", {"X": {"Ref": "Table"}}]}, REFS, ATTRS) == "homeward-table-dev"
    )
    assert resolve({"Fn::Join": ["/", ["a", {"Ref": "Stage"}]]}, REFS, ATTRS) == "a/dev"
    assert resolve({"Fn::Select": [1, ["a", "b"]]}, REFS, ATTRS) == "b"
    assert resolve({"Fn::If": ["IsProd", 1, 2]}, REFS, ATTRS) == 2


def test_no_value_removes_the_item_or_key():
    statements = [{"Effect": "Allow"}, {"Fn::If": ["IsProd", {"Effect": "Deny"}, {"Ref": "AWS::NoValue"}]}]
    assert resolve(statements, REFS, ATTRS) == [{"Effect": "Allow"}]
    props = {"A": 1, "B": {"Fn::If": ["IsProd", 2, {"Ref": "AWS::NoValue"}]}}
    assert resolve(props, REFS, ATTRS) == {"A": 1}


def test_the_real_template_reads():
    names = {fn.logical_id for fn in functions()}
    assert {"MerchantApiFunction", "PortalApiFunction", "DomainEventsFunction"} <= names
    routes = {(method, path) for method, path, _ in http_routes()}
    assert ("PUT", "/orders/{orderId}") in routes and ("POST", "/portal/session") in routes


def test_every_operation_of_the_openapi_document_is_a_route_of_the_template():
    """A route added to a handler but not to its function's events would answer API Gateway's
    404 in production (and the local gateway's): the template is the one wiring source."""
    import json

    from infra.template import ROOT

    document = json.loads((ROOT / "functions" / "homeward" / "openapi.json").read_text())
    methods = {"get", "post", "put", "patch", "delete"}
    operations = {(m.upper(), path) for path, ops in document["paths"].items() for m in ops if m in methods}
    routes = {(method, path) for method, path, _ in http_routes()}
    assert operations - routes == set()
    assert routes - operations == {("GET", "/docs"), ("GET", "/openapi.json")}  # the docs function's own
