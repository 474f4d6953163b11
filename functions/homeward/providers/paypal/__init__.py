"""PayPal: refunds of Orders v2 captures (payments.py) and their webhooks (webhooks.py)."""
