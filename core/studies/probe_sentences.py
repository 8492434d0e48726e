"""The sentence lists of the negation and multi-word-expression studies (the paper's §5: "the influence of (affixal)
negation or the consistency of routing for multi-word expressions"), built deterministically under a seed
(`scripts/open_question_sentences.py` writes them to results/open_questions/).

Both read WordNet 3.0 (the pairs and expressions) and Brown (the contexts). No sentence that trains a router
(core.lens.open_questions.training_sentences) is used, so no evaluation text enters router training.

**Affixal negation**: WordNet antonym pairs where one lemma is the other with a negating prefix (un-, in-, im-, il-,
ir-, dis-, non-): happy / unhappy. One context per pair: a Brown sentence holding either form (seeded choice), else a
fixed carrier template for the part of speech (TEMPLATES). The context is filled three times — with the base, the
negated form, and a control: an unrelated single-word WordNet lemma of the same part of speech whose Zipf frequency
is the negated form's within ±0.25 (the nearest, ties broken by the seed), sharing no 4-letter prefix with the base and not itself un- or non-.

**Multi-word expressions**: WordNet lemmas of 2–4 alphabetic words whose first word (the *anchor*: *hot* of *hot
dog*, *kick* of *kick the bucket*) occurs alone in at least two Brown sentences (not followed by the expression's
next word). The expression's context: a Brown sentence holding it, else a template for its part of speech; the two
literal contexts: two different Brown sentences with the anchor alone (seeded choice). Names (instances, capitalised
lemmas) and taxa (genus …, family …) are left out: their first word is not used literally elsewhere.
"""
from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
import pandas as pd

PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")
TEMPLATES = {  # carrier sentences ({w}: the word), one per item chosen by the seed; plain, no topic
    "n": ("They talked about the {w} for a while .", "Nobody expected the {w} to matter so much ."),
    "v": ("They said that he would {w} again .", "She did not want to {w} that day ."),
    "a": ("Everyone thought it was {w} at the time .", "The answer seemed {w} to most of them ."),
    "r": ("He spoke {w} about the plan .", "They worked {w} through the night ."),
}
NEGATION_PAIRS = 400
EXPRESSIONS = 400
ZIPF_WINDOW = 0.25
TAXONOMY = {"genus", "family", "order", "class", "phylum", "subfamily", "suborder", "subclass", "division"}
MAX_SENTENCE_WORDS = 40


def _pos(p: str) -> str:
    return "a" if p == "s" else p


def brown_contexts(words: set[str], excluded: set[str], per_word: int = 40) -> dict[str, list[tuple[str, int]]]:
    """For each lower-case word: up to `per_word` (sentence, word index) in Brown, in corpus order, skipping router
    training sentences and sentences over MAX_SENTENCE_WORDS words."""
    from core.data.nltk_text import sentences

    found: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for sent in sentences("brown"):
        if sent in excluded:
            continue
        tokens = sent.split()
        if len(tokens) > MAX_SENTENCE_WORDS:
            continue
        for i, t in enumerate(tokens):
            w = t.lower()
            if w in words and len(found[w]) < per_word:
                found[w].append((sent, i))
    return found


def replaced(sentence: str, index: int, word: str) -> str:
    tokens = sentence.split()
    tokens[index] = word
    return " ".join(tokens)


def negation_pairs(wn) -> list[tuple[str, str, str]]:
    """(base, negated, pos) from WordNet's antonyms: the negated lemma is the base with a negating prefix."""
    pairs = set()
    for synset in wn.all_synsets():
        for lemma in synset.lemmas():
            for ant in lemma.antonyms():
                base, neg = lemma.name().lower(), ant.name().lower()
                if base.isalpha() and any(neg in (p + base, f"{p}-{base}") for p in PREFIXES):
                    pairs.add((base, neg, _pos(synset.pos())))
    return sorted(pairs)


def _controls_by_pos(wn) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per part of speech: candidate control words (single alphabetic lemmas) and their Zipf frequencies."""
    from wordfreq import zipf_frequency

    out = {}
    for pos in "nvar":
        names = sorted({n for p in ((pos, "s") if pos == "a" else (pos,)) for syn in wn.all_synsets(p)
                        if not syn.instance_hypernyms() for n in syn.lemma_names()
                        if n.isalpha() and n.islower() and len(n) > 3})  # lower-case in WordNet: no proper names
        freq = np.array([zipf_frequency(n, "en") for n in names])
        keep = freq > 1.5
        out[pos] = (np.array(names)[keep], freq[keep])
    return out


def negation_items(wn, seed: int = 0, n_pairs: int = NEGATION_PAIRS, excluded: set[str] | None = None
                   ) -> pd.DataFrame:
    """One row per pair: the context with the base, the negated form and the control in the same slot."""
    from wordfreq import zipf_frequency

    rng = np.random.default_rng(seed)
    pairs = negation_pairs(wn)
    pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), size=min(n_pairs, len(pairs)), replace=False))]
    contexts = brown_contexts({w for b, n, _ in pairs for w in (b, n)}, excluded or set())
    controls = _controls_by_pos(wn)
    rows = []
    for base, neg, pos in pairs:
        names, freq = controls[pos]
        allowed = np.array([n[:4] != base[:4] and n not in (base, neg) and not n.startswith(("un", "non"))
                            for n in names])  # a control is no negated form itself
        gap = np.abs(freq - zipf_frequency(neg, "en")) + rng.random(len(freq)) * 1e-6  # ties broken by the seed
        gap[~allowed] = np.inf
        if not np.isfinite(gap.min()) or gap.min() > ZIPF_WINDOW:
            continue
        control = str(names[int(gap.argmin())])
        found = contexts.get(base, []) + contexts.get(neg, [])
        if found:
            sentence, index = found[int(rng.integers(len(found)))]
            source = "brown"
        else:
            template = TEMPLATES[pos][int(rng.integers(len(TEMPLATES[pos])))]
            sentence, index, source = template.format(w="WORD"), template.split().index("{w}"), "template"
        rows.append({"base": base, "negated": neg, "control": control, "pos": pos, "source": source, "index": index,
                     "text_base": replaced(sentence, index, base), "text_negated": replaced(sentence, index, neg),
                     "text_control": replaced(sentence, index, control)})
    return pd.DataFrame(rows)


def _find(tokens: list[str], words: list[str]) -> int | None:
    low = [t.lower() for t in tokens]
    for i in range(len(low) - len(words) + 1):
        if low[i : i + len(words)] == words:
            return i
    return None


def mwe_items(wn, seed: int = 0, n_items: int = EXPRESSIONS, excluded: set[str] | None = None) -> pd.DataFrame:
    """One row per expression: the anchor inside it, and in two literal Brown contexts."""
    rng = np.random.default_rng(seed)
    lemmas = sorted({(n, _pos(s.pos())) for s in wn.all_synsets() if not s.instance_hypernyms()
                     for n in s.lemma_names() if 2 <= n.count("_") + 1 <= 4 and n.replace("_", "").isalpha()
                     and n.islower() and n.split("_")[0] not in TAXONOMY})  # no names, no taxa
    anchors = {n.split("_")[0] for n, _ in lemmas}
    contexts = brown_contexts(anchors, excluded or set())
    order = rng.permutation(len(lemmas))
    rows, seen = [], set()
    for i in order:
        name, pos = lemmas[i]
        words = name.split("_")
        if name in seen:
            continue
        literal = list({s: (s, j) for s, j in contexts.get(words[0], [])  # one occurrence per sentence
                        if (nxt := [w.lower() for w in s.split()[j + 1 : j + 2]]) != words[1:2] and nxt}.values())
        if len(literal) < 2:
            continue
        picked = rng.choice(len(literal), size=2, replace=False)
        (lit1, i1), (lit2, i2) = literal[picked[0]], literal[picked[1]]
        inside = [(s, j) for s, j in contexts.get(words[0], []) if _find(s.split()[j:], words) == 0]
        if inside:
            text, index, source = *inside[0], "brown"
        else:
            template = TEMPLATES[pos][int(rng.integers(len(TEMPLATES[pos])))]
            text, index, source = template.format(w=" ".join(words)), template.split().index("{w}"), "template"
        seen.add(name)
        rows.append({"expression": " ".join(words), "anchor": words[0], "pos": pos, "source": source,
                     "text_inside": text, "index_inside": index, "text_literal1": lit1, "index_literal1": i1,
                     "text_literal2": lit2, "index_literal2": i2})
        if len(rows) >= n_items:
            break
    return pd.DataFrame(rows)


def occurs(text: str, index: int, word: str) -> bool:
    """Whether whitespace word `index` of `text` is `word` (case-insensitive): every item's check."""
    tokens = text.split()
    return 0 <= index < len(tokens) and re.sub(r"\W", "", tokens[index].lower()) == re.sub(r"\W", "", word.lower())
