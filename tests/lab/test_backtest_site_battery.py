"""``eo backtest-site`` with a battery alone: the orchestrator is the battery's price plan."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.energy_orchestrator.lib.control.battery_states import (
    BatteryState,
)
from eo_lab.backtest.profile import read_profile
from eo_lab.backtest.site import run_site_backtest
from eo_lab.backtest.site_battery import PricePlanStrategy
from eo_lab.backtest.site_config import SiteError, read_site
from eo_lab.backtest.site_replay import replay, scored_days
from eo_lab.cli import main

SAMPLES = Path(__file__).parents[2] / "eo_lab" / "samples"
# Cheap night, dear evening; 0.20 in between.
NIGHT_AND_EVENING = [["00:00", 0.10], ["06:00", 0.20], ["18:00", 0.40], ["22:00", 0.20]]
SITE: dict[str, Any] = {
    "timezone": "UTC",
    "tariff": {
        "import_price": NIGHT_AND_EVENING,
        "export_price": 0.05,
        "netting_minutes": 0,
    },
    "battery": {"capacity_kwh": 10, "power_kw": 3},
}


def _profile(days: int = 2) -> list[str]:
    """Return a profile: 1 kW of load around the clock, no PV."""
    start = datetime(2025, 3, 1, tzinfo=UTC)
    lines = ["time,load,pv"]
    for quarter in range(days * 96):
        lines.append(f"{(start + quarter * timedelta(minutes=15)).isoformat()},1000,0")
    return lines


def _run(site: dict[str, Any]) -> dict[str, Any]:
    """Return ``none``, ``orchestrator`` and ``optimal`` on the constructed days."""
    result = run_site_backtest(
        read_profile(_profile()),
        read_site(json.dumps(site)),
        ("none", "orchestrator", "optimal"),
    )
    figures: dict[str, Any] = result["strategies"]
    return figures


def test_charges_at_night_and_discharges_in_the_evening() -> None:
    """The plan's states: charge in the cheap night, sell in the dear evening."""
    scored = scored_days(read_profile(_profile()), read_site(json.dumps(SITE)))
    strategy = PricePlanStrategy(scored)
    replay(scored, strategy)
    by_hour: dict[int, set[BatteryState]] = {}
    for moment, state in strategy.states:
        by_hour.setdefault(moment.hour, set()).add(state)
    assert BatteryState.CHARGE in by_hour[2] | by_hour[3]
    assert by_hour[19] == {BatteryState.SELL}
    assert all(BatteryState.SELL not in by_hour[hour] for hour in range(6))
    assert all(BatteryState.CHARGE not in by_hour[hour] for hour in range(18, 22))


def test_the_plan_saves_and_comes_near_the_optimum() -> None:
    """Against self-consumption (``none``) it saves most of what ``optimal`` does."""
    figures = _run(SITE)
    none, ours, best = (
        figures[name]["cost"] for name in ("none", "orchestrator", "optimal")
    )
    assert ours < none
    assert none - ours >= 0.9 * (none - best)


def test_a_flat_price_leaves_the_battery_as_self_consumption_does() -> None:
    """No spread: the plan does nothing, and costs what holding the battery costs."""
    flat = {**SITE, "tariff": {**SITE["tariff"], "import_price": 0.25}}
    scored = scored_days(read_profile(_profile()), read_site(json.dumps(flat)))
    strategy = PricePlanStrategy(scored)
    figures = replay(scored, strategy)
    assert {state for _, state in strategy.states} == {BatteryState.REST}
    assert figures["battery_change_kwh"] == pytest.approx(0.0)


def test_at_half_round_trip_a_small_spread_does_nothing() -> None:
    """0.18 x 0.5 does not beat 0.10: no cycle."""
    small = {
        **SITE,
        "tariff": {
            **SITE["tariff"],
            "import_price": [["00:00", 0.10], ["06:00", 0.18]],
        },
    }
    site = read_site(json.dumps(small))
    assert site.battery is not None
    lossy = replace(site, battery=replace(site.battery, efficiency=0.5**0.5))
    scored = scored_days(read_profile(_profile()), lossy)
    strategy = PricePlanStrategy(scored)
    replay(scored, strategy)
    assert {state for _, state in strategy.states} == {BatteryState.REST}
    # At the battery's own 95 % each way, the same spread is worth a cycle.
    scored = scored_days(read_profile(_profile()), site)
    strategy = PricePlanStrategy(scored)
    replay(scored, strategy)
    assert BatteryState.CHARGE in {state for _, state in strategy.states}


def test_a_site_without_loads_needs_a_battery_and_a_sane_cycle_cost() -> None:
    """No loads and no battery is refused; so is a negative cycle cost."""
    with pytest.raises(SiteError, match="no loads and no battery"):
        read_site(json.dumps({k: v for k, v in SITE.items() if k != "battery"}))
    with pytest.raises(SiteError, match="cycle_cost_per_kwh"):
        read_site(
            json.dumps(
                {**SITE, "battery": {**SITE["battery"], "cycle_cost_per_kwh": -1}}
            )
        )
    assert read_site(
        json.dumps({**SITE, "battery": {**SITE["battery"], "cycle_cost_per_kwh": 0.03}})
    ).battery_cycle_cost_per_kwh == pytest.approx(0.03)


@pytest.mark.slow
def test_the_sample_battery_site_on_the_household(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The bundled battery-only site and prices: orchestrator between none and optimal."""
    code = main(
        [
            "backtest-site",
            "--input",
            str(SAMPLES / "household_10d_30min.csv"),
            "--site",
            str(SAMPLES / "sites_battery" / "battery_only.json"),
            "--prices",
            str(SAMPLES / "sites_battery" / "battery_prices.csv"),
            "--json",
        ]
    )
    assert code == 0
    figures = json.loads(capsys.readouterr().out)["strategies"]
    none, ours, best = (
        figures[name]["cost"] for name in ("none", "orchestrator", "optimal")
    )
    assert best <= ours < none
    assert none - ours >= 0.8 * (none - best)
