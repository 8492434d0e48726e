"""The long fuzzing campaign: every property of tests/test_fuzz.py with many examples, and the counts hypothesis ran.

    python -m bench.fuzz [--examples 10000]

CI runs the same properties with a small seeded number (ROUTING_LENS_FUZZ_EXAMPLES, default 60). Properties that
trace through the tiny model use a quarter of the examples (each is a forward pass), the CLI property a fiftieth
(each loads the model).
"""
from __future__ import annotations

import argparse
import os
import sys

from core.settings import REPO_ROOT


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=10_000)
    args = ap.parse_args()
    os.environ["ROUTING_LENS_FUZZ_EXAMPLES"] = str(args.examples)
    import pytest

    rc = pytest.main([str(REPO_ROOT / "tests" / "test_fuzz.py"), "-q", "-p", "no:cacheprovider",
                      "--hypothesis-show-statistics", "-rN"])
    sys.exit(int(rc))


if __name__ == "__main__":
    main()
