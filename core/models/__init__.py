"""Models wing: registry, Hub access, loading, placement (one budget type), family adapters, MoE-fication."""
