"""targeting: who should get a treatment, under a budget, with honest uncertainty."""

__version__ = "0.1.0"
