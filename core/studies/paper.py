"""The paper's published values (Arnold, Fietta, Yesilbas 2024, Tables 1 and 2)."""
from __future__ import annotations

import pandas as pd

CITATION = ("Arnold, Fietta, Yesilbas (2024), \"Routing in Sparsely-gated Language Models responds to Context\", "
            "arXiv 2409.14107")

# experts: (T1 enc assoc, T1 enc sim, T1 dec assoc, T1 dec sim, T2 enc w/o, T2 enc w/, T2 dec w/o, T2 dec w/)
_VALUES = {
    8: (0.2804, 0.1679, 0.0699, 0.0510, 0.2439, 0.3183, 0.1497, 0.1531),
    16: (0.3339, 0.2070, 0.1266, 0.1179, 0.3493, 0.4050, 0.1981, 0.2118),
    32: (0.4333, 0.2706, 0.1879, 0.1127, 0.3873, 0.4634, 0.2997, 0.1519),
    64: (0.3513, 0.1485, 0.2435, 0.1788, 0.2562, 0.3980, 0.2827, 0.3761),
    128: (0.1403, 0.1474, 0.0690, 0.1317, 0.1500, 0.3079, 0.1382, 0.2560),
}
_AVG = (0.3078, 0.1883, 0.1394, 0.1184, 0.2773, 0.3785, 0.2137, 0.2298)
_COLUMNS = [("table1", "encoder", "association"), ("table1", "encoder", "similarity"),
            ("table1", "decoder", "association"), ("table1", "decoder", "similarity"),
            ("table2", "encoder", "without context"), ("table2", "encoder", "with context"),
            ("table2", "decoder", "without context"), ("table2", "decoder", "with context")]


def published() -> pd.DataFrame:
    """Long frame: table, experts ('avg' as 0), stack, setting, rho."""
    rows = []
    for experts, vals in [*_VALUES.items(), (0, _AVG)]:
        for (table, stack, setting), rho in zip(_COLUMNS, vals):
            rows.append((table, experts, stack, setting, rho))
    return pd.DataFrame(rows, columns=["table", "experts", "stack", "setting", "published_rho"])
