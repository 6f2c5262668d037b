"""The site's safety limits over the loads: the fuses and the grid connection first.

Peak shaving posts how far the busiest phase is from its fuse and the
import from the grid connection's limit. No load raises its import past
the tighter of the two, whatever asks for it (a boost, a need that cannot
wait, the plan): safety is the first layer of the site's order. A load's
phase is not known, so its whole rise counts on the busiest phase.
Higher priority is served first; one that does not fit waits
(``grid_limit``), an adjustable one takes what fits. Where the room is
gone already (the house alone past a limit), loads that are on are shed,
lowest priority first, their minimum on time notwithstanding; an
uninterrupted run that has begun is left to finish (stopped, it would
start over).
"""

from collections.abc import Sequence

from .loads import LoadControl
from .netting import ADJUST_STEP_W, LoadDecision, LoadLive, LoadReason


def hold_within_safety(
    decisions: Sequence[LoadDecision], loads: Sequence[LoadLive], room_w: float
) -> list[LoadDecision]:
    """Return the decisions with every raise within ``room_w`` (see the module doc)."""
    decided = {decision.name: decision for decision in decisions}
    room = room_w
    by_priority = sorted(loads, key=lambda live: live.load.priority, reverse=True)
    for live in by_priority:
        decision = decided[live.load.name]
        raise_w = decision.power_w - live.power_w
        if raise_w <= 0:
            continue
        if raise_w <= room:
            room -= raise_w
            continue
        held = live.power_w
        if live.load.control is LoadControl.ADJUSTABLE and room >= ADJUST_STEP_W:
            held += room
        room -= held - live.power_w
        decided[live.load.name] = LoadDecision(
            live.load.name, held, LoadReason.GRID_LIMIT
        )
    for live in reversed(by_priority):
        if room >= 0:
            break
        decision = decided[live.load.name]
        running = live.power_w > 0 and not live.load.interruptible
        if decision.power_w <= 0 or running:
            continue
        level = 0.0
        if live.load.control is LoadControl.ADJUSTABLE:
            level = max(decision.power_w + room, 0.0)
            level = level if level >= ADJUST_STEP_W else 0.0
        room += decision.power_w - level
        decided[live.load.name] = LoadDecision(
            live.load.name, level, LoadReason.GRID_LIMIT
        )
    return [decided[decision.name] for decision in decisions]
