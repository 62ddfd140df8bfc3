"""The report's charts, drawn with matplotlib (no pyplot state: safe inside a server)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from matplotlib.figure import Figure


def _plain(text: str) -> str:
    """``text`` drawn as written: a name with ``$...$`` in it is not mathtext (which could fail to parse)."""
    return str(text).replace("$", r"\$")


def _figure() -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.4, 3.0), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


def robustness_figure(curve: dict[str, Any]) -> Figure:
    fig, ax = _figure()
    ax.plot(curve["epsilons"], curve["worst_case"], marker="o", color="#b03a2e")
    ax.set_xlabel("perturbation budget ε")
    ax.set_ylabel("worst-case accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"Robustness curve (window ending {curve['window_end'][:16]})", fontsize=10)
    return fig


def drift_figure(series: dict[str, Any]) -> Figure | None:
    runs = series["runs"]
    names = sorted({k for r in runs for k in r["metrics"]})
    if not runs or not names:
        return None
    fig, ax = _figure()
    times = [datetime.fromisoformat(r["window_end"]) for r in runs]
    for name in names[:6]:
        ax.plot(times, [r["metrics"].get(name) for r in runs], marker=".", label=_plain(name))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax.set_title(_plain(f"{series['monitor']} ({series['kind']})"), fontsize=10)
    fig.autofmt_xdate()
    return fig


def svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.find("<svg") :]


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def figures(report: dict[str, Any]) -> dict[str, list[Figure]]:
    """Charts by section key."""
    out: dict[str, list[Figure]] = {"robustness": [], "monitoring": []}
    latest = report["robustness"]["latest"]
    if latest is not None:
        out["robustness"].append(robustness_figure(latest))
    for series in report["monitoring"]["drift"]:
        fig = drift_figure(series)
        if fig is not None:
            out["monitoring"].append(fig)
    return out
