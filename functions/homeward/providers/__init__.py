"""One package per external provider (carriers, tracking aggregators, payment providers).

Each package holds everything about its provider; `registry.py` lists them, once. Nothing
here is imported until a provider is asked for by name (cold start: see registry.py).
"""
