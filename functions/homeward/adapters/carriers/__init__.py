"""What the label carriers share: the HTTP client (_http.py) and money, rates and addresses
(_common.py). The carriers themselves are homeward/providers/<name>/carrier.py, built by name
with homeward.providers.carriers.carrier_for.
"""
