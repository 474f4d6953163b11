"""Homeward's own cfn-lint rules (template hygiene), loaded through .cfnlintrc `append_rules`.

cfn-lint imports every `[A-Za-z1-9]*.py` file here as a stand-alone module, so each rule file
is self-contained (no imports between them). IDs E91xx are ours; cfn-lint uses none in E9xxx.

    E9101  every Lambda function has its own /aws/lambda/<function> log group with retention
    E9102  function IAM: no wildcard actions, no Resource "*" for data actions, no broad
           managed policies or SAM policy templates
    E9103  every DynamoDB table: point-in-time recovery, SSE, DeletionPolicy Retain

Tests: tests/infra/test_template.py (each rule fires on a bad snippet, passes on template.yaml).
"""
