"""Analysis wing: datasets, metrics (thin over scipy), the paper's experiments, published values, reproduce."""
