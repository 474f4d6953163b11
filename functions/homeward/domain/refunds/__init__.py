"""Refund money: amounts in minor units, when and where a return's money moves, provider reports,
and the use cases."""
