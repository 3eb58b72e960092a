"""Stock moved round a loop, taken out of a plan's transfers.

Where moving costs nothing (an own fleet's lanes priced 0), sending units round a loop of
warehouses (A -> B -> C -> A) costs nothing either, so a plan with 14,867 units circling three
stores is as optimal as one without: the exact-packs MILP returned one. Taking the same units off
every arc of a loop leaves what each warehouse receives net of what it sends, so every balance
and ending stock, as it was, and never costs more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from allocation.model import Arc

__all__ = ["without_cycles"]

FlowKey = tuple[str, int]  # (sku, arc index)
_DUST = 1e-9  # units; less than this on an arc is no flow


def without_cycles(flows: dict[FlowKey, float], arcs: Sequence[Arc]) -> dict[FlowKey, float]:
    """The flows (units by sku and arc index) with every directed cycle of each SKU's positive
    flows cancelled: the least flow on the cycle taken off each of its arcs, until none is left.
    Flows on no cycle are returned as given."""
    left = dict(flows)
    by_sku: dict[str, list[int]] = defaultdict(list)
    for (s, i), units in flows.items():
        if units > _DUST:
            by_sku[s].append(i)
    for s, used in by_sku.items():
        while cycle := _find_cycle(s, used, left, arcs):
            least = min(left[(s, i)] for i in cycle)
            for i in cycle:
                left[(s, i)] -= least
                if left[(s, i)] <= _DUST:
                    left[(s, i)] = 0.0
    return left


def _find_cycle(
    s: str, used: list[int], flows: dict[FlowKey, float], arcs: Sequence[Arc]
) -> list[int] | None:
    """The arc indices of one directed cycle among s's arcs still carrying flow, or None: a
    depth-first search that meets a warehouse already on its path."""
    out: dict[str, list[int]] = defaultdict(list)
    for i in used:
        if flows[(s, i)] > _DUST:
            out[arcs[i].origin].append(i)
    done: set[str] = set()
    for root in list(out):
        if root in done:
            continue
        path: list[int] = []  # arcs from root to the warehouse being searched
        on_path = {root: 0}  # warehouse -> its position on the path
        stack = [(root, iter(out[root]))]
        while stack:
            node, pending = stack[-1]
            arc = next(pending, None)
            if arc is None:
                stack.pop()
                done.add(node)
                del on_path[node]
                if path:
                    path.pop()
                continue
            ahead = arcs[arc].destination
            if ahead in on_path:
                return [*path[on_path[ahead] :], arc]
            if ahead in done:
                continue
            path.append(arc)
            on_path[ahead] = len(path)
            stack.append((ahead, iter(out.get(ahead, []))))
    return None
