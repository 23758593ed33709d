"""Simulations with known truth, repeated-simulation studies, and the bundled examples."""
