"""The control layer's loads and tariff from an entry's options and subentries.

A load's subentry names its entity (a switch, or a number in W, kW or A),
its power, daily need and window; the entry's options hold the tariff's
fixed prices or time-of-use schedule and the netting period. Prices from
entities are read at every step (``prices.py``).
"""

from collections.abc import Mapping
from datetime import timedelta, tzinfo
from typing import Any

from ..const import (
    CONF_BILLING_INTERVAL_MIN,
    CONF_BILLING_PERIOD,
    CONF_DEMAND_CHARGE_PER_KW,
    CONF_ENERGY_KWH_PER_DAY,
    CONF_EXPORT_PRICE,
    CONF_IMPORT_PRICE,
    CONF_INTERRUPTIBLE,
    CONF_LOAD_ENTITY,
    CONF_LOAD_POWER_W,
    CONF_MIN_OFF_MINUTES,
    CONF_MIN_ON_MINUTES,
    CONF_NETTING_MINUTES,
    CONF_PRIORITY,
    CONF_TIME_OF_USE,
    CONF_WINDOW_END,
    CONF_WINDOW_START,
)
from ..controller.outputs import SWITCH_DOMAINS
from ..lib.control.billing import BillingPeriod
from ..lib.control.flexible_loads.loads import (
    FlexibleLoad,
    LoadControl,
    LoadError,
    parse_minutes,
)
from ..lib.control.flexible_loads.tariff import (
    FixedPrice,
    PriceSource,
    TariffError,
    time_of_use,
)


def control_of(entity_id: str) -> LoadControl:
    """Return how a load's entity drives it: a switch on/off, a number by power."""
    if entity_id.partition(".")[0] in SWITCH_DOMAINS:
        return LoadControl.SWITCH
    return LoadControl.ADJUSTABLE


def _minutes(text: str) -> int:
    """Return minutes after midnight of a time the form gave (``HH:MM[:SS]``)."""
    hours, _, rest = str(text).partition(":")
    return parse_minutes(f"{hours}:{rest[:2] or '00'}")


def load_from(name: str, data: Mapping[str, Any]) -> FlexibleLoad:
    """Return the control layer's load of a subentry (raises LoadError)."""
    end = _minutes(data.get(CONF_WINDOW_END, "00:00"))
    return FlexibleLoad(
        name=name,
        power_w=float(data[CONF_LOAD_POWER_W]),
        energy_wh_per_day=float(data[CONF_ENERGY_KWH_PER_DAY]) * 1000,
        window_start_min=_minutes(data.get(CONF_WINDOW_START, "00:00")),
        # A deadline at midnight is the day's end.
        window_end_min=end or 1440,
        min_on=timedelta(minutes=float(data.get(CONF_MIN_ON_MINUTES, 0))),
        min_off=timedelta(minutes=float(data.get(CONF_MIN_OFF_MINUTES, 0))),
        priority=int(data.get(CONF_PRIORITY, 0)),
        control=control_of(data[CONF_LOAD_ENTITY]),
        interruptible=bool(data.get(CONF_INTERRUPTIBLE, True)),
    )


def parse_time_of_use(text: str, timezone: tzinfo) -> PriceSource:
    """Return a schedule from ``"07:00 0.25, 23:00 0.10"`` (raises TariffError)."""
    pairs: list[tuple[str, float]] = []
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        moment, _, price = part.strip().replace("=", " ").partition(" ")
        try:
            minutes = parse_minutes(moment)
            pairs.append((f"{minutes // 60:02d}:{minutes % 60:02d}", float(price)))
        except (LoadError, ValueError) as err:
            raise TariffError(
                f"{part.strip()!r} is not a time and a price (07:00 0.25)"
            ) from err
        if minutes >= 1440:
            raise TariffError(f"{moment} is not a time of day")
    return time_of_use(pairs, timezone)


def fixed_prices(
    options: Mapping[str, Any], timezone: tzinfo
) -> tuple[PriceSource, PriceSource]:
    """Return the import and export prices the options fix (entities aside)."""
    schedule = options.get(CONF_TIME_OF_USE)
    imports: PriceSource = (
        parse_time_of_use(schedule, timezone)
        if schedule
        else FixedPrice(float(options[CONF_IMPORT_PRICE]))
    )
    return imports, FixedPrice(float(options[CONF_EXPORT_PRICE]))


def demand_terms(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the tariff's demand charge: per kW of the billing period's peak.

    With its billing interval and period (15 minutes and a month for
    entries made before they were asked); no charge: 0.
    """
    return {
        "demand_charge_per_kw": float(options.get(CONF_DEMAND_CHARGE_PER_KW) or 0.0),
        "billing_minutes": int(options.get(CONF_BILLING_INTERVAL_MIN, 15)),
        "billing_period": BillingPeriod(
            options.get(CONF_BILLING_PERIOD, BillingPeriod.MONTH)
        ),
    }


def netting_minutes(options: Mapping[str, Any]) -> int:
    """Return the netting period the options set (60: Spain's hourly balance)."""
    return int(options.get(CONF_NETTING_MINUTES, 60))
