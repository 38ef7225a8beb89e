"""Drift report: compare sampled prediction log entries with the model's training statistics.

    python monitor.py --logs FILE [--model DIR] [--out report.html]
    python monitor.py --bigquery PROJECT.DATASET.TABLE [--model DIR] [--out report.html]

Exit status: 0 no threshold crossed, 1 drift (a threshold crossed), 2 anything else that went
wrong (one line on stderr saying what): only drift gives 1, so a scheduler can alert on it.
The input is read as a stream and its values counted, never kept: memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from monitoring.drift import Thresholds, compare_feature, compare_outputs, judge
from monitoring.entries import Collected, LogReadError, read_log_file, restore_feature_names
from monitoring.report import Report, html_page, ordered, summary
from monitoring.tally import Tally


class UsageError(Exception):
    """Something the user gave cannot be used; reported as one line, exit 2."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--logs", help="the function's log lines, or gcloud logging read JSON")
    source.add_argument("--bigquery", metavar="PROJECT.DATASET.TABLE", help="the sink's table")
    parser.add_argument("--bigquery-endpoint", help="BigQuery API base URL (an emulator)")
    parser.add_argument("--model", default="model", help="model folder with manifest.json")
    parser.add_argument("--out", help="write the HTML report here")
    defaults = Thresholds()
    parser.add_argument("--psi", type=float, default=defaults.psi, help="PSI threshold")
    parser.add_argument(
        "--missing-change",
        type=float,
        default=defaults.missing_change,
        help="largest allowed change of a feature's missing share (0.1 = 10 points)",
    )
    parser.add_argument(
        "--unseen-share",
        type=float,
        default=defaults.unseen_share,
        help="largest allowed share of rows with categories never seen in training",
    )
    return parser.parse_args(argv)


def load_manifest(folder: str) -> dict[str, Any]:
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    if not isinstance(manifest, dict) or "training_statistics" not in manifest:
        raise UsageError(
            f"{path} has no training_statistics; package the model again with train.py"
        )
    return dict(manifest)


def manifest_features(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The typed feature list; a manifest without one has non-nullable numbers only."""
    features = manifest.get("features")
    if features:
        return list(features)
    names = manifest.get("feature_names", [])
    return [{"name": n, "type": "number", "nullable": False} for n in names]


def collect(args: argparse.Namespace, manifest: Mapping[str, Any]) -> Collected:
    """The logged rows of the manifest's model version, counted per feature and output."""
    stats = manifest["training_statistics"]
    known = {f["name"]: f.get("categories") for f in manifest_features(manifest)}
    collected = Collected(
        model_version=str(manifest.get("model_version")),
        features={f["name"]: Tally.for_feature(f, known.get(f["name"])) for f in stats["features"]},
        outputs=Tally.for_outputs(stats["outputs"]),
    )
    if args.logs:
        read_log_file(args.logs, collected)
        return collected
    from monitoring.bigquery_source import read_bigquery

    for payload in restore_feature_names(
        read_bigquery(args.bigquery, args.bigquery_endpoint), list(known)
    ):
        collected.add(payload)
    return collected


def build_report(manifest: Mapping[str, Any], collected: Collected, limits: Thresholds) -> Report:
    stats = manifest["training_statistics"]
    drifts = [
        judge(compare_feature(feature, collected.features[feature["name"]]), limits)
        for feature in stats["features"]
    ]
    drifts.append(
        judge(compare_outputs(stats["outputs"], collected.outputs, stats["rows"]), limits)
    )
    return Report(str(manifest.get("model_version")), collected, ordered(drifts))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except (UsageError, LogReadError) as exc:
        message = str(exc)
    except OSError as exc:
        message = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    except KeyboardInterrupt:
        message = "interrupted"
    except Exception as exc:  # exit 1 means drift: no other failure may end with it
        message = f"failed ({type(exc).__name__}): {exc}"
    print(f"monitor.py: {' '.join(message.split())}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """The report: 0 without drift, 1 with drift; what cannot be used raises."""
    limits = Thresholds(args.psi, args.missing_change, args.unseen_share)
    manifest = load_manifest(args.model)
    collected = collect(args, manifest)
    if not collected.rows:
        raise UsageError(
            f"no logged rows for model version {collected.model_version}; "
            f"other versions: {collected.other_versions or 'none'}"
        )
    report = build_report(manifest, collected, limits)
    print(summary(report))
    if args.out:
        Path(args.out).write_text(html_page(report), encoding="utf-8")
        print(f"HTML report: {args.out}")
    return 1 if report.crossed else 0


if __name__ == "__main__":
    sys.exit(main())
