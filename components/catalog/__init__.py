"""Lookup tables of cloud and hardware facts, each with its source and the date it was read."""
