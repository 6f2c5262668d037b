"""The priority order of the layers that have a say on one output."""

from datetime import UTC, datetime, timedelta
import math

import pytest

from custom_components.energy_orchestrator.lib.control.arbitration import (
    ArbitrationError,
    Decision,
    Layer,
    Proposal,
    arbitrate,
)

NOW = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)

# The car's charging power, in W: what the layers below want of it.
FUSE = Proposal(layer=Layer.SAFETY, reason="phase_limit", lowest=0, highest=7400)
CHARGE_NOW = Proposal(
    layer=Layer.USER_REQUEST,
    reason="charge_now",
    value=11000,
    expires=NOW + timedelta(hours=1),
)
PEAK = Proposal(layer=Layer.PEAK_LIMIT, reason="holding_peak", highest=3000)
PLAN = Proposal(layer=Layer.SITE_PLAN, reason="cheap_hour", value=6000)
SURPLUS = Proposal(layer=Layer.SELF_CONSUMPTION, reason="surplus", value=1400)


def decide(*proposals: Proposal, default: float = 0.0) -> Decision:
    """Arbitrate at NOW with an idle default."""
    return arbitrate(proposals, NOW, default=default, default_reason="idle")


def test_the_order_is_the_documented_one() -> None:
    """Safety > user requests > peak limit > site plan > self-consumption."""
    assert sorted(Layer, reverse=True) == [
        Layer.SAFETY,
        Layer.USER_REQUEST,
        Layer.PEAK_LIMIT,
        Layer.SITE_PLAN,
        Layer.SELF_CONSUMPTION,
    ]


def test_safety_bounds_even_the_users_request() -> None:
    """Charge now cannot blow the fuse: held at the phase limit, by safety."""
    decision = decide(SURPLUS, PLAN, PEAK, CHARGE_NOW, FUSE)
    assert (decision.value, decision.layer, decision.reason) == (
        7400,
        Layer.SAFETY,
        "phase_limit",
    )
    # The user's wish, the peak limit and the lower wishes did not hold.
    assert decision.overruled == (CHARGE_NOW, PEAK, PLAN, SURPLUS)


def test_the_users_request_goes_through_the_peak_limit() -> None:
    """Asked for, the car charges above the peak limit (within the fuse)."""
    request = Proposal(
        layer=Layer.USER_REQUEST,
        reason="charge_now",
        value=5000,
        expires=NOW + timedelta(minutes=5),
    )
    decision = decide(PEAK, request, FUSE)
    assert (decision.value, decision.layer, decision.reason) == (
        5000,
        Layer.USER_REQUEST,
        "charge_now",
    )
    assert decision.overruled == (PEAK,)


def test_an_expired_request_no_longer_counts() -> None:
    """Past its expiry, the plan's wish is held under the peak limit."""
    expired = Proposal(
        layer=Layer.USER_REQUEST, reason="charge_now", value=11000, expires=NOW
    )
    decision = decide(SURPLUS, PLAN, PEAK, expired, FUSE)
    assert (decision.value, decision.layer, decision.reason) == (
        3000,
        Layer.PEAK_LIMIT,
        "holding_peak",
    )
    assert decision.overruled == (PLAN, SURPLUS)


def test_the_plan_comes_before_self_consumption() -> None:
    """A cheap hour's plan sets the power; the surplus wish is overruled."""
    decision = decide(SURPLUS, PLAN, FUSE)
    assert (decision.value, decision.layer, decision.reason) == (
        6000,
        Layer.SITE_PLAN,
        "cheap_hour",
    )
    assert decision.overruled == (SURPLUS,)


def test_with_no_wish_the_default_holds_within_the_bounds() -> None:
    """No wish: the default, moved into the bounds by the layer they are from."""
    assert decide(FUSE, default=0).reason == "idle"
    pushed = Proposal(layer=Layer.PEAK_LIMIT, reason="must_discharge", lowest=2000)
    decision = decide(pushed, FUSE, default=0)
    assert (decision.value, decision.layer, decision.reason) == (
        2000,
        Layer.PEAK_LIMIT,
        "must_discharge",
    )


def test_bounds_that_cannot_both_hold_leave_the_lower_out() -> None:
    """The peak wants 2 kW out of a battery safety allows 0.5 kW: safety holds."""
    low_battery = Proposal(layer=Layer.SAFETY, reason="soc_floor", highest=500)
    must = Proposal(layer=Layer.PEAK_LIMIT, reason="holding_peak", lowest=2000)
    decision = decide(must, low_battery, default=3000)
    assert (decision.value, decision.layer, decision.reason) == (
        500,
        Layer.SAFETY,
        "soc_floor",
    )
    assert decision.overruled == (must,)


def test_within_a_layer_the_first_wish_given_holds() -> None:
    """Two wishes of one layer: the first given decides."""
    first = Proposal(layer=Layer.SITE_PLAN, reason="cheap_hour", value=1000)
    second = Proposal(layer=Layer.SITE_PLAN, reason="soak", value=2000)
    decision = decide(first, second)
    assert (decision.value, decision.reason) == (1000, "cheap_hour")
    assert decision.overruled == (second,)


@pytest.mark.parametrize(
    "proposal",
    [
        Proposal(layer=Layer.SAFETY, reason="x", lowest=10, highest=0),
        Proposal(layer=Layer.SITE_PLAN, reason="x", value=math.nan),
        Proposal(layer=Layer.SITE_PLAN, reason="x", value=math.inf),
        Proposal(layer=Layer.PEAK_LIMIT, reason="x", highest=math.nan),
    ],
)
def test_nonsense_is_refused(proposal: Proposal) -> None:
    """A proposal no output can follow is an error, not a guess."""
    with pytest.raises(ArbitrationError, match="x"):
        decide(proposal)
