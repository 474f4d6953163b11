"""Shopify: the commerce connector (order intake by webhook). See docs/connectors.md."""
