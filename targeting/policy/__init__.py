"""Binning, the exact budgeted tree search, depth-3 look-ahead, and describing rules."""
