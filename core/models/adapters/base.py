"""The adapter interface: everything a model family does differently lives behind it.

The tracer, the analyses, the CLI and the pages ask an adapter; none of them branches on a family name.
Modelled on TransformerLens's `ArchitectureAdapter` and llm-transparency-tool's `TransparentLlm`: one typed
object per loaded model, with shape-annotated methods.
"""
from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from core.models.adapters.scoring import SOFTMAX_TOPK, Scoring
from core.types import Architecture, DecoderRead, ExpertsKernel, Family, Stack

# Routers by stack, as (block or layer index, module), in block order.
Routers = dict[Stack, list[tuple[int, torch.nn.Module]]]
# What a hook yields per router: probabilities (..., E) float32, dropped (...) bool, selected experts (..., k).
Captured = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Converter = Callable[[Any], Captured]


def modules_by_class_suffix(model: torch.nn.Module, suffixes: tuple[str, ...], index_after: str
                            ) -> list[tuple[str, int, torch.nn.Module]]:
    """(name, index, module) of every module whose class name ends with one of `suffixes`; index = the number in
    the module's dotted name right after `index_after` ("block", "layers"). Router discovery, shared by families."""
    found = []
    for name, module in model.named_modules():
        if type(module).__name__.endswith(suffixes):
            parts = name.split(".")
            found.append((name, int(parts[parts.index(index_after) + 1]), module))
    return found


@dataclass(frozen=True)
class Copy:
    """What the user reads about a family: typed fields, never strings to sniff.

    label: one line naming the model kind ("Switch Transformer (sparsely trained, top-1 routing)").
    caveat: the sentence that must stand beside every number of such a model ("" when none is needed).
    stack_notes: per stack, how its routing is read (teacher forcing, left context only).
    figure_tag: appended to figure titles of such a model ("" when none).
    learn_note: the Learn page's box about this kind of model (markdown, "" when none).
    demo_hint: shown beside a teaching model of this family.
    """

    label: str
    caveat: str = ""
    stack_notes: dict[Stack, str] = field(default_factory=dict)
    figure_tag: str = ""
    learn_note: str = ""
    demo_hint: str = ""


class ModelAdapter(ABC):
    """One loaded model's family knowledge. Subclasses set the class attributes and implement the methods."""

    family: Family
    architecture: Architecture
    stacks: tuple[Stack, ...]
    top_k: int = 1
    num_experts: int
    causal: bool = False  # every stack sees left context only
    causal_stacks: tuple[Stack, ...] = ()  # stacks whose routing of token t depends on tokens <= t only (and capacity
    # queues that fill in token order): `run` may cut their input after the last token a request reads
    capacity: int | None = None  # tokens per expert at inference (Switch); None = nothing is ever dropped
    has_router: bool = True  # False: "routing" is read off a dense model (MoE-fied), no router was trained
    compares_with_paper: bool = False  # the paper studied this family: its values are shown (for reference) beside it
    decoder_reads: tuple[DecoderRead, ...] = ("input",)  # where its decoder routing can be read
    scoring: Scoring = SOFTMAX_TOPK  # how its router scores and chooses; defines the routing distribution
    shared: str = ""  # experts every token runs beside the routed ones ("" when none)
    extra_columns: dict[int, str] = {}  # noqa: RUF012 - read-only: distribution columns that are not experts
    one_text_per_forward: str = ""  # why a text's routing depends on its batch, so it is traced alone ("" = batches ok)
    copy: Copy

    def decoder_read(self, asked: DecoderRead | None) -> DecoderRead:
        """The one answer to "where is this model's decoder routing read?": `asked` when this model offers it,
        else its first reading ("input"). Beside another model (Compare's second model) a reading it lacks falls
        back; a reading asked of this model alone is checked by the tracer instead (an error, not a fallback)."""
        return asked if asked in self.decoder_reads else self.decoder_reads[0]

    # ---------- loading ----------
    @staticmethod
    def model_class() -> Any:
        """The transformers Auto class to load the weights with (no LM head where the routing does not need it)."""
        from transformers import AutoModel

        return AutoModel

    objective: str | None = None  # the training loss an ablation measures: "span corruption", "next token"
    ablation_reroutes: bool = False  # removing an expert re-routes its tokens by the family's rule (else without_expert)

    def lm_model_class(self) -> Any:
        """The Auto class with the language-model head, for a loss (ablation); the routing class by default."""
        return self.model_class()

    def without_expert(self, output: Any, expert: int) -> Any:
        """The router's output with `expert` removed (the ablation's intervention), or an error where a family has
        no router to intervene on."""
        raise NotImplementedError(f"{self.family} models have no trained router: nothing to ablate.")

    def dense_reference(self, model: torch.nn.Module) -> contextlib.AbstractContextManager[None]:
        """While open, every expert runs: the dense model a sparse-after-training model is measured against (the
        "dense agreement" objective). Only such models have one."""
        raise NotImplementedError(f"{self.family} models have no dense reference.")

    def after_load(self, model: torch.nn.Module) -> None:  # noqa: B027 - optional hook
        """Called once with the loaded model (MoE-fication clusters its neurons here)."""

    def revision_tag(self) -> str:
        """Appended to the checkpoint's revision in cache keys ("" unless routing depends on more than weights)."""
        return ""

    # ---------- tracing ----------
    @abstractmethod
    def routers(self, model: torch.nn.Module) -> Routers:
        """The modules whose forward output carries the routing, per stack."""

    def router_weight(self, router: torch.nn.Module) -> torch.Tensor | None:
        """The trained router's (E, d) weight, logits = input @ weightᵀ (no bias in the supported families), for
        the random-router control; None where there is no trained router (MoE-fied models)."""
        weight = getattr(router, "weight", None)
        if not isinstance(weight, torch.Tensor) and isinstance(getattr(router, "wg", None), torch.nn.Linear):
            weight = router.wg.weight  # Hunyuan-MoE's gate keeps its projection as a Linear
        return weight.detach() if isinstance(weight, torch.Tensor) and weight.dim() == 2 else None

    def dispatched(self, args: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What an experts module was handed (its forward's positional arguments) → (experts (N, k) long, their
        weights (N, k), dropped (N,) bool). transformers 5's convention: (hidden, top_k_index, top_k_weights)."""
        index = args[1].reshape(-1, args[1].shape[-1]).long()
        return index, args[2].reshape(index.shape), torch.zeros(index.shape[0], dtype=torch.bool, device=index.device)

    def logits_of(self, output: Any) -> torch.Tensor:
        """The router logits in its output (N, E): the first of transformers 5's (logits, weights, experts), or the
        output itself where the router returns logits only."""
        return output if isinstance(output, torch.Tensor) else output[0]

    def handed(self, output: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the block will hand its experts module for this router output, as `dispatched` reads it: (experts
        (N, k), weights (N, k), dropped (N,)). Interventions check the module was handed exactly this."""
        _logits, index, weights = self.route_of(output)
        return index, weights, torch.zeros(index.shape[0], dtype=torch.bool, device=index.device)

    def chosen_weights(self, output: Any) -> torch.Tensor:
        """The weights the model gives its chosen experts, from the router's output (shaped like `selected`): what
        the sensitivity table's "distribution: the chosen weights" reads. transformers 5's top-k routers return them
        second; a model without them says so."""
        if not self.has_router:
            raise NotImplementedError(f"{self.family} models have no router and no chosen weights.")
        return output[1]

    def as_chosen_weights(self, output: Any, captured: Captured) -> Captured:
        """`captured` with its distribution replaced by the chosen weights, normalised, zero on unchosen experts."""
        probs, dropped, selected = captured
        weights = self.chosen_weights(output).reshape(selected.shape).float().clamp_min(0)
        dense = torch.zeros_like(probs).scatter(-1, selected.long(), weights)
        return dense / dense.sum(-1, keepdim=True).clamp_min(1e-20), dropped, selected

    def unembed(self, lm_model: torch.nn.Module, hidden: torch.Tensor, stack: Stack = "decoder") -> torch.Tensor:
        """Logits of `hidden` (N, d) read as the last layer's output: the final norm, then the LM head (the logit
        lens). Default: a causal LM's `model.norm` (or `final_layernorm`, `ln_f`) and its output embeddings."""
        if stack != "decoder" or not self.causal:
            raise NotImplementedError(f"{self.family}: the logit lens reads a decoder's experts.")
        base = getattr(lm_model, "model", None) or getattr(lm_model, "language_model", None)
        norm = next((getattr(base, n) for n in ("norm", "final_layernorm", "ln_f") if hasattr(base, n)), None)
        head = lm_model.get_output_embeddings() if hasattr(lm_model, "get_output_embeddings") else None
        if norm is None or head is None:
            raise NotImplementedError(f"{self.family}: no final norm and LM head found (load it with its LM head).")
        return head(norm(hidden))

    # ---------- writing to routing (core.tracing.interventions) ----------
    def route_of(self, output: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A router's output → (logits (N, E), chosen experts (N, k), their weights (N, k)), one row per token."""
        raise NotImplementedError(f"{self.family}: routing cannot be written on this family yet.")

    def reroute(self, output: Any, router: torch.nn.Module, call: tuple, delta: torch.Tensor, k: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """The family's own choice, (experts (N, k), weights), with its logits shifted by `delta` (N, E) and `k`
        experts when given; `call`: the router's (args, kwargs) as its hook saw them."""
        raise NotImplementedError(f"{self.family}: routing cannot be written on this family yet.")

    def weights_for(self, output: Any, router: torch.nn.Module, call: tuple, rows: torch.Tensor,
                    chosen: torch.Tensor) -> torch.Tensor:
        """The family's own weights (M, k) for given expert sets `chosen` (M, k) at token rows `rows` (M,)."""
        raise NotImplementedError(f"{self.family}: routing cannot be written on this family yet.")

    def with_route(self, output: Any, rows: torch.Tensor, chosen: torch.Tensor, weights: torch.Tensor) -> Any:
        """`output` with the tokens of `rows` (N,) bool sent to `chosen` (N, k') with `weights` (N, k'); every other
        token keeps its own route bit for bit."""
        raise NotImplementedError(f"{self.family}: routing cannot be written on this family yet.")

    def experts_rows(self, out: torch.Tensor, n: int) -> torch.Tensor:
        """An experts module's output as one row per token (N, ·), as `run_one_expert` returns it."""
        return out.reshape(n, -1)

    def run_one_expert(self, experts: torch.nn.Module, hidden: torch.Tensor, expert: int) -> torch.Tensor:
        """`expert` alone on every row of `hidden`, through the model's own experts module, with weight 1."""
        n = hidden.shape[0]
        index = torch.full((n, 1), expert, dtype=torch.long, device=hidden.device)
        return experts(hidden, index, torch.ones((n, 1), dtype=hidden.dtype, device=hidden.device))

    @abstractmethod
    def converter(self, stack: Stack, block: int) -> Converter:
        """hook output of router (stack, block) → (probs (..., E) float32, dropped (...), selected (..., k))."""

    @abstractmethod
    def run(self, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, stacks: tuple[Stack, ...],
            decoder_read: DecoderRead = "input", causal_width: int | None = None) -> None:
        """One forward pass of `ids` (B, S) through the asked stacks, with hooks in place. The tracer may stop it at
        the last router it reads; `decoder_offset` says how the decoder's rows line up with the tokens.
        `causal_width`: the `causal_stacks` need only the first that many tokens (None: all)."""

    def set_experts_kernel(self, model: torch.nn.Module, kernel: ExpertsKernel) -> str:
        """Choose how the experts are computed; returns the kernel in use. Default: transformers' own switch for the
        families that have one (`set_experts_implementation`: "eager" is the loop, "grouped_mm" the grouped GEMM;
        "auto" keeps the library's default); other models report "library"."""
        if not hasattr(model, "set_experts_implementation") or not hasattr(model.config, "_experts_implementation"):
            return "library"
        if kernel != "auto":
            try:
                model.set_experts_implementation("eager" if kernel == "loop" else "grouped_mm")
            except (ValueError, ImportError, RuntimeError):
                return "library"
        used = getattr(model.config, "_experts_implementation", None)
        return {"eager": "loop", "grouped_mm": "grouped"}.get(str(used), "library")

    def decoder_offset(self, decoder_read: DecoderRead = "input") -> int:
        """How many leading decoder positions `run` adds before token 0 under `decoder_read`: the rows to discard so
        row t is token t's routing."""
        return 0

    def without_capacity(self, model: torch.nn.Module) -> contextlib.AbstractContextManager[None]:
        """While open, no expert has a capacity limit (nothing is dropped): the sensitivity table's "capacity off".
        A family without a capacity has nothing to lift."""
        return contextlib.nullcontext()

    # ---------- copy ----------
    def kind_sentence(self, is_demo: bool) -> str:
        """One sentence saying what the model is: a real router, a teaching demo, or routing without a router."""
        if not self.has_router:
            return f"Routing without a router: a {self.copy.label}."
        if is_demo:
            return (f"A demo model: a small {self.copy.label} trained by Routing Lens for teaching; its router is "
                    "real, but it is not the paper's checkpoint.")
        return f"A real router: {self.copy.label}."

    def stack_note(self, stack: Stack) -> str:
        return self.copy.stack_notes.get(stack, "")

    def sidebar_note(self) -> str:
        """The sidebar's line about this kind of model ("" when the label says it all)."""
        return ""

    def choice_note(self, chosen) -> str:
        """Under Learn's choice step, for the chosen experts of one token: what did and did not run ("" if the usual)."""
        return ""

    def context_note(self, word: str) -> str:
        """Beside a one-word, two-sentence comparison: what 'context' can mean for this model ("" if the usual)."""
        return ""
