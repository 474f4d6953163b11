"""Returns: eligibility, creation, the state machine, and the use cases over them."""
