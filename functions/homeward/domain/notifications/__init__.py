"""Telling the shopper: which event says what, the message context, and sending once per channel."""
