"""`python -m core datasets check|download`: verify the benchmark data, or fetch it (needs internet)."""
from __future__ import annotations

import argparse


def cmd_datasets(args: argparse.Namespace) -> int:
    from core.data import datasets
    from core.data.datadir import data_dir

    if args.action == "download":
        from core.data.download import download_all

        for line in download_all():
            print(line)
        return 0
    root = data_dir(args.data_dir)
    report = datasets.LoadReport("SCWS")
    frames = {
        "WordSim353": datasets.load_wordsim353(root),
        "SimLex-999": datasets.load_simlex999(root),
        "SCWS": datasets.load_scws(root, report),
        "WiC": datasets.load_wic(root),
    }
    print(f"data directory: {root} (files verified against SOURCE.md sha256 where given)")
    for name, frame in frames.items():
        print(f"{name}: {len(frame)} rows")
    if report.skipped:
        print(report)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="check the benchmark data, or download it (needs internet)")
    p.add_argument("action", choices=["check", "download"])
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_datasets)
