"""The self-check on the cases real checkpoints bring: half precision with realistic outputs, a reading that names
more experts than were dispatched, weight-0 dispatches, a model whose routing depends on its batch or on chance, and a
model that crashes when run (its own exit code, no traceback)."""
from __future__ import annotations

import pytest
import torch

from core.cli import main
from core.models.loading import load_model
from core.tracing.self_check import self_check
from helpers import build_tiny_decoder


@pytest.fixture(scope="module")
def mixtral(tmp_path_factory):
    return build_tiny_decoder(tmp_path_factory.mktemp("mixtral"), "mixtral", seed=3)


def _scale_outputs(loaded, target: float) -> None:
    """Expert weights scaled so the experts' outputs reach about `target` (real checkpoints' magnitude), not the
    ~0.01 of a random tiny model."""
    for _ in range(3):  # each layer's scale moves the next layer's inputs: settle in a few rounds
        scales = {layer.block: layer.scale for layer in self_check(loaded).layers}
        with torch.no_grad():
            for name, p in loaded.model.named_parameters():
                if name.endswith("experts.down_proj"):
                    p.mul_(target / scales[int(name.split("layers.")[1].split(".")[0])])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_healthy_model_with_outputs_about_two_passes_in_half_precision_and_a_fault_fails(dtype, mixtral,
                                                                                          monkeypatch):
    loaded = load_model(str(mixtral), dtype=dtype)
    _scale_outputs(loaded, 2.0)
    result = self_check(loaded)
    assert result.ok is True, result.summary()
    assert all(1.0 <= layer.scale <= 4.0 for layer in result.layers)  # outputs about 2, as asked
    assert max(layer.max_diff for layer in result.layers) > 0  # half precision does round: the tolerance is needed
    experts = type(loaded.model.layers[0].mlp.experts)
    honest = experts.forward
    monkeypatch.setattr(experts, "forward", lambda self, hidden, index, weights: honest(
        self, hidden, torch.arange(index.shape[1]).expand_as(index).to(index), weights))  # runs e0, e1 whatever it is handed
    faulty = self_check(loaded)
    assert faulty.ok is False and all(layer.reading_matches for layer in faulty.layers)
    assert max(layer.max_diff / layer.tolerance for layer in faulty.layers) > 3  # whole outputs, not rounding


def test_the_reading_must_equal_the_dispatch_both_ways_and_weight_zero_dispatches_are_named(mixtral, monkeypatch):
    """A reading that names one expert more than the model dispatched fails (dispatched ⊆ read alone let it pass);
    a dispatch handed with weight 0 counts as dispatched and is named in the summary."""
    loaded = load_model(str(mixtral), dtype="float32")
    adapter = type(loaded.adapter)
    reading = adapter.to_probs

    def one_more(self, out):
        probs, dropped, chosen = reading(self, out)
        extra = (chosen.max(-1, keepdim=True).values + 1) % 8
        extra = torch.where((chosen == extra).any(-1, keepdim=True), (extra + 1) % 8, extra)
        return probs, dropped, torch.cat([chosen, extra], -1)

    monkeypatch.setattr(adapter, "to_probs", one_more)
    result = self_check(loaded)
    assert result.ok is False and not any(layer.reading_matches for layer in result.layers)
    assert "not the ones the model dispatched" in result.summary()
    monkeypatch.setattr(adapter, "to_probs", reading)

    hooks = [module.register_forward_hook(lambda _m, _a, out: (out[0], out[1] * torch.tensor([1.0, 0.0]), out[2]))
             for name, module in loaded.model.named_modules() if type(module).__name__.endswith("TopKRouter")]
    try:
        zeroed = self_check(loaded)
    finally:
        for h in hooks:
            h.remove()
    assert zeroed.ok is True, zeroed.summary()
    assert all(layer.zero_weight == layer.tokens for layer in zeroed.layers)
    assert f"{sum(layer.zero_weight for layer in zeroed.layers)} dispatches carried weight 0" in zeroed.summary()


def _checked_with(loaded, routers, pre_hook):
    """The self-check with `pre_hook` on every router (removed afterwards, also on failure)."""
    hooks = [r.register_forward_pre_hook(pre_hook) for r in routers]
    try:
        return self_check(loaded)
    finally:
        for h in hooks:
            h.remove()


def test_routing_that_depends_on_the_batch_or_on_chance_fails(mixtral, monkeypatch):
    """Two whole-model checks: the sentence alone and beside another gets the same choice, and two runs agree. A
    router made to read its batch (here: noise scaled by the batch size) or to draw at random fails each."""
    loaded = load_model(str(mixtral), dtype="float32")
    healthy = self_check(loaded)
    assert healthy.ok is True and healthy.batch_changes == 0 and healthy.run_changes == 0
    assert "the same choice alone and in a batch; two runs agree" in healthy.summary()
    routers = [m for m in loaded.model.modules() if type(m).__name__.endswith("TopKRouter")]

    def batch_dependent(module, args):
        hidden = args[0]
        batched = hidden.shape[0] > 48  # the sentence alone has 31 tokens; beside the other, 2 × 40
        return (hidden + 5.0 * batched * torch.linspace(-1, 1, hidden.shape[-1]),)

    batched = _checked_with(loaded, routers, batch_dependent)
    assert batched.batch_changes > 0 and batched.ok is False and "NOT batch-invariant" in batched.summary()
    generator = torch.Generator().manual_seed(0)
    noisy = _checked_with(loaded, routers, lambda _m, args: (args[0] + 3.0 * torch.randn(args[0].shape,
                                                                                          generator=generator),))
    assert noisy.run_changes > 0 and noisy.ok is False and "NOT deterministic" in noisy.summary()


def test_a_model_that_crashes_when_run_gets_its_own_exit_code_and_no_traceback(mixtral, monkeypatch, capsys):
    """Exit 3: the model loaded, but its forward pass fails; the message says so in a line, never a traceback, and the
    code differs from FAILED (1) and from cannot-load (2)."""
    from transformers import MixtralForCausalLM

    def broken(self, *args, **kwargs):
        raise RuntimeError("shape mismatch in a custom kernel\nsecond line of internals")

    monkeypatch.setattr(type(load_model(str(mixtral), dtype="float32").model), "forward", broken)
    assert MixtralForCausalLM is not None
    assert main(["check-model", str(mixtral)]) == 3
    err = capsys.readouterr().err
    assert "running it failed (RuntimeError: shape mismatch in a custom kernel)" in err
    assert "Traceback" not in err and "second line" not in err


def test_a_flip_at_a_near_tie_is_a_precision_note_and_any_other_flip_a_failure():
    """In bfloat16 a batch of another shape rounds differently, and a choice whose k-th and (k+1)-th scores are within
    a few epsilons can flip (an OLMoE-1B-7B-shaped model: 13 flips). Such flips are counted as near-ties; a flip with a
    clear gap is not."""
    from core.tracing.self_check import TIE, SelfCheck, _changes

    eps = float(torch.finfo(torch.bfloat16).eps)
    alone = {("decoder", 0): (torch.tensor([[1, 2], [3, 4]]), torch.tensor([TIE * eps / 2, 0.5]))}
    tie_flip = {("decoder", 0): (torch.tensor([[1, 5], [3, 4]]), torch.tensor([TIE * eps / 2, 0.5]))}
    real_flip = {("decoder", 0): (torch.tensor([[1, 2], [3, 5]]), torch.tensor([TIE * eps / 2, 0.5]))}
    assert _changes(alone, alone, eps) == (0, 0)
    assert _changes(alone, tie_flip, eps) == (1, 1)
    assert _changes(alone, real_flip, eps) == (1, 0)
    noted = SelfCheck("m", batch_changes=1, batch_ties=1)
    assert noted.ok is True and "all at near-ties" in noted.whole_model()
    failed = SelfCheck("m", batch_changes=1, batch_ties=0)
    assert failed.ok is False and "NOT batch-invariant" in failed.whole_model()
