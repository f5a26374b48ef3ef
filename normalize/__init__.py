"""Normalise: pure functions from what a channel received to the one complaint schema."""
