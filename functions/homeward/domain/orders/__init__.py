"""Orders as the shop reports them: identity, change detection, the shopper's view."""
