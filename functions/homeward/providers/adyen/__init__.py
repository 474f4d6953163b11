"""Adyen: payment provider (payments.py, Checkout API refunds over urllib3) and its standard
notifications for refund outcomes (webhooks.py)."""
