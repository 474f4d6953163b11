"""Parcel tracking: the normalized status vocabulary, webhook payloads, applying updates, and the
use cases."""
