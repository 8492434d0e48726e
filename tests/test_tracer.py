"""The tracer against independent computations on tiny real Switch checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.errors import InputError
from core.models.adapters.switch import switch_routers
from core.models.loading import load_model
from core.tracing.tracer import Tracer

TEXTS = [
    "I sat on the river bank.",
    "The bank raised its interest rates again this spring, and the river rose.",
    "A bat flew out of the cave at dusk while he swung the bat and hit the ball over the fence.",
]


def _capture_router_inputs(model):
    """Forward pre-hooks that record every router's input hidden states."""
    seen, handles = {}, []
    for stack, routers in switch_routers(model).items():
        for block, module in routers:
            def pre(_m, inputs, key=(stack, block)):
                seen[key] = inputs[0].detach().clone()
            handles.append(module.register_forward_pre_hook(pre))
    return seen, handles


def test_routers_found_in_both_stacks(tiny_loaded):
    routers = switch_routers(tiny_loaded.model)
    assert [b for b, _ in routers["encoder"]] == [1, 3]
    assert [b for b, _ in routers["decoder"]] == [1, 3]


def test_probabilities_equal_independent_softmax_for_every_layer(tiny_loaded):
    tracer = Tracer(tiny_loaded)
    text = TEXTS[1]
    enc = tiny_loaded.tokenizer(text, return_tensors="pt")
    ids = enc["input_ids"]
    model = tiny_loaded.model
    seen, handles = _capture_router_inputs(model)
    try:
        with torch.no_grad():
            model(input_ids=ids, decoder_input_ids=model._shift_right(ids))
    finally:
        for h in handles:
            h.remove()
    trace = tracer.trace(text)[0]
    n = ids.shape[1]
    assert len(trace.tokens) == n
    for stack, routers in switch_routers(model).items():
        for li, (block, module) in enumerate(routers):
            x = seen[(stack, block)][0].float()
            with torch.no_grad():
                expected = torch.softmax(x @ module.classifier.weight.float().T, dim=-1).numpy()
            got = trace.stacks[stack].token_probs[li]
            if stack == "encoder":
                np.testing.assert_allclose(got, expected, atol=1e-5)
            else:
                # decoder row t is read where token t is the input: position t+1 of shift_right(ids)
                np.testing.assert_allclose(got[: n - 1], expected[1:], atol=1e-5)
            assert np.allclose(got.sum(-1), 1.0, atol=1e-5)
            assert (trace.stacks[stack].top1[li] == got.argmax(-1)).all()
    # a soft router: not one-hot
    assert trace.stacks["encoder"].token_probs.max(-1).mean() < 0.95


def test_batch_and_padding_invariance(tiny_loaded):
    tracer = Tracer(tiny_loaded)
    alone = [tracer.trace(t)[0] for t in TEXTS]
    together = tracer.trace(list(reversed(TEXTS)))[::-1]
    small_batches = Tracer(tiny_loaded, batch_size=2).trace(TEXTS)
    for a, b, c in zip(alone, together, small_batches):
        assert a.tokens == b.tokens == c.tokens
        for stack in ("encoder", "decoder"):
            np.testing.assert_allclose(a.stacks[stack].token_probs, b.stacks[stack].token_probs, atol=1e-5)
            np.testing.assert_allclose(a.stacks[stack].token_probs, c.stacks[stack].token_probs, atol=1e-5)
            assert (a.stacks[stack].dropped == b.stacks[stack].dropped).all()


def test_encoder_only_matches_full_trace(tiny_loaded):
    tracer = Tracer(tiny_loaded)
    full = tracer.trace(TEXTS[0])[0]
    enc = tracer.trace(TEXTS[0], stacks=("encoder",))[0]
    assert set(enc.stacks) == {"encoder"}
    np.testing.assert_allclose(full.stacks["encoder"].token_probs, enc.stacks["encoder"].token_probs, atol=1e-6)


def test_word_pooling_is_mean_of_subwords_and_rows_sum_to_one(tiny_loaded):
    trace = Tracer(tiny_loaded).trace("The riverbank's flowers, unbelievably colourful!")[0]
    assert trace.words == ["The", "riverbank's", "flowers,", "unbelievably", "colourful!"]
    for stack in ("encoder", "decoder"):
        s = trace.stacks[stack]
        np.testing.assert_allclose(s.word_probs.sum(-1), 1.0, atol=1e-5)
        for w in range(len(trace.words)):
            idx = np.nonzero(trace.token_word == w)[0]
            assert idx.size >= 1
            np.testing.assert_allclose(s.word_probs[:, w], s.token_probs[:, idx].mean(axis=1), atol=1e-6)
    # EOS belongs to no word
    assert trace.token_word[-1] == -1


def test_select_word_by_span_and_by_dataset_index(tiny_loaded):
    text = "He went to the bank to fish"
    trace = Tracer(tiny_loaded).trace(text)[0]
    start = text.index("bank")
    by_span = trace.span_probs("encoder", start, start + 4)
    by_index = trace.word_probs_at("encoder", 4)
    np.testing.assert_allclose(by_span, by_index, atol=1e-6)
    with pytest.raises(InputError):
        trace.word_probs_at("encoder", 99)


def test_dropped_mask_agrees_with_forced_tiny_capacity(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir), dtype="float32")
    for routers in switch_routers(loaded.model).values():
        for _, module in routers:
            module.expert_capacity = 2
    trace = Tracer(loaded).trace(TEXTS[2])[0]
    for stack in ("encoder", "decoder"):
        s = trace.stacks[stack]
        assert s.dropped.any(), "capacity 2 with 20+ tokens must drop some"
        for li in range(len(s.layers)):
            top1 = s.top1[li]
            for e in range(8):  # no expert keeps more tokens than its capacity
                assert int(((top1 == e) & ~s.dropped[li]).sum()) <= 2
            if stack == "encoder":  # the exact rule: the first 2 tokens choosing an expert are kept
                for t in range(len(top1)):
                    earlier = int((top1[:t] == top1[t]).sum())
                    assert s.dropped[li, t] == (earlier >= 2), (li, t)
    # dropped tokens keep valid probabilities
    assert np.allclose(trace.stacks["encoder"].token_probs.sum(-1), 1.0, atol=1e-5)


def test_truncation_is_reported(tiny_loaded):
    tracer = Tracer(tiny_loaded, max_tokens=16)
    text = " ".join(["bank"] * 40)
    trace = tracer.trace(text)[0]
    assert trace.truncated and trace.n_input_tokens > 16 and len(trace.tokens) == 16
    assert trace.tokens[-1] == "</s>"
    assert len(trace.words) < 40


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_text_is_a_clear_error(tiny_loaded, bad):
    with pytest.raises(InputError, match="empty"):
        Tracer(tiny_loaded).trace(bad)


@pytest.mark.parametrize("odd", ["🙂🙂 emoji", "中文的银行", "שלום עולם", "<img src=x onerror=alert(1)>", "\u200b bank"])
def test_odd_text_traces(tiny_loaded, odd):
    trace = Tracer(tiny_loaded).trace(odd)[0]
    assert trace.stacks["encoder"].token_probs.shape[1] == len(trace.tokens)
    assert np.isfinite(trace.stacks["encoder"].word_probs).all()


def test_frames(tiny_loaded):
    trace = Tracer(tiny_loaded).trace(TEXTS[0])[0]
    tok = trace.to_frame("encoder", "token")
    assert len(tok) == 2 * len(trace.tokens) * 8
    assert tok.groupby(["layer", "position"])["probability"].sum().between(0.9999, 1.0001).all()
    assert tok.groupby(["layer", "position"])["is_top1"].sum().eq(1).all()
    # Switch is top-1: the one selected expert is the argmax, in the arrays and in the frame
    enc = trace.stacks["encoder"]
    assert enc.top_k == 1 and (enc.selected[..., 0] == enc.top1).all()
    assert (tok["is_selected"] == tok["is_top1"]).all()
    words = trace.to_frame("decoder", "word")
    assert set(words["word"]) == set(trace.words)


def test_csv_of_both_stacks_has_one_header(tiny_loaded):
    """Bug 1: the Trace page's CSV with both stacks had a second header line in the middle."""
    import io

    import pandas as pd

    trace = Tracer(tiny_loaded).trace("I sat on the river bank")[0]
    text = trace.to_csv()
    header = text.splitlines()[0]
    assert text.splitlines().count(header) == 1
    frame = pd.read_csv(io.StringIO(text))
    assert list(dict.fromkeys(frame["stack"])) == ["encoder", "decoder"]
    assert len(frame) == sum(len(trace.to_frame(s)) for s in trace.stacks)
    assert frame["probability"].dtype.kind == "f"  # no header row parsed as data


class _OneCallerTokenizer:
    """Wraps a fast tokenizer and records how many threads are inside it at once (they must never overlap: a
    fast tokenizer used concurrently can raise "Already borrowed")."""

    def __init__(self, tokenizer) -> None:
        import threading

        self._tok = tokenizer
        self._inside = 0
        self._guard = threading.Lock()
        self.most_at_once = 0

    def __call__(self, *args, **kwargs):
        import time

        with self._guard:
            self._inside += 1
            self.most_at_once = max(self.most_at_once, self._inside)
        try:
            time.sleep(0.002)  # widen the window two unguarded callers would overlap in
            return self._tok(*args, **kwargs)
        finally:
            with self._guard:
                self._inside -= 1

    def __getattr__(self, name):
        return getattr(self._tok, name)


def test_eight_threads_never_share_the_tokenizer(tiny_model_dir):
    """Bug 3: every app session shares one tracer; tokenisation must happen under its lock."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    loaded = load_model(str(tiny_model_dir), dtype="float32")
    guarded = _OneCallerTokenizer(loaded.tokenizer)
    tracer = Tracer(dataclasses.replace(loaded, tokenizer=guarded))
    texts = [f"sentence {i} about the river bank" for i in range(8)]
    expected = {t: Tracer(loaded).trace(t)[0] for t in texts}

    def hammer(i: int) -> bool:
        ok = True
        for round_ in range(5):
            text = texts[(i + round_) % len(texts)]
            got = tracer.trace([text, texts[i]])
            ok &= all(np.allclose(g.stacks[s].token_probs, expected[g.text].stacks[s].token_probs, atol=1e-5)
                      for g in got for s in ("encoder", "decoder"))
        return ok

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(hammer, range(8)))
    assert all(results)
    assert guarded.most_at_once == 1


def test_label_reading_equals_the_labels_layout(tiny_loaded):
    """decoder_read="label": row t is the decoder position where token t is predicted — exactly what transformers
    computes with `labels=input_ids` (decoder_input_ids = shift_right(labels)); "input" is the next position."""
    tracer = Tracer(tiny_loaded)
    text = "I sat on the river bank"
    label = tracer.trace(text, decoder_read="label")[0]
    read_at_input = tracer.trace(text)[0]
    assert label.decoder_read == "label" and read_at_input.decoder_read == "input"
    ids = torch.tensor([tiny_loaded.tokenizer(text)["input_ids"]])
    captured = {}
    hooks = [module.register_forward_hook(lambda _m, _i, out, b=block: captured.__setitem__(b, out[2]))
             for block, module in switch_routers(tiny_loaded.model)["decoder"]]
    try:
        with torch.inference_mode():
            tiny_loaded.model(input_ids=ids, labels=ids)
    finally:
        for h in hooks:
            h.remove()
    expected = np.stack([torch.softmax(captured[b].float(), -1)[0].numpy() for b in sorted(captured)])
    np.testing.assert_allclose(label.stacks["decoder"].token_probs, expected, atol=1e-5)
    # The input reading is the label reading shifted by one position: token t's input position is t + 1.
    np.testing.assert_allclose(read_at_input.stacks["decoder"].token_probs[:, :-1],
                               label.stacks["decoder"].token_probs[:, 1:], atol=1e-5)
    np.testing.assert_allclose(label.stacks["encoder"].token_probs, read_at_input.stacks["encoder"].token_probs)


def test_decoder_only_models_refuse_the_label_reading(tmp_path):
    from core.errors import InputError
    from helpers import build_tiny_decoder

    tracer = Tracer(load_model(str(build_tiny_decoder(tmp_path / "mix")), dtype="float32"))
    with pytest.raises(InputError, match="only at input"):
        tracer.trace("a bat flew", decoder_read="label")


@pytest.mark.parametrize("stacks", [("encoder", "decoder"), ("encoder",), ("decoder",)])
@pytest.mark.parametrize("read", ["input", "label"])
def test_stopping_at_the_last_router_changes_nothing_on_switch(tiny_loaded, stacks, read):
    texts = ["the river bank", "a bank raised its rates again this year", "spring"]
    full = Tracer(tiny_loaded, stop_early=False).trace(texts, stacks=stacks, decoder_read=read)
    early = Tracer(tiny_loaded).trace(texts, stacks=stacks, decoder_read=read)
    for a, b in zip(full, early):
        assert a.stacks.keys() == b.stacks.keys()
        for stack, s in a.stacks.items():
            t = b.stacks[stack]
            assert np.array_equal(s.token_probs, t.token_probs) and np.array_equal(s.dropped, t.dropped)
            assert np.array_equal(s.selected, t.selected)


def test_the_pass_really_stops_at_the_last_router(tiny_loaded):
    model = tiny_loaded.model
    calls = {"encoder": 0, "decoder": 0}
    hooks = [getattr(model, s).final_layer_norm.register_forward_hook(
        lambda *_a, s=s: calls.__setitem__(s, calls[s] + 1)) for s in calls]
    try:
        Tracer(tiny_loaded).trace(["the river bank"], stacks=("encoder",))
        assert calls == {"encoder": 0, "decoder": 0}  # the encoder stopped at its last router
        Tracer(tiny_loaded).trace(["the river bank"])
        assert calls == {"encoder": 1, "decoder": 0}  # the decoder needs the whole encoder, then stops early
        Tracer(tiny_loaded, stop_early=False).trace(["a bank"])
        assert calls == {"encoder": 2, "decoder": 1}
    finally:
        for h in hooks:
            h.remove()


def test_grouped_experts_equal_the_library_loop_on_switch(tiny_model_dir):
    """The grouped kernel against transformers' own forward: every router probability (1e-6 in fp32), every top-1
    choice and drop, and the model's output, on texts long enough to drop tokens at a small capacity."""
    texts = ["the river bank was steep and the bank of the river was wet " * 3, "a bank raised its rates", "spring"]
    loop = load_model(str(tiny_model_dir), dtype="float32", experts_kernel="loop")
    grouped = load_model(str(tiny_model_dir), dtype="float32", experts_kernel="grouped")
    assert loop.experts_kernel == "loop" and grouped.experts_kernel == "grouped"
    for lm in (loop, grouped):
        for _, module in switch_routers(lm.model)["encoder"] + switch_routers(lm.model)["decoder"]:
            module.expert_capacity = 4  # force drops
    a, b = (Tracer(lm, stop_early=False).trace(texts) for lm in (loop, grouped))
    dropped = 0
    for x, y in zip(a, b):
        for stack, s in x.stacks.items():
            t = y.stacks[stack]
            np.testing.assert_allclose(s.token_probs, t.token_probs, rtol=0, atol=1e-6)
            assert np.array_equal(s.top1, t.top1) and np.array_equal(s.dropped, t.dropped)
            dropped += int(s.dropped.sum())
    assert dropped > 0  # the drop path was exercised
    ids = loop.tokenizer(texts[:2], return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = [lm.model(**ids, decoder_input_ids=ids["input_ids"]).logits for lm in (loop, grouped)]
    torch.testing.assert_close(out[0], out[1], rtol=1e-5, atol=1e-5)
    # the grouped model's experts share storage with the stacked tensors: no memory doubled
    experts = next(m for m in grouped.model.modules() if type(m).__name__ == "SwitchTransformersExperts")
    assert experts["expert_1"].wi.weight.data_ptr() == experts._rl_wi[1].data_ptr()
    # and loop restores the library's forward on the same model
    from core.models.adapters.switch_experts import set_switch_experts_kernel

    assert set_switch_experts_kernel(grouped.model, "loop") == "loop" and "forward" not in experts.__dict__


def test_grouped_experts_follow_a_dtype_change(tiny_model_dir):
    from core.models.adapters.switch_experts import set_switch_experts_kernel

    lm = load_model(str(tiny_model_dir), dtype="float32", experts_kernel="grouped")
    reference = load_model(str(tiny_model_dir), dtype="float32", experts_kernel="loop")
    for m in (lm, reference):
        m.model.to(torch.bfloat16)
    set_switch_experts_kernel(lm.model, "grouped")  # restacks: the old stack no longer backs the weights
    ids = lm.tokenizer(["the river bank"], return_tensors="pt")
    with torch.inference_mode():
        a, b = (m.model(**ids, decoder_input_ids=ids["input_ids"]).logits for m in (lm, reference))
    assert a.dtype == torch.bfloat16
    torch.testing.assert_close(a.float(), b.float(), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("read", ["input", "label"])
def test_decoder_traced_up_to_the_target_is_identical_with_drops(tiny_model_dir, read):
    """`until`: the causal decoder runs only up to the last token before the character offset; its routing there is
    the full trace's, bit for bit, drops included (capacity 2 forces them), and the rest is NaN, never invented."""
    loaded = load_model(str(tiny_model_dir), dtype="float32")
    for routers in switch_routers(loaded.model).values():
        for _, module in routers:
            module.expert_capacity = 2
    texts = [TEXTS[2], TEXTS[1], TEXTS[0]]
    until = [texts[0].index("cave") + 4, texts[1].index("rates") + 5, None]
    full = Tracer(loaded).trace(texts, decoder_read=read)
    cut = Tracer(loaded).trace(texts, decoder_read=read, until=until)
    assert cut[2].causal_prefix is None and full[0].causal_prefix is None
    for f, c, u in zip(full, cut, until):
        assert np.array_equal(f.stacks["encoder"].token_probs, c.stacks["encoder"].token_probs)
        m = c.causal_prefix or len(f.tokens)
        assert m < len(f.tokens) or u is None
        a, b = f.stacks["decoder"], c.stacks["decoder"]
        assert np.array_equal(a.token_probs[:, :m], b.token_probs[:, :m])
        assert np.array_equal(a.dropped[:, :m], b.dropped[:, :m]) and np.array_equal(a.top1[:, :m], b.top1[:, :m])
        assert np.isnan(b.token_probs[:, m:]).all() and (b.top1[:, m:] == -1).all()
        if u is not None:
            end = f.text[:u].split()
            assert np.array_equal(f.word_probs_at("decoder", len(end) - 1), c.word_probs_at("decoder", len(end) - 1))
            assert np.isnan(c.word_probs_at("decoder", len(f.text.split()) - 1)).all()
    assert any(s.stacks["decoder"].dropped.any() for s in full)  # the capacity queue was exercised


def test_decoder_only_traced_up_to_the_target_is_identical(tmp_path):
    from helpers import build_tiny_decoder

    loaded = load_model(str(build_tiny_decoder(tmp_path / "mix")), dtype="float32")
    texts = ["the river bank was steep and wet after the rain", "a bank raised its rates"]
    until = [texts[0].index("steep") + 5, texts[1].index("bank") + 4]
    full, cut = Tracer(loaded).trace(texts), Tracer(loaded).trace(texts, until=until)
    for f, c in zip(full, cut):
        m = c.causal_prefix
        assert m is not None and m < len(f.tokens)
        # equal up to float rounding (a shorter sequence changes the attention kernel's blocking), same choices
        np.testing.assert_allclose(f.stacks["decoder"].token_probs[:, :m], c.stacks["decoder"].token_probs[:, :m],
                                   rtol=0, atol=1e-6)
        np.testing.assert_array_equal(f.stacks["decoder"].selected[:, :m], c.stacks["decoder"].selected[:, :m])


def test_a_partial_trace_is_cached_apart_and_a_full_one_serves_it(tiny_loaded, tmp_path):
    from core.tracing.cache import TraceCache

    cache = TraceCache(tmp_path / "cache")
    tracer = Tracer(tiny_loaded, cache=cache)
    assert tracer.trace([TEXTS[1]], until=[10])[0].causal_prefix is not None
    assert tracer.trace([TEXTS[1]], until=[10])[0].causal_prefix is not None  # cached under its own key
    assert tracer.trace([TEXTS[1]])[0].causal_prefix is None  # a full request is never served the partial trace
    tracer.trace([TEXTS[2]])
    assert tracer.trace([TEXTS[2]], until=[10])[0].causal_prefix is None  # a cached full trace serves a partial one
