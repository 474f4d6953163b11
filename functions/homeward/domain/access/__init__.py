"""Who may act: the shopper's sign-in and its limits, signed portal tokens, merchant API keys."""
