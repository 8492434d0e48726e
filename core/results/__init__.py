"""Results wing: the saved-result store (frames + RunInfo + notes in one folder), the bundled results, and the
across-models table derived from a result."""
