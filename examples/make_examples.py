"""Regenerate the bundled example workbooks (fixed seeds, so the files are reproducible).

Usage: python examples/make_examples.py
"""

from pathlib import Path

from targeting.sim.examples import write_example
from targeting.sim.simulate import EXAMPLES

if __name__ == "__main__":
    here = Path(__file__).parent
    for name in EXAMPLES:
        print(write_example(name, here / f"{name}.xlsx"))
