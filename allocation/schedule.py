"""When each line of a plan can leave and arrive: stock leaves a node only once it is there.

The LP bounds what leaves a node early by what reaches it early, at the node and one lane
upstream (`allocation.model.TimingRow`), in total: not which units go where, and not further up
a chain, so units can still reach the end of a chain later than the LP counts them. This
schedules the plan as solved: at each node, the lines leaving it take its stock earliest
deadline first (a line's deadline: the last day it may leave and still arrive inside its
destination's cover period, or earlier for a transfer that feeds such a line at its
destination; of lines due the same day, the one whose destination runs dry first, then the
higher priority), from what is there soonest: on hand (day 0), then in-transit stock (each
shipment due in time on its day), then the plan's transfers into the node (on their arrival
days). A line leaves on the day the last unit it takes is there and arrives its lead time
later; one that arrives after its destination's cover period is late, and the plan says so.

Nodes are scheduled in lane order (central, regional, forward), again until no departure moves,
so the arrivals of a chain of lateral transfers reach its end whatever order its nodes come in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["Line", "departures"]

_EPS = 1e-9


@dataclass(frozen=True)
class Line:
    """One line of the plan as the schedule reads it: `quantity` of `sku` from `origin` to
    `destination` (a warehouse, or a distributor), `lead` days on the way, `window`: days from
    today within which it must arrive (its destination's cover period), `runs_out`: days the
    destination's stock on hand lasts at its daily demand (it needs the line by then), and
    `priority`: its destination's shortage penalty (a strategic distributor's is the highest),
    which orders the lines that are all due at once."""

    sku: str
    origin: str
    destination: str
    quantity: float
    lead: int
    window: int
    runs_out: float = float("inf")
    priority: float = 0.0


def departures(
    lines: list[Line],
    on_hand: dict[tuple[str, str], float],
    in_transit: dict[tuple[str, str], list[tuple[int, float]]],
    order: Iterable[str],
) -> np.ndarray:
    """The day (from today) each line can leave, in the order of `lines`.

    on_hand: units at (sku, node) today; in_transit: (day it arrives, units) of each shipment to
    (sku, node), counting only what arrives inside the node's cover period; order: the
    warehouses, upstream first (lanes form no cycle). Lines from a node whose on hand covers
    them all leave today, as the LP assumes; only the others are scheduled."""
    leave = np.zeros(len(lines))
    outgoing: dict[tuple[str, str], list[int]] = defaultdict(list)
    incoming: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, line in enumerate(lines):
        outgoing[(line.sku, line.origin)].append(index)
        incoming[(line.sku, line.destination)].append(index)
    short = [
        key
        for key, out in outgoing.items()
        if sum(lines[i].quantity for i in out) > on_hand.get(key, 0.0) + _EPS
    ]
    rank = {node: position for position, node in enumerate(order)}
    short.sort(key=lambda key: rank.get(key[1], len(rank)))
    due = np.array([line.window - line.lead for line in lines], dtype=float)
    for key in reversed(short):  # downstream first: a transfer in is due when what it feeds is
        _pass_deadlines_up(key, lines, outgoing[key], incoming.get(key, []), on_hand, due)
    # A lateral's arrival may come from a node scheduled after it: pass over the nodes until no
    # departure moves (a chain of n laterals takes n passes). Departures only move later, so
    # this settles; a cycle of transfers would not, and stops after a pass per node.
    for _ in range(len(short) + 1):
        before = leave.copy()
        for key in short:
            _schedule_node(
                key, lines, outgoing[key], incoming.get(key, []), on_hand, in_transit, due, leave
            )
        if np.array_equal(before, leave):
            break
    return leave


def _urgency(line: Line, due: float) -> tuple[float, float, float]:
    """Sort key of the lines leaving a node: the last day each may leave and still arrive in
    its cover period (earliest deadline first keeps every line that can be on time on time),
    then, among lines due the same day, the day its destination runs dry (a line that cannot
    beat it counts as due today), then priority (a strategic distributor's first). Taken as
    the first key, the run-out day let a destination already out of stock take the early units
    and pushed another line past its cover period."""
    return (due, max(0.0, line.runs_out - line.lead), -line.priority)


def _pass_deadlines_up(
    key: tuple[str, str],
    lines: list[Line],
    out: list[int],
    into: list[int],
    on_hand: dict[tuple[str, str], float],
    due: np.ndarray,
) -> None:
    """A transfer into a node whose on hand does not cover the lines leaving it must leave its
    own origin in time for the earliest of the lines it feeds: its deadline there becomes that
    line's deadline minus its lead time, if earlier (so the origin sends it early stock first)."""
    covered = on_hand.get(key, 0.0)
    for i in sorted(out, key=lambda i: _urgency(lines[i], float(due[i]))):
        covered -= lines[i].quantity
        if covered < -_EPS:  # the first line that needs stock from upstream
            for j in into:
                due[j] = min(due[j], due[i] - lines[j].lead)
            return


def _schedule_node(
    key: tuple[str, str],
    lines: list[Line],
    out: list[int],
    into: list[int],
    on_hand: dict[tuple[str, str], float],
    in_transit: dict[tuple[str, str], list[tuple[int, float]]],
    due: np.ndarray,
    leave: np.ndarray,
) -> None:
    """Earliest deadline first (`due`): each outbound line leaves when the last unit it takes is
    there."""
    supplies = [(0, on_hand.get(key, 0.0)), *in_transit.get(key, [])]
    supplies += [(int(leave[i]) + lines[i].lead, lines[i].quantity) for i in into]
    supplies = sorted((day, units) for day, units in supplies if units > _EPS)
    position, left = 0, supplies[0][1] if supplies else 0.0
    for i in sorted(out, key=lambda i: _urgency(lines[i], float(due[i]))):
        needed = lines[i].quantity
        day = 0
        while needed > _EPS and position < len(supplies):
            day = supplies[position][0]
            taken = min(needed, left)
            needed -= taken
            left -= taken
            if left <= _EPS:
                position += 1
                left = supplies[position][1] if position < len(supplies) else 0.0
        leave[i] = day
