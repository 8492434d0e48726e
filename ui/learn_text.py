"""Learn's fixed prose: the mechanics in words and what a MoE-fied model is (kept apart so the page holds
widgets and figures only)."""

MECHANICS = """
**Top-1 token choice.** Each token goes to the single expert with the highest probability, and that expert's
output is scaled by the probability. Only one expert runs per token, so the model has E times the
parameters of a dense block at about the same cost per token.

**Expert capacity and dropped tokens.** Each expert processes at most *capacity* tokens of a sequence.
Tokens are served in order; a token whose chosen expert is already full is **dropped**: it skips the
expert block and only the residual connection carries it on. Its router probabilities are still valid.

**Encoder and decoder.** The encoder reads the whole text; the decoder, trained to write text left to right,
sees only the tokens before the current one. Here the decoder is fed the same text (teacher forcing), and a
token's decoder routing is read where that token is the decoder's input.

**Decoder-only MoE models** (Mixtral, OLMoE, Qwen-MoE, GraniteMoE, PhiMoE, Jamba, DeepSeek-V2) have one causal stack
and send each token to its **top-k** experts (Mixtral 2 of 8, OLMoE 8 of 64), mixing their outputs with the
renormalised probabilities; there is no capacity limit at inference, so nothing is dropped. Because attention is
causal, a token's routing depends only on the tokens *to its left*.

**JSS.** To compare how a word is routed in two places we compare the two probability vectors with the
**Jensen–Shannon similarity**, 1 − JSD (base-2 logs): 1 for identical routing, 0 for routing to disjoint experts.
"""

WITHOUT_ROUTER = ("The **MoE-fied** models (`moefied-minilm-*`) are a different thing: a dense encoder whose feed-forward "
                  "neurons were grouped into experts *after* training. Every neuron still runs for every token; a token's "
                  "\"routing\" is the share of its activation in each group. It shows how context changes which parts of "
                  "the feed-forward layer a word uses — but no router was trained, nothing is chosen and no token "
                  "skips a block.")

NO_ROUTER = ("This model has no router, so there is no token to walk through one: pick a Switch demo in the sidebar. "
             "What it shows instead is below, under *Routing without a router*.")

SIGMOID_SCORES = ("This model's router scores each expert on its own with a sigmoid (DeepSeek-V3's rule), not a softmax: "
                  "the scores do not compete, and each lies between 0 and 1. Shown: the log of the scores as Routing "
                  "Lens records them (normalised), up to a constant.")
SIGMOID_DISTRIBUTION = ("Routing Lens divides the sigmoid scores by their sum, so they compare with softmax routers "
                        "under JSS and entropy. The model itself picks its top-k by score plus a learned selection "
                        "bias (which balances the load and can pick another expert than the largest score) and "
                        "weights the chosen experts by their scores.")
