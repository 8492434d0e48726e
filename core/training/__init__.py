"""Training wing: the demo trainers (shared loop, one settings base, one model-card writer)."""
