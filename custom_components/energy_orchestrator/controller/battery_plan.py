"""One plan of the site's loads and battery: what the two entries post for it.

The battery manager owns the battery; the flexible loads' planner is the
one that sees the loads, the PV and the tariff. So the manager posts here
what a planner needs of its battery (``PlannableBattery``: its energy, its
limits, its powers) after each step, and the flexible loads entry, when it
plans that battery with its loads, posts the battery's part of its plan
back (``LoadsBatteryPlan``), slot by slot, for the manager to follow at its
site-plan layer in place of its own price plan. Safety, the user's requests
and the peak reserve still win there.

A wallbox manager with a deadline session posts the car likewise
(``PlannableCar``: what it still needs, by when, its most power and what it
takes now): the flexible loads' plan places it, so the battery's charge and
the billed peak are planned with the car's night, while the manager still
drives the car.

A post older than ``FRESH_FOR`` no longer counts, and an entry that unloads
takes its post away: the other entry goes back to its own behaviour (the
loads planned without the battery; the manager's own price plan, or its
windows) at its next step.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, callback
from homeassistant.util.hass_dict import HassKey

from ..const import DOMAIN
from ..lib.control.battery_price_plan import BatteryPricePlan
from .site_limits import FRESH_FOR


@dataclass(frozen=True, kw_only=True)
class PlannableBattery:
    """What a battery manager posts of its battery for a planner, at one step."""

    at: datetime
    # The manager's entry, and its title (how a plan names the battery).
    entry_id: str
    source: str
    devices: frozenset[str]
    capacity_wh: float
    energy_wh: float
    # The SOC floor raised to the peak reserve, and the SOC ceiling (Wh).
    floor_wh: float
    ceiling_wh: float
    charge_w: float
    discharge_w: float
    round_trip_efficiency: float  # 0..1
    # Its power now (W, + charging); None when not measured.
    power_w: float | None


@dataclass(frozen=True, kw_only=True)
class LoadsBatteryPlan:
    """The battery's part of a flexible loads plan, posted for its manager."""

    at: datetime
    # The flexible loads entry that planned it, and its title.
    entry_id: str
    source: str
    # The battery manager's entry it is for.
    battery: str
    plan: BatteryPricePlan
    # The grid power the real-time layer would hold the battery to now (W,
    # + import; None: none). Posted for a manager that can hold a grid
    # power; the battery manager's states (setpoints per state) cannot.
    grid_target_w: float | None = None


@dataclass(frozen=True, kw_only=True)
class PlannableCar:
    """What a wallbox manager posts of its deadline session for a planner, at one step."""

    at: datetime
    entry_id: str
    source: str
    # What the session still needs (Wh) by ``departs``.
    need_wh: float
    departs: datetime
    max_power_w: float
    # What the car takes now (W); 0 when not measured.
    power_w: float


# Whose plan a battery manager follows: its own prices', or the loads'.
FOLLOWS_OWN_PRICES = "own_prices"
FOLLOWS_LOADS_PLAN = "flexible_loads"

BATTERIES: HassKey[dict[str, PlannableBattery]] = HassKey(f"{DOMAIN}_plannable_battery")
PLANS: HassKey[dict[str, LoadsBatteryPlan]] = HassKey(f"{DOMAIN}_loads_battery_plan")
CARS: HassKey[dict[str, PlannableCar]] = HassKey(f"{DOMAIN}_plannable_car")


def _fresh(at: datetime, now: datetime) -> bool:
    """Return whether a post made ``at`` still counts ``now``."""
    return timedelta(0) <= now - at <= FRESH_FOR


@callback
def async_post_battery(
    hass: HomeAssistant, entry_id: str, battery: PlannableBattery | None
) -> None:
    """Post (or, with None, withdraw) a battery manager's battery."""
    posts = hass.data.setdefault(BATTERIES, {})
    if battery is None:
        posts.pop(entry_id, None)
    else:
        posts[entry_id] = battery


@callback
def async_plannable_batteries(
    hass: HomeAssistant, now: datetime
) -> list[PlannableBattery]:
    """Return the batteries whose managers posted lately, by title."""
    return sorted(
        (
            post
            for post in hass.data.get(BATTERIES, {}).values()
            if _fresh(post.at, now)
        ),
        key=lambda post: (post.source, post.entry_id),
    )


@callback
def async_post_loads_plan(
    hass: HomeAssistant, entry_id: str, plan: LoadsBatteryPlan | None
) -> None:
    """Post (or, with None, withdraw) a flexible loads entry's battery plan."""
    posts = hass.data.setdefault(PLANS, {})
    if plan is None:
        posts.pop(entry_id, None)
    else:
        posts[entry_id] = plan


@callback
def async_loads_plan(
    hass: HomeAssistant, now: datetime, battery: str
) -> LoadsBatteryPlan | None:
    """Return the fresh plan a flexible loads entry made for ``battery``, if any.

    Two flexible loads entries planning one battery cannot both be
    followed: the one ``async_battery_planned_by`` names is.
    """
    planner = async_battery_planned_by(hass, now, battery)
    return None if planner is None else hass.data[PLANS][planner]


@callback
def async_battery_planned_by(
    hass: HomeAssistant, now: datetime, battery: str
) -> str | None:
    """Return the flexible loads entry whose plan of ``battery`` counts, if any.

    Of two entries posting a plan of one battery, the first by entry id:
    a rule both see alike, so the other steps back and stays back, rather
    than the two taking turns.
    """
    return min(
        (
            entry_id
            for entry_id, post in hass.data.get(PLANS, {}).items()
            if post.battery == battery and _fresh(post.at, now)
        ),
        default=None,
    )


@callback
def async_post_car(
    hass: HomeAssistant, entry_id: str, car: PlannableCar | None
) -> None:
    """Post (or, with None, withdraw) a wallbox manager's deadline session."""
    posts = hass.data.setdefault(CARS, {})
    if car is None:
        posts.pop(entry_id, None)
    else:
        posts[entry_id] = car


@callback
def async_plannable_cars(hass: HomeAssistant, now: datetime) -> list[PlannableCar]:
    """Return the deadline sessions whose managers posted lately, by title."""
    return sorted(
        (post for post in hass.data.get(CARS, {}).values() if _fresh(post.at, now)),
        key=lambda post: (post.source, post.entry_id),
    )
