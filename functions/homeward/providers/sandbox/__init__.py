"""The sandbox: the local default label carrier (carrier.py), no network, no account."""
