"""The one place Routing Lens's version is written: the package metadata, `--version`, run.json and every report."""
__version__ = "0.2.0"
