"""Bench sections, one module each (see infra/bench/__init__.py for the contract)."""
