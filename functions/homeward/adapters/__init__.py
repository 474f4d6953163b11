"""Adapters: the only modules that talk to AWS or external HTTP services."""
