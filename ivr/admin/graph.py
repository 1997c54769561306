"""A picture of the call flow: an SVG drawn on the server, no JavaScript library, no CDN.

Layout: columns by distance from the start node (breadth-first), nodes stacked in each column
in the order the YAML lists them; unreachable nodes in a last column with a dashed border.
Each box links to the node's form (keyboard users tab through them; the page also lists the
same edges as text for screen readers). Edges carry their label: the digit, "open"/"closed",
or nothing for a plain "next". Nodes with a validation issue are drawn in red.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from ivr.flow.model import Dialplan, HoursNode, LanguageNode, MenuNode, Node
from ivr.flow.validate import reachable_nodes

BOX_W, BOX_H, COL_GAP, ROW_GAP, PAD = 170, 46, 70, 16, 16
COLOURS = {
    "language": "#e8f0fe",
    "menu": "#fff4d6",
    "play": "#eef7ee",
    "hours": "#f3e8fd",
    "transfer": "#e0f4f4",
    "goto": "#f1f1f1",
    "hangup": "#fde8e8",
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    label: str


def edges(dialplan: Dialplan) -> list[Edge]:
    out: list[Edge] = []
    for node in dialplan.nodes.values():
        out.extend(node_edges(node))
    return out


def node_edges(node: Node) -> list[Edge]:
    if isinstance(node, MenuNode):
        return [Edge(node.id, t, d) for d, t in node.options.items()]
    if isinstance(node, LanguageNode):
        return [Edge(node.id, node.next, "")]
    if isinstance(node, HoursNode):
        return [Edge(node.id, node.open, "open"), Edge(node.id, node.closed, "closed")]
    return [Edge(node.id, t, "") for t in node.targets() if t]


def layout(dialplan: Dialplan) -> dict[str, tuple[int, int]]:
    """node id -> (column, row)."""
    depth: dict[str, int] = {}
    if dialplan.start in dialplan.nodes:
        depth[dialplan.start] = 0
        queue = [dialplan.start]
        while queue:
            current = queue.pop(0)
            for target in dialplan.nodes[current].targets():
                if target in dialplan.nodes and target not in depth:
                    depth[target] = depth[current] + 1
                    queue.append(target)
    last = max(depth.values(), default=-1) + 1
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    for node_id in dialplan.nodes:
        col = depth.get(node_id, last)
        where[node_id] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return where


def svg(dialplan: Dialplan, broken: set[str] | None = None, link: str = "{id}") -> str:
    """The flow as an inline SVG; ``link`` formats each node's URL from its id."""
    broken = broken or set()
    where = layout(dialplan)
    cols = max((c for c, _ in where.values()), default=0) + 1
    rows = max((r for _, r in where.values()), default=0) + 1
    width = PAD * 2 + cols * BOX_W + (cols - 1) * COL_GAP
    height = PAD * 2 + rows * BOX_H + (rows - 1) * ROW_GAP

    def box(node_id: str) -> tuple[int, int]:
        col, row = where[node_id]
        return PAD + col * (BOX_W + COL_GAP), PAD + row * (BOX_H + ROW_GAP)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" role="img" '
        f'aria-labelledby="graph-title" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}">',
        f'<title id="graph-title">{escape(dialplan.city)}: call flow</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#555"/></marker></defs>',
    ]
    for edge in edges(dialplan):
        if edge.source not in where or edge.target not in where:
            continue
        sx, sy = box(edge.source)
        tx, ty = box(edge.target)
        x1, y1 = sx + BOX_W, sy + BOX_H // 2
        x2, y2 = tx, ty + BOX_H // 2
        if tx > sx:
            d = f"M {x1} {y1} C {x1 + 30} {y1}, {x2 - 30} {y2}, {x2} {y2}"
            lx, ly = (x1 + x2) // 2, (y1 + y2) // 2 - 3
        else:  # back or same column: loop below the boxes
            x1, y1 = sx + BOX_W // 2, sy + BOX_H
            x2, y2 = tx + BOX_W // 2 + 10, ty + BOX_H
            low = max(y1, y2) + ROW_GAP - 4
            d = f"M {x1} {y1} C {x1} {low + 20}, {x2} {low + 20}, {x2} {y2}"
            lx, ly = (x1 + x2) // 2, low + 12
        parts.append(
            f'<path d="{d}" fill="none" stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>'
        )
        if edge.label:
            parts.append(
                f'<text x="{lx}" y="{ly}" class="edge-label" text-anchor="middle" '
                f'font-size="12" fill="#222" paint-order="stroke" stroke="#fff" '
                f'stroke-width="3">{escape(edge.label)}</text>'
            )
    reachable = reachable_nodes(dialplan)
    for node_id, node in dialplan.nodes.items():
        x, y = box(node_id)
        unreachable = node_id not in reachable
        stroke = "#c00" if node_id in broken else "#333"
        dash = ' stroke-dasharray="5 3"' if unreachable else ""
        fill = COLOURS.get(node.kind, "#fff")
        href = escape(link.format(id=node_id), quote=True)
        parts.append(
            f'<a href="{href}" class="graph-node" data-node="{escape(node_id, quote=True)}">'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{2.5 if node_id in broken else 1.2}"{dash}/>'
            f'<text x="{x + 8}" y="{y + 19}" font-size="13" font-weight="bold" fill="#111">'
            f"{escape(node_id[:22])}</text>"
            f'<text x="{x + 8}" y="{y + 36}" font-size="11" fill="#444">{escape(node.kind)}'
            f"{' ★' if node_id == dialplan.start else ''}</text></a>"
        )
    parts.append("</svg>")
    return "".join(parts)
