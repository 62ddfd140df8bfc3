"""The lineage graph as inline SVG, laid out in columns by depth (no JavaScript needed)."""

from __future__ import annotations

from html import escape
from typing import Any

BOX_W, BOX_H, GAP_X, GAP_Y = 210, 44, 60, 14
COLOURS = {"model": "#d6eaf8", "dataset": "#e8f8f5", "base": "#fdebd0"}


def _walk(node: dict[str, Any], depth: int, parent: int | None, out: list[dict[str, Any]], kind: str) -> None:
    index = len(out)
    out.append({"node": node, "depth": depth, "parent": parent, "kind": kind})
    for child in node.get("datasets", []) + node.get("derived_from", []):
        _walk(child, depth + 1, index, out, "dataset")
    if node.get("base_model"):
        _walk(node["base_model"], depth + 1, index, out, "base")


def _fit(text: str, limit: int) -> str:
    """``text`` cut to the box with an ellipsis that says so (the full text is the node's tooltip)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(tree: dict[str, Any]) -> str:
    nodes: list[dict[str, Any]] = []
    _walk(tree, 0, None, nodes, "model")
    rows: dict[int, int] = {}
    for item in nodes:
        item["row"] = rows.get(item["depth"], 0)
        rows[item["depth"]] = item["row"] + 1
        item["x"] = 10 + item["depth"] * (BOX_W + GAP_X)
        item["y"] = 10 + item["row"] * (BOX_H + GAP_Y)
    width = 20 + (max(rows) + 1) * (BOX_W + GAP_X)
    height = 20 + max(rows.values()) * (BOX_H + GAP_Y)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="lineage graph">'
    ]
    for item in nodes:
        if item["parent"] is not None:
            p = nodes[item["parent"]]
            x1, y1 = p["x"] + BOX_W, p["y"] + BOX_H / 2
            x2, y2 = item["x"], item["y"] + BOX_H / 2
            parts.append(
                f'<path d="M{x1},{y1} C{x1 + 30},{y1} {x2 - 30},{y2} {x2},{y2}" stroke="#888" fill="none"/>'
            )
    for item in nodes:
        node = item["node"]
        label = node["ref"] + (f" [{node['role']}]" if node.get("role") else "")
        sub = f"license: {node.get('license') or '-'}"
        if node.get("personal_data") and node["personal_data"] != "none":
            sub += f" · {node['personal_data']} data"
        parts.append(
            f'<g class="node {item["kind"]}"><title>{escape(label)} — {escape(sub)}</title><rect x="{item["x"]}" y="{item["y"]}" width="{BOX_W}" height="{BOX_H}" '
            f'rx="6" fill="{COLOURS[item["kind"]]}" stroke="#567"/>'
            f'<text x="{item["x"] + 8}" y="{item["y"] + 18}" font-size="12" font-weight="600">{escape(_fit(label, 32))}</text>'
            f'<text x="{item["x"] + 8}" y="{item["y"] + 34}" font-size="10.5">{escape(_fit(sub, 38))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
