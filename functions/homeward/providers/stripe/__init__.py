"""Stripe: payment provider (payments.py, the SDK imported only there) and refund webhooks
(webhooks.py)."""
