"""`manual`: payments refunded by a person (bank transfer, cash, the shop's own till);
Homeward records the refund and ops confirm it by hand (payments.py)."""
