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

from .netting import LoadDecision, LoadLive, LoadReason, hold_within


def hold_within_safety(
    decisions: Sequence[LoadDecision], loads: Sequence[LoadLive], room_w: float
) -> list[LoadDecision]:
    """Return the decisions with every raise within ``room_w`` (see the module doc)."""
    decided = {decision.name: decision for decision in decisions}
    running = {
        live.load.name
        for live in loads
        if live.power_w > 0 and not live.load.interruptible
    }
    hold_within(decided, loads, room_w, reason=LoadReason.GRID_LIMIT, kept=running)
    return [decided[decision.name] for decision in decisions]
