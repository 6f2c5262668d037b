"""The site's limits, shared: what peak shaving leaves the other controllers.

The grid connection's billed peak and the phases' fuses are the site's, not
one controller's. Peak shaving computes after each step how much room is
left under each (its *Headroom* and *Phase headroom*); it posts them here,
and the wallbox manager reads them at its own step to hold the car within
them. Likewise the energy its plan holds in the battery for the hours ahead
(its *reserve*): a battery manager on the same battery stops selling there.
A post older than ``FRESH_FOR`` no longer counts: a peak shaver that
stopped stepping leaves the others as they would be without one.

The room is shared, not handed to each: a controller that raises its
import records what it took (``async_take_headroom``), and the others see
the room less that until the meter, and so peak shaving's next posts, show
it (``TAKEN_HOLDS_FOR``). Without this the car and a load stepping between
two posts would each take all of it.

Peak shaving posts with the room now the room ahead, per step of its plan
(the level it holds less the forecast net load), so a deadline car fills
the plan's valleys. A deadline the room cannot hold lifts the billed peak
(``PeakLift``): the wallbox manager posts the lift, and peak shaving raises
its level by it, so its billing interval's budget does not take it back.
The room peak shaving posts leaves the lift out: it is the car's alone.

What the controllers steer within that room (the car, the flexible loads)
they post as their controllable load (``ControllableLoad``): peak shaving
learns the site's load without it, so a car that charged last night does
not shrink tonight's room ahead, as if the house had drawn it.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util.hass_dict import HassKey

from ..const import CONF_EV_POWER_ENTITY, CONF_KIND, DOMAIN, KIND_WALLBOX_MANAGER
from ..lib.control.ev_deadline import RoomAhead

# Three of peak shaving's 15 s steps: a missed step or two still counts.
FRESH_FOR = timedelta(seconds=45)
# How long room taken stays taken: a car ramps within seconds, the meter is
# read every few and peak shaving posts every 15; two posts show it for sure.
TAKEN_HOLDS_FOR = timedelta(seconds=30)


@dataclass(frozen=True, kw_only=True)
class SiteHeadroom:
    """The room a peak shaver left at one step (W; None: unknown)."""

    at: datetime
    source: str
    # How far the grid import is from the budget that holds the billed peak,
    # before the battery (its recharge is the car's to take first).
    grid_w: float | None
    # How far the busiest phase is from its fuse.
    phase_w: float | None
    # How far the import before the battery is from the grid connection's
    # limit: safety, which no request lifts (None: no limit set).
    connection_w: float | None = None
    # The room under the level per step of the plan, before the battery
    # (None: no plan).
    ahead: RoomAhead | None = None
    # The peak shaver raises its level by the lifts posted (``PeakLift``).
    lifts_level: bool = False


POSTS: HassKey[dict[str, SiteHeadroom]] = HassKey(f"{DOMAIN}_site_headroom")


@dataclass(frozen=True, kw_only=True)
class TakenHeadroom:
    """Room a controller took at one step by raising its import (W)."""

    at: datetime
    taker: str
    grid_w: float
    # What the busiest phase may carry more: all of it for a load whose
    # phase is unknown, a share per phase for a car on several.
    phase_w: float


TAKEN: HassKey[list[TakenHeadroom]] = HassKey(f"{DOMAIN}_site_headroom_taken")


@callback
def async_post_headroom(
    hass: HomeAssistant, entry_id: str, headroom: SiteHeadroom
) -> None:
    """Post a peak shaver's room after its step."""
    hass.data.setdefault(POSTS, {})[entry_id] = headroom


@callback
def async_withdraw_headroom(hass: HomeAssistant, entry_id: str) -> None:
    """Take a peak shaver's post away (its entry unloads)."""
    hass.data.get(POSTS, {}).pop(entry_id, None)


@callback
def async_take_headroom(hass: HomeAssistant, taken: TakenHeadroom) -> None:
    """Record room a controller took, for the others' next steps."""
    if taken.grid_w > 0 or taken.phase_w > 0:
        hass.data.setdefault(TAKEN, []).append(taken)


@callback
def async_site_headroom(
    hass: HomeAssistant, now: datetime, taker: str | None = None
) -> SiteHeadroom | None:
    """Return the least room any fresh post leaves, None when there is none.

    With two peak shavers (two connections' meters), each side is the
    tighter of the two. What other controllers than ``taker`` took lately
    is taken off: it may not show on the meter yet; the taker's own post
    (a flexible loads entry's, where no peak shaver posts) is left out.
    """
    fresh = [
        post
        for poster, post in hass.data.get(POSTS, {}).items()
        if timedelta(0) <= now - post.at <= FRESH_FOR and poster != taker
    ]
    if not fresh:
        return None
    takes = hass.data[TAKEN] = [
        take
        for take in hass.data.get(TAKEN, [])
        if timedelta(0) <= now - take.at <= TAKEN_HOLDS_FOR
    ]
    # A taker that steps again before the meter shows its rise takes the
    # same room again: each other taker counts once, at its largest take.
    by_taker: dict[str, tuple[float, float]] = {}
    for take in takes:
        if take.taker != taker:
            grid_w, phase_w = by_taker.get(take.taker, (0.0, 0.0))
            by_taker[take.taker] = (
                max(grid_w, take.grid_w),
                max(phase_w, take.phase_w),
            )
    taken_grid = sum(grid_w for grid_w, _ in by_taker.values())
    taken_phase = sum(phase_w for _, phase_w in by_taker.values())
    grid = [post.grid_w for post in fresh if post.grid_w is not None]
    phase = [post.phase_w for post in fresh if post.phase_w is not None]
    connection = [post.connection_w for post in fresh if post.connection_w is not None]
    return SiteHeadroom(
        at=min(post.at for post in fresh),
        source=", ".join(sorted(post.source for post in fresh)),
        grid_w=min(grid) - taken_grid if grid else None,
        phase_w=min(phase) - taken_phase if phase else None,
        connection_w=min(connection) - taken_grid if connection else None,
        ahead=_tightest_ahead([post.ahead for post in fresh]),
        lifts_level=all(post.lifts_level for post in fresh),
    )


def _tightest_ahead(aheads: list[RoomAhead | None]) -> RoomAhead | None:
    """Return the least room ahead step by step, None unless every post plans alike.

    Two peak shavers (two connections' meters) plan on the same steps; a
    post without a plan, or on other steps, leaves the car no forecast.
    """
    first = aheads[0]
    if first is None or any(
        ahead is None or (ahead.start, ahead.step) != (first.start, first.step)
        for ahead in aheads
    ):
        return None
    length = min(len(ahead.peak_w) for ahead in aheads if ahead is not None)
    return RoomAhead(
        first.start,
        first.step,
        tuple(
            min(ahead.peak_w[index] for ahead in aheads if ahead is not None)
            for index in range(length)
        ),
    )


@dataclass(frozen=True, kw_only=True)
class PeakLift:
    """A lift of the billed peak a controller's request needs (W).

    A deadline car posts it while the room under the level cannot hold
    what it needs by its deadline; peak shaving raises its level by it.
    """

    at: datetime
    source: str
    lift_w: float


LIFTS: HassKey[dict[str, PeakLift]] = HassKey(f"{DOMAIN}_peak_lift")


@callback
def async_post_lift(hass: HomeAssistant, entry_id: str, lift: PeakLift | None) -> None:
    """Post (or, with None, withdraw) the lift a controller's request needs."""
    posts = hass.data.setdefault(LIFTS, {})
    if lift is None or lift.lift_w <= 0:
        posts.pop(entry_id, None)
    else:
        posts[entry_id] = lift


@callback
def async_peak_lifts(hass: HomeAssistant, now: datetime) -> dict[str, float]:
    """Return the fresh lifts by the name of the controller that posted each (W)."""
    lifts: dict[str, float] = {}
    for lift in hass.data.get(LIFTS, {}).values():
        if timedelta(0) <= now - lift.at <= FRESH_FOR:
            lifts[lift.source] = lifts.get(lift.source, 0.0) + lift.lift_w
    return lifts


@dataclass(frozen=True, kw_only=True)
class ControllableLoad:
    """The power a controller's steered loads draw now (W): a car, flexible loads."""

    at: datetime
    source: str
    power_w: float


CONTROLLABLE: HassKey[dict[str, ControllableLoad]] = HassKey(
    f"{DOMAIN}_controllable_load"
)


@callback
def async_post_controllable_load(
    hass: HomeAssistant, entry_id: str, load: ControllableLoad | None
) -> None:
    """Post (or, with None, withdraw) what a controller's loads draw now."""
    posts = hass.data.setdefault(CONTROLLABLE, {})
    if load is None:
        posts.pop(entry_id, None)
    else:
        posts[entry_id] = load


@callback
def async_car_power_entities(hass: HomeAssistant) -> list[str]:
    """Return the car power sensor of each wallbox manager on the site.

    What the cars drew, read back from the recorder, is left out of the
    week a forecast is seeded with, as the live steps leave it out.
    """
    return [
        entry.data[CONF_EV_POWER_ENTITY]
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_KIND) == KIND_WALLBOX_MANAGER
        and entry.data.get(CONF_EV_POWER_ENTITY)
    ]


@callback
def async_controllable_load_w(hass: HomeAssistant, now: datetime) -> float:
    """Return what the controllers' loads draw now, by their fresh posts (W)."""
    return sum(
        max(post.power_w, 0.0)
        for post in hass.data.get(CONTROLLABLE, {}).values()
        if timedelta(0) <= now - post.at <= FRESH_FOR
    )


@dataclass(frozen=True, kw_only=True)
class BatteryReserve:
    """The SOC a peak shaver's plan holds in its batteries at one step."""

    at: datetime
    source: str
    soc: float
    # The devices of the batteries' entities: how another controller knows
    # it drives one of the same batteries.
    devices: frozenset[str]
    # The SOC the plan needs from each of its steps on (when, %): a price
    # plan fills it in the cheap hours before it is needed.
    ahead: tuple[tuple[datetime, float], ...] = ()


RESERVES: HassKey[dict[str, BatteryReserve]] = HassKey(f"{DOMAIN}_battery_reserve")


@callback
def entity_devices(
    hass: HomeAssistant, entity_ids: Iterable[str | None]
) -> frozenset[str]:
    """Return the devices the given entities belong to (unknown ones: none)."""
    registry = er.async_get(hass)
    devices: set[str] = set()
    for entity_id in entity_ids:
        if entity_id and (entity := registry.async_get(entity_id)) and entity.device_id:
            devices.add(entity.device_id)
    return frozenset(devices)


@callback
def async_post_reserve(
    hass: HomeAssistant, entry_id: str, reserve: BatteryReserve | None
) -> None:
    """Post (or, with None, withdraw) the reserve a peak shaver's plan holds."""
    posts = hass.data.setdefault(RESERVES, {})
    if reserve is None:
        posts.pop(entry_id, None)
    else:
        posts[entry_id] = reserve


@callback
def async_battery_reserve(
    hass: HomeAssistant, now: datetime, devices: frozenset[str]
) -> BatteryReserve | None:
    """Return the highest fresh reserve held in a battery on one of ``devices``."""
    fresh = [
        post
        for post in hass.data.get(RESERVES, {}).values()
        if post.devices & devices and timedelta(0) <= now - post.at <= FRESH_FOR
    ]
    return max(fresh, key=lambda post: post.soc, default=None)
