"""The ledger: the built-in payment provider (payments.py), refunds recorded in the table."""
