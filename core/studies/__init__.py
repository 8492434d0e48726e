"""Studies wing: the paper's analyses (Tables 1–2, Figures 1–3, claims, sensitivity) and the one-word comparisons
the Compare and Learn pages make."""
