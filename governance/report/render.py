"""Render a report (the dict from ``service.build``) as JSON, HTML or PDF."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2

from governance.errors import InvalidInput
from governance.report import charts
from governance.report.mapping import NOT_RECORDED

FORMATS = ("json", "html", "pdf")
MEDIA_TYPES = {"json": "application/json", "html": "text/html; charset=utf-8", "pdf": "application/pdf"}

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


def timestamp(value: Any) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` (seconds are what an auditor compares)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.tzinfo is not None else "")


def number(value: Any) -> str:
    """A metric as it is meant: four significant digits, not a 16-digit float."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


_env.filters["ts"] = timestamp
_env.filters["num"] = number


def section_titles(report: dict[str, Any]) -> dict[str, str]:
    return {s["key"]: f"{s['number']}. {s['title']}" for s in report["report"]["sections"]}


def to_json(report: dict[str, Any]) -> bytes:
    return json.dumps(report, indent=2, default=str).encode("utf-8")


def to_html(report: dict[str, Any]) -> bytes:
    svgs = {key: [charts.svg(f) for f in figs] for key, figs in charts.figures(report).items()}
    return (
        _env.get_template("report.html")
        .render(r=report, charts=svgs, n=section_titles(report), nr=NOT_RECORDED)
        .encode("utf-8")
    )


def render(report: dict[str, Any], fmt: str) -> bytes:
    if fmt == "json":
        return to_json(report)
    if fmt == "html":
        return to_html(report)
    if fmt == "pdf":
        from governance.report.pdf import to_pdf

        return to_pdf(report)
    raise InvalidInput(f"report format '{fmt}' is not one of {', '.join(FORMATS)}")
