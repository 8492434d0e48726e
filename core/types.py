"""Names shared across the wings, as `Literal` types so a typo is a type error, not a silent branch."""
from __future__ import annotations

from typing import Literal

Stack = Literal["encoder", "decoder"]
STACKS: tuple[Stack, ...] = ("encoder", "decoder")
Placement = Literal["auto", "single", "device_map", "offload", "8bit", "4bit"]
PLACEMENTS: tuple[Placement, ...] = ("auto", "single", "device_map", "offload", "8bit", "4bit")
DType = Literal["float32", "bfloat16", "float16"]
Architecture = Literal["encoder-decoder", "decoder-only", "encoder (MoE-fied)"]
# "switch", "moefied" or a decoder-only family name (core.models.adapters.decoder_only.DECODER_FAMILIES).
Family = str
Level = Literal["word", "token"]
# Where a teacher-forced decoder's routing of token t is read: where t is the decoder's input (default), or where t
# is predicted (the layout of transformers' `labels=`).
DecoderRead = Literal["input", "label"]
DECODER_READS: tuple[DecoderRead, ...] = ("input", "label")
# What each reading means, in the words every surface uses (the pages' radio and captions, the CLI's note)
DECODER_READ_LABELS: dict[str, str] = {"input": "where the token is the decoder's input (default)",
                                       "label": "where the token is predicted (as in training)"}
DECODER_READ_NOTES: dict[str, str] = {"input": "decoder: each token's routing is read where it is the decoder's input",
                                      "label": "decoder: each token's routing is read where it is predicted"}
# How two routing distributions' similarity is read: 1 − JSD (base 2; the default) or 1 − JS distance (√JSD).
Similarity = Literal["1-JSD", "1-JS distance"]
SIMILARITIES: tuple[Similarity, ...] = ("1-JSD", "1-JS distance")
# Which WordNet count the polysemy trend uses: lemma-exact senses of the WiC part of speech (default), or all synsets
# the lemma reaches in any part of speech (`len(wordnet.synsets(lemma))`).
SenseCount = Literal["senses", "senses_all_pos"]
# How experts are computed: the library's per-expert loop, one grouped matmul over all experts, or the best this
# machine supports (grouped where torch has it).
ExpertsKernel = Literal["auto", "loop", "grouped"]
EXPERTS_KERNELS: tuple[ExpertsKernel, ...] = ("auto", "loop", "grouped")

ENGINES = ("vllm", "sglang", "megatron-tracer", "megatron-replay", "llama.cpp")  # `import` sources (core.lens.routes)
