"""Return labels: the carrier port, buying/voiding exactly once, and rendering PDF/PNG/ZPL."""
