"""Homeward's generic Standard-Webhooks format for in-house carriers and 3PLs: tracking source
(tracking.py; testkit.py for tests)."""
