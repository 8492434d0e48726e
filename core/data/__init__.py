"""Data wing: the benchmark data folder, the datasets read from it, downloads, WordNet and the NLTK text reader."""
