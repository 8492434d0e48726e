"""Measures wing: similarity, correlation and effect-size statistics (thin over scipy) and how results are grouped
and averaged across models. Knows nothing of datasets, studies or files."""
