"""One priority order for every output the site's controllers share.

Several controllers may have a say on one output: the battery's power is
wanted by the battery manager (its state), peak shaving (the peak limit),
the site plan (cost) and the user ("Charge now" for an hour). Each says
what it wants as a ``Proposal`` from its ``Layer``: a value, bounds, or
both. ``arbitrate`` decides, in this order, highest first:

1. ``SAFETY``: battery voltage and SOC limits, fuse and grid-connection
   limits. Its bounds hold over everything, the user's requests included.
2. ``USER_REQUEST``: an action or button with its expiry.
3. ``PEAK_LIMIT``: the billed peak the peak shaver defends.
4. ``SITE_PLAN``: the lowest-cost plan under the tariff.
5. ``SELF_CONSUMPTION``: soak up the site's own surplus; the default.

A layer's bounds bind the layers below it, never those above: the user may
charge through the peak limit, not through a fuse. The value is the wish of
the highest layer that has one, inside the bounds of the layers above it;
where such a bound moved it, that bound's layer decided, and the decision
carries that layer's reason. Bounds of two layers that cannot both hold
leave the lower one's out (it is reported as overruled).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
import math


class Layer(IntEnum):
    """Who has a say on an output; a higher layer takes precedence."""

    SELF_CONSUMPTION = 0
    SITE_PLAN = 1
    PEAK_LIMIT = 2
    USER_REQUEST = 3
    SAFETY = 4


class ArbitrationError(ValueError):
    """A proposal that says nothing sensible (bounds crossed, a NaN)."""


@dataclass(frozen=True, kw_only=True)
class Proposal:
    """What one layer wants of an output: a value, bounds, or both.

    ``reason`` says why, in the words of the layer's controller (a reason
    code its entity shows). A proposal past ``expires`` is left out.
    """

    layer: Layer
    reason: str
    value: float | None = None
    lowest: float = -math.inf
    highest: float = math.inf
    expires: datetime | None = None

    def validate(self) -> None:
        """Raise ArbitrationError for a proposal no output can follow."""
        numbers = (
            self.lowest,
            self.highest,
            *([self.value] if self.value is not None else []),
        )
        if any(math.isnan(number) for number in numbers):
            raise ArbitrationError(f"{self.layer.name} ({self.reason}): not a number")
        if self.lowest > self.highest:
            raise ArbitrationError(
                f"{self.layer.name} ({self.reason}): lowest {self.lowest} "
                f"above highest {self.highest}"
            )
        if self.value is not None and math.isinf(self.value):
            raise ArbitrationError(f"{self.layer.name} ({self.reason}): infinite value")


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What an output is set to, which layer decided it, and why."""

    value: float
    layer: Layer
    reason: str
    # The proposals whose wish or bound did not hold, highest layer first.
    overruled: tuple[Proposal, ...] = ()


@dataclass
class _Bounds:
    """The bounds that hold so far, each side with the proposal that set it."""

    lowest: float = -math.inf
    highest: float = math.inf
    lowest_by: Proposal | None = None
    highest_by: Proposal | None = None

    def admit(self, proposal: Proposal) -> bool:
        """Narrow the bounds by ``proposal``'s; False when they cannot both hold."""
        if proposal.lowest > self.highest or proposal.highest < self.lowest:
            return False
        if proposal.lowest > self.lowest:
            self.lowest, self.lowest_by = proposal.lowest, proposal
        if proposal.highest < self.highest:
            self.highest, self.highest_by = proposal.highest, proposal
        return True

    def clamp(self, value: float) -> tuple[float, Proposal | None]:
        """Return ``value`` within the bounds, and the proposal that moved it."""
        if value < self.lowest:
            return self.lowest, self.lowest_by
        if value > self.highest:
            return self.highest, self.highest_by
        return value, None


def arbitrate(
    proposals: Iterable[Proposal],
    now: datetime,
    *,
    default: float,
    default_reason: str,
) -> Decision:
    """Decide one output from the layers' proposals, by the order above.

    ``default`` (with ``default_reason``, as from ``SELF_CONSUMPTION``) is
    the value when no layer has a wish; it too is kept within the bounds.
    Raises ArbitrationError for a proposal that cannot be followed.
    """
    live = []
    for proposal in proposals:
        proposal.validate()
        if proposal.expires is None or proposal.expires > now:
            live.append(proposal)
    # Highest layer first; within a layer, in the order given.
    live.sort(key=lambda proposal: -proposal.layer)
    bounds = _Bounds()
    decided: tuple[float, Proposal] | None = None
    for proposal in live:
        if decided is None and proposal.value is not None:
            # The wish is held within the bounds of the layers above it and
            # its own (unless its own cannot hold beside theirs).
            within = _Bounds(**vars(bounds))
            if not within.admit(proposal):
                within = bounds
            value, moved_by = within.clamp(proposal.value)
            decided = (value, moved_by or proposal)
        bounds.admit(proposal)
    if decided is None:
        value, moved_by = bounds.clamp(default)
        decided = (
            value,
            moved_by
            or Proposal(
                layer=Layer.SELF_CONSUMPTION, reason=default_reason, value=default
            ),
        )
    value, decided_by = decided
    return Decision(
        value=value,
        layer=decided_by.layer,
        reason=decided_by.reason,
        overruled=tuple(
            proposal
            for proposal in live
            if (
                proposal.value is not None
                and not math.isclose(proposal.value, value, abs_tol=1e-9)
            )
            or not proposal.lowest <= value <= proposal.highest
        ),
    )
