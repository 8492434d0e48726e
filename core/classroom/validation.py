"""What a student may submit: a word, two sentences it occurs in, a judgement, an optional nickname. Anything else is
refused with a message saying what to change, and nothing is stored: an empty or overlong field, a word missing from
a sentence, markup, emoji and control characters (a projector in front of a class shows whatever is stored)."""
from __future__ import annotations

import re
import unicodedata

from core.errors import InputError

JUDGEMENTS = {"same": "same meaning", "different": "different meaning", "unsure": "not sure"}
MAX_SENTENCE, MAX_WORD, MAX_NICKNAME = 300, 40, 20
MARKUP = re.compile(r"<[^>]*>|&[#\w]+;|\]\(|\[[^\]]*\]\(|`|\*\*|__")


def _clean(text: str, field: str, limit: int, allow_empty: bool = False) -> str:
    text = unicodedata.normalize("NFC", (text or "").strip())
    if not text:
        if allow_empty:
            return ""
        raise InputError(f"The {field} is empty.")
    if len(text) > limit:
        raise InputError(f"The {field} is longer than {limit} characters ({len(text):,}).")
    for ch in text:
        category = unicodedata.category(ch)
        if category.startswith("C"):
            raise InputError(f"The {field} holds an invisible control character: type it again.")
        if category == "So" or 0x1F000 <= ord(ch) <= 0x1FAFF or 0x2600 <= ord(ch) <= 0x27BF:
            raise InputError(f"The {field} holds an emoji or symbol ({ch}): use words only.")
    if MARKUP.search(text):
        raise InputError(f"The {field} holds markup (tags, links or formatting): plain text only.")
    return text


def word_in(word: str, sentence: str) -> bool:
    """The word occurs in the sentence as a whole word (any case)."""
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", sentence, flags=re.IGNORECASE) is not None


def validated(word: str, sentence1: str, sentence2: str, judgement: str, nickname: str = "") -> dict:
    """The submission, cleaned, or InputError naming the first thing to change."""
    word = _clean(word, "word", MAX_WORD)
    if len(word.split()) != 1:
        raise InputError("Give one word (no spaces).")
    s1 = _clean(sentence1, "first sentence", MAX_SENTENCE)
    s2 = _clean(sentence2, "second sentence", MAX_SENTENCE)
    for n, s in ((1, s1), (2, s2)):
        if not word_in(word, s):
            raise InputError(f"“{word}” does not occur in sentence {n}: use it as a whole word in both sentences.")
    if judgement not in JUDGEMENTS:
        raise InputError("Say whether the word means the same in both sentences: same, different or not sure.")
    return {"word": word, "sentence1": s1, "sentence2": s2, "judgement": judgement,
            "nickname": _clean(nickname, "nickname", MAX_NICKNAME, allow_empty=True)}
