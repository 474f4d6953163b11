"""Shippo: label carrier (carrier.py) and tracking source (tracking.py; testkit.py for tests)."""
