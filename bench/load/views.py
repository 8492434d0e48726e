"""What each simulated visitor opens: one page with its own query string, as a class would from a deck of links."""
from __future__ import annotations

import urllib.parse

PAGES = ("compare", "trace", "benchmarks", "learn", "experts")
WORDS = ("bank", "spring", "match", "bat", "light", "plant")


def query(page: str, i: int) -> str:
    """Session i's address on `page`: distinct sentences for Compare and Trace, so nothing is served from a
    trace or figure another session already computed (the worst case for the server)."""
    word = WORDS[i % len(WORDS)]
    if page == "compare":
        # a same-meaning control too, as Compare opens (three new sentences: the dearest view)
        return urllib.parse.urlencode({"s1": f"Visitor {i} sat by the {word} in the morning .",
                                       "s2": f"The {word} was new to visitor {i} that day .", "w": word,
                                       "s3": f"Visitor {i} waited near the {word} at noon ."})
    if page == "trace":
        # two sentences, like the page's own example (which is what a view before ?text= existed traced)
        return urllib.parse.urlencode({"text": f"Student {i} reads a sentence about the {word} .\n"
                                               f"The {word} of student {i} was by the river ."})
    return ""
