"""The drift report: a one-screen terminal summary and a self-contained HTML page."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitoring.drift import Drift
from monitoring.entries import Collected

SUMMARY_ROWS = 12


@dataclass
class Report:
    model_version: str
    collected: Collected
    drifts: list[Drift]

    @property
    def crossed(self) -> list[Drift]:
        return [d for d in self.drifts if d.crossed]


def header_lines(report: Report) -> list[str]:
    c = report.collected
    lines = [
        f"model {report.model_version}: {c.rows} rows from {c.entries} log entries"
        + (f" ({c.truncated_entries} truncated)" if c.truncated_entries else "")
    ]
    for version, rows in sorted(c.other_versions.items()):
        lines.append(f"not compared: {rows} rows logged by model version {version}")
    if c.skipped_lines:
        lines.append(f"skipped {c.skipped_lines} lines that are not prediction log entries")
    return lines


def summary(report: Report) -> str:
    """Worst first, one line per feature; what fits on one screen."""
    lines = header_lines(report)
    verdict = (
        f"DRIFT in {len(report.crossed)} of {len(report.drifts)}"
        if report.crossed
        else f"no drift in {len(report.drifts)}"
    )
    lines.append(f"{verdict} features and outputs")
    lines.append(f"{'feature':<28} {'PSI':>7} {'limit':>6} {'missing':>15}  finding")
    for drift in report.drifts[:SUMMARY_ROWS]:
        missing = f"{drift.missing_training:.1%}->{drift.missing_serving:.1%}"
        finding = "; ".join(drift.crossed) or "ok"
        psi = f"{drift.psi:>7.3f} {drift.psi_limit:>6.3f}"
        lines.append(f"{drift.name[:28]:<28} {psi} {missing:>15}  {finding}")
    hidden = len(report.drifts) - SUMMARY_ROWS
    if hidden > 0:
        lines.append(f"... {hidden} more within thresholds (see the HTML report)")
    return "\n".join(lines)


def plot_png(drift: Drift) -> str:
    """Training against serving shares per bin or category, as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    # Names and categories are data: `$0_$25k` is text, never math (nor LaTeX) to typeset.
    with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
        return _draw(plt, drift)


def _draw(plt: Any, drift: Drift) -> str:
    fig, ax = plt.subplots(figsize=(4.2, 2.2), dpi=80)
    x = range(len(drift.labels))
    ax.bar([i - 0.2 for i in x], drift.training_shares, width=0.4, label="training")
    ax.bar([i + 0.2 for i in x], drift.serving_shares, width=0.4, label="serving")
    ax.set_xticks(list(x), [label[:14] for label in drift.labels], rotation=60, fontsize=6)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(drift.name, fontsize=8)
    ax.legend(fontsize=6)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def html_page(report: Report) -> str:
    e = html.escape
    rows = "\n".join(feature_row(d) for d in report.drifts)
    notes = "".join(f"<li>{e(line)}</li>" for line in header_lines(report))
    status = (
        f"Drift in {len(report.crossed)} of {len(report.drifts)}" if report.crossed else "No drift"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report: {e(report.model_version)}</title>
<style>
body{{font-family:sans-serif;margin:1.5em;color:#222}} table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}
.bad{{background:#fde8e8}} .num{{text-align:right;font-variant-numeric:tabular-nums}}
</style></head><body>
<h1>Drift report: model {e(report.model_version)}</h1>
<p><strong>{e(status)}</strong></p><ul>{notes}</ul>
<table><tr><th>feature</th><th>PSI</th><th>PSI limit</th><th>missing share</th>
<th>findings</th><th>training vs serving</th></tr>
{rows}
</table></body></html>
"""


def feature_row(drift: Drift) -> str:
    e = html.escape
    css = ' class="bad"' if drift.crossed else ""
    findings = "<br>".join(e(c) for c in drift.crossed) or "ok"
    if drift.unseen:
        findings += "<br>unseen: " + e(", ".join(f"{c} ({n})" for c, n in drift.unseen.items()))
    return (
        f"<tr{css}><td>{e(drift.name)}</td><td class=num>{drift.psi:.3f}</td>"
        f"<td class=num>{drift.psi_limit:.3f}</td>"
        f"<td class=num>{drift.missing_training:.1%} &rarr; {drift.missing_serving:.1%}</td>"
        f"<td>{findings}</td>"
        f'<td><img alt="{e(drift.name)}: training vs serving" '
        f'src="data:image/png;base64,{plot_png(drift)}"></td></tr>'
    )


def ordered(drifts: Sequence[Drift]) -> list[Drift]:
    from monitoring.drift import severity

    return sorted(drifts, key=severity)
