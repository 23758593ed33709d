"""Regenerate the bundled example workbooks (fixed seeds, so the files are reproducible).

Usage: python examples/make_examples.py
"""

from pathlib import Path

from targeting.sim.examples import write_example
from targeting.sim.simulate import EXAMPLES

if __name__ == "__main__":
    here = Path(__file__).parent
    for name in EXAMPLES:
        target = here / f"{name}.xlsx"
        target.unlink(missing_ok=True)  # write_example never overwrites a file
        print(write_example(name, target))
