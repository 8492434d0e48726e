"""The Switch family's Hub catalogue, as data the registry lists: the paper's google/switch-base-N checkpoints with
their exact sizes, and the larger Switch checkpoints. Family knowledge, so it lives with the Switch adapter."""
from __future__ import annotations

HUB_EXPERT_COUNTS = (8, 16, 32, 64, 128)


def paper_checkpoint(experts: int) -> str:
    """The Hub id of the paper's checkpoint with `experts` experts."""
    return f"google/switch-base-{experts}"


PAPER_CHECKPOINTS = tuple(paper_checkpoint(e) for e in HUB_EXPERT_COUNTS)  # the study's own models
# Exact parameter counts of google/switch-base-N (= count_parameters(switch_base_config(N)); the paper rounds
# them to 0.62B … 7.4B), shown with a memory estimate before anything is downloaded.
HUB_PARAMS = {8: 619_339_008, 16: 1_072_397_568, 32: 1_978_514_688, 64: 3_790_748_928, 128: 7_415_217_408}
# The larger Switch checkpoints, with the sizes Fedus et al. (2022, Table 9) give; they need device_map / offload.
LARGE_SWITCH = {"google/switch-large-128": 26_000_000_000, "google/switch-xxl-128": 395_000_000_000,
                "google/switch-c-2048": 1_571_000_000_000}
