"""Pydantic models: requests, responses, stored entities and shared constrained types."""
