"""Eight classic homonyms, each in an anchor sentence, a different-meaning and a same-meaning sentence: how many a
model routes the intuitive way (different meaning lower JSS than same meaning; mean over the sparse layers of its
first stack). A teacher's quick look, not a benchmark: WiC (`train-router --choose-default`) is the measure.

    python -m bench.homonyms minilm-router-16 demo-switch-8
"""
from __future__ import annotations

import sys

from core.lens import Lens

SETS = [
    ("He swung the bat at the ball.", "A bat flew out of the dark cave.", "She gripped the bat and waited for the pitch.",
     "bat"),
    ("The spring in the old mattress broke.", "Flowers bloom early in the spring.",
     "He replaced the broken spring in the clock.", "spring"),
    ("She lit a match to start the fire.", "The match ended in a draw.", "He struck a match in the dark.", "match"),
    ("The dog began to bark at the stranger.", "The bark of the oak tree was rough.",
     "We heard the bark of a dog outside.", "bark"),
    ("A seal swam near the rocks.", "He broke the seal on the letter.", "The seal dived for fish in the cold water.",
     "seal"),
    ("A crane lifted the steel beams.", "A crane stood in the shallow marsh.",
     "The crane moved the heavy load onto the truck.", "crane"),
    ("She poured water from the pitcher.", "The pitcher threw a fast ball.", "The pitcher was full of cold lemonade.",
     "pitcher"),
    ("The mouse ran across the kitchen floor.", "Click the left button of the mouse.",
     "The cat chased a mouse into the barn.", "mouse"),
    ("I sat on the river bank.", "The bank raised its rates.", "We walked along the bank of the river.", "bank"),
]


def main(names: list[str]) -> None:
    for name in names or ["minilm-router-16", "demo-switch-8"]:
        lens = Lens(name)
        stack = lens.tracer.loaded.stacks[0]
        rows, intuitive = [], 0
        for anchor, different, same, word in SETS:
            d = lens.compare(anchor, different, word).mean_jss[stack]
            s = lens.compare(anchor, same, word).mean_jss[stack]
            intuitive += d < s
            rows.append(f"{word} {d:.3f}/{s:.3f}")
        print(f"{name} ({stack}): {intuitive} of {len(SETS)} words route the different-meaning pair less alike "
              f"(different/same JSS: {'; '.join(rows)})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
