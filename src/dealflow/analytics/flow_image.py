"""The stage flow as a picture: a directed graph (networkx) drawn by matplotlib, saved as SVG or PNG.

Stages sit left to right in pipeline order, lost stages underneath; each arrow is a
transition, as thick as it is frequent, labelled with its count and median days. Moves
back are drawn in red, closes into lost stages in grey.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

import networkx as nx
import polars as pl
from matplotlib.figure import Figure

from dealflow.analytics.flow import FlowResult
from dealflow.errors import DomainError

COLOURS = {"forward": "#2b6cb0", "skip": "#805ad5", "close": "#2f855a", "lost": "#a0aec0", "regression": "#c53030", "reopen": "#dd6b20"}


def fmt_days(days: float) -> str:
    """A duration for a label: minutes or hours under a day, else days."""
    if days < 1 / 24:
        return f"{days * 1440:.0f} min"
    if days < 1:
        return f"{days * 24:.1f} h"
    return f"{days:.1f} d"


def flow_graph(result: FlowResult, stages: pl.DataFrame, pipeline: str | None = None) -> nx.DiGraph:
    """A DiGraph of one pipeline: nodes are stages (rank, kind), edges carry count and median days."""
    tr = result.transitions
    if pipeline is None and tr.height:
        pipeline = tr.group_by("pipeline").agg(pl.col("count").sum()).sort("count", descending=True)["pipeline"][0]
    g = nx.DiGraph(pipeline=pipeline)
    if pipeline is None:  # nothing moved yet: an empty graph
        return g
    tr = tr.filter(pl.col("pipeline") == pipeline)
    for s in stages.filter(pl.col("pipeline") == pipeline).iter_rows(named=True):
        g.add_node(s["name"], rank=s["rank"], kind=s["kind"], position=s["position"])
    for r in tr.iter_rows(named=True):
        kind = "lost" if r["kind"] == "close" and r["to"] in g and g.nodes[r["to"]].get("kind") == "lost" else r["kind"]
        g.add_edge(r["from"], r["to"], count=r["count"], median_days=r["median_days"], kind=kind)
    g.remove_nodes_from([n for n in list(g.nodes) if g.degree(n) == 0])
    return g


def _layout(g: nx.DiGraph) -> dict[str, tuple[float, float]]:
    ranked = sorted((n for n in g.nodes if g.nodes[n].get("rank") is not None), key=lambda n: g.nodes[n]["rank"])
    lost = sorted((n for n in g.nodes if g.nodes[n].get("rank") is None), key=lambda n: g.nodes[n].get("position") or 0)
    pos = {n: (float(i), 0.0) for i, n in enumerate(ranked)}
    width = max(len(ranked) - 1, 1)
    for j, n in enumerate(lost):
        pos[n] = (width * (j + 1) / (len(lost) + 1), -1.6)
    return pos


def draw_flow(result: FlowResult, stages: pl.DataFrame, path: str | Path, *, pipeline: str | None = None, title: str | None = None) -> Path:
    """Draw the flow graph and save it; the format follows the suffix (.svg or .png)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in {"svg", "png"}:
        raise DomainError(f"cannot draw {path.name}: give a file name ending in .svg or .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_flow(result, stages, fmt, pipeline=pipeline, title=title))
    return path


def render_flow(result: FlowResult, stages: pl.DataFrame, fmt: str = "svg", *, pipeline: str | None = None, title: str | None = None) -> bytes:
    """The flow graph as SVG or PNG bytes (for a web page or an HTTP response)."""
    if fmt not in {"svg", "png"}:
        raise DomainError(f"cannot draw a flow graph as {fmt!r}: use svg or png")
    g = flow_graph(result, stages, pipeline)
    pos = _layout(g)
    n = max(g.number_of_nodes(), 2)
    fig = Figure(figsize=(max(8.0, 2.2 * n), 6.0), layout="tight")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title or f"Stage flow — {g.graph.get('pipeline') or ''}".rstrip(" —"), loc="left")
    node_colour = ["#c6f6d5" if g.nodes[v].get("kind") == "won" else "#fed7d7" if g.nodes[v].get("kind") == "lost" else "#e2e8f0" for v in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=2600, node_color=node_colour, edgecolors="#4a5568")
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=8, labels={v: v.replace(" ", "\n", 1) for v in g.nodes})
    top = max((d["count"] for _, _, d in g.edges(data=True)), default=1)
    for u, v, d in g.edges(data=True):
        same_row_jump = pos[v][1] == pos[u][1] and abs(pos[v][0] - pos[u][0]) > 1.01
        rad = 0.3 if (same_row_jump or g.has_edge(v, u)) else 0.0
        width = 0.8 + 5.0 * math.log1p(d["count"]) / math.log1p(top)
        nx.draw_networkx_edges(
            g, pos, ax=ax, edgelist=[(u, v)], width=width, edge_color=COLOURS.get(d["kind"], "#718096"),
            arrows=True, arrowsize=14, node_size=2600, connectionstyle=f"arc3,rad={rad}", alpha=0.85,
        )
        label = f"{d['count']:,}\n{fmt_days(d['median_days'])}" if d["median_days"] is not None else f"{d['count']:,}"
        nx.draw_networkx_edge_labels(g, pos, ax=ax, edge_labels={(u, v): label}, font_size=7, connectionstyle=f"arc3,rad={rad}",
                                     bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.margins(0.12)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    return buf.getvalue()
