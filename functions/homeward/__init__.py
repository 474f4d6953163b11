"""Homeward: self-hosted returns and order tracking on AWS Lambda.

Layers (imports only ever point downwards):
    handlers/  thin Lambda entry points: decorators, parse, call one domain function
    domain/    pure rules (no boto3, no os.environ); raises typed errors from errors.py
    models/    pydantic request/response/entity models, shared constrained types
    adapters/  the only code that talks to AWS (boto3) or other HTTP services
    config.py  one settings model per function, validated once at cold start
"""

from homeward._deferred_packages import defer_all as _defer_all

_defer_all()  # before any import of Powertools' event handler: see homeward/_deferred_packages.py
