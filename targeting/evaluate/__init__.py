"""Interval helpers, held-out policy values, subgroup families and diagnostics."""
