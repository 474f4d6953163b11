"""AfterShip: tracking source (tracking.py; testkit.py for tests)."""
