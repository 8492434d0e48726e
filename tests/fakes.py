"""Shared fakes for the analysis tests: a tracer whose routing is a known function of the text, benchmark files
in the real formats with planted scores, a sense counter, and the CLI run as a process (no test module imports
another)."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.models.adapters import SwitchAdapter
from core.models.registry import ModelEntry
from core.tracing.routing_trace import RoutingTrace, StackRouting
from core.tracing.words import word_spans

ROOT = Path(__file__).resolve().parent.parent

E = 8
P0 = np.full(E, 0.02)
P0[0] = 1 - 0.02 * (E - 1)
P1 = np.roll(P0, 1)
UNIFORM = np.full(E, 1 / E)
LEMMAS = ["bank", "bat", "spring", "match", "run", "light", "play", "set", "table", "check"]


@dataclass
class FakeLoaded:
    name: str = "fake"
    num_experts: int = E
    revision: str = "r"
    dtype: str = "float32"
    device: str = "cpu"
    params: int = 0
    entry: ModelEntry = ModelEntry("fake", "local", "/fake")
    family: str = "switch"
    architecture: str = "encoder-decoder"
    top_k: int = 1
    adapter: SwitchAdapter = SwitchAdapter()


class FakeTracer:
    """Routing as a known function of the text: `alpha[word]` mixes P0/P1; WiC lemmas follow a sense marker."""

    routers = {"encoder": [(1, None), (3, None)], "decoder": [(1, None), (3, None)]}

    def __init__(self, alpha: dict[str, float], sense_planted: bool) -> None:
        self.loaded = FakeLoaded()
        self.alpha = alpha
        self.sense_planted = sense_planted
        self.chosen_weights = False

    def with_chosen_weights(self):
        """The same routing read as a top-1 model's chosen weight: all mass on the chosen expert."""
        other = copy.copy(self)
        other.chosen_weights = True
        return other

    def _dist(self, text: str, word: str) -> np.ndarray:
        if word in self.alpha:
            a = self.alpha[word]
            return a * P0 + (1 - a) * P1
        if word in LEMMAS:
            if self.sense_planted:
                return P0 if "sense1" in text else P1
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            return rng.dirichlet(np.ones(E))
        return UNIFORM

    def trace(self, texts, stacks=("encoder", "decoder"), progress=None, decoder_read="input", until=None):
        out = []
        for text in texts:
            spans = word_spans(text)
            words = [text[s:e] for s, e in spans]
            probs = np.stack([self._dist(text, w) for w in words] + [UNIFORM]).astype(np.float32)
            if self.chosen_weights:
                probs = np.eye(E, dtype=np.float32)[probs.argmax(-1)]
            probs = np.stack([probs, probs])  # two sparse layers
            routing = {s: StackRouting(np.array([1, 3]), probs, probs.argmax(-1).astype(np.int16),
                                       np.zeros(probs.shape[:2], bool), probs[:, :-1]) for s in stacks}
            out.append(RoutingTrace(text, "fake", "r", "float32", E, words + ["</s>"],
                                    np.concatenate([spans, [[0, 0]]]).astype(np.int32),
                                    np.array(list(range(len(words))) + [-1], np.int32), words, spans,
                                    np.arange(len(words), dtype=np.int32), routing))
        return out


def write_synthetic_data(root: Path, n: int = 120, seed: int = 0) -> dict[str, float]:
    """Small files in the real formats; returns each word's planted mixing weight (score / 10)."""
    rng = np.random.default_rng(seed)
    alpha = {}
    (root / "wordsim353").mkdir(parents=True)
    (root / "simlex999").mkdir()
    (root / "scws").mkdir()
    ws = ["Word 1,Word 2,Human (mean)"]
    sl = ["word1\tword2\tPOS\tSimLex999\tconc(w1)\tconc(w2)\tconcQ\tAssoc(USF)\tSimAssoc333\tSD(SimLex)"]
    sc = []
    for i in range(n):
        s_ws, s_sl, s_sc = (float(np.round(rng.uniform(0, 10), 2)) for _ in range(3))
        ws.append(f"wsa{i},wsb{i},{s_ws}")
        sl.append(f"sla{i}\tslb{i}\tN\t{s_sl}\t1\t1\t1\t1\t1\t1")
        sc.append(f"{i + 1}\tsca{i}\tn\tscb{i}\tn\tsome words <b> sca{i} </b> more words\tother <b> scb{i} </b> text ."
                  f"\t{s_sc}" + "\t1" * 10)
        alpha.update({f"wsa{i}": 1.0, f"wsb{i}": s_ws / 10, f"sla{i}": 1.0, f"slb{i}": s_sl / 10,
                      f"sca{i}": 1.0, f"scb{i}": s_sc / 10})
    (root / "wordsim353" / "combined.csv").write_text("\n".join(ws) + "\n")
    (root / "simlex999" / "SimLex-999.txt").write_text("\n".join(sl) + "\n")
    (root / "scws" / "ratings.txt").write_text("\n".join(sc) + "\n")
    for split in ("train", "dev", "test"):
        (root / "wic" / split).mkdir(parents=True)
        data, gold = [], []
        for j in range(40):
            lemma = LEMMAS[j % len(LEMMAS)]
            same = bool(rng.integers(0, 2))
            other = "sense1" if same else "sense2"
            data.append(f"{lemma}\tN\t1-2\tthe {lemma} sense1 here {split}{j} .\ta nice {lemma} {other} there {split}{j} .")
            gold.append("T" if same else "F")
        (root / "wic" / split / f"{split}.data.txt").write_text("\n".join(data) + "\n")
        (root / "wic" / split / f"{split}.gold.txt").write_text("\n".join(gold) + "\n")
    return alpha


def sense_count(targets) -> dict[tuple[str, str], tuple[int, int]]:
    known = {w: i + 1 for i, w in enumerate(LEMMAS)}
    return {(lemma, pos): (known.get(lemma, 0), 2 * known.get(lemma, 0)) for lemma, pos in targets}




def run_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m core …` as a user runs it, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=300)
