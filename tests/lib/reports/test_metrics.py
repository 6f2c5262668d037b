"""The report's metrics from hourly statistics rows, against figures done by hand."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.energy_orchestrator.lib.reports.metrics import (
    ReportSettings,
    Resolution,
    period_bounds,
    period_row,
    report_csv,
    report_json,
    site_report,
)
from custom_components.energy_orchestrator.lib.reports.purchases import (
    Purchase,
)
from custom_components.energy_orchestrator.lib.reports.statistics import (
    ReportError,
    Role,
    SiteEntities,
    StatisticsRow,
    kwh_factor,
)

HOUR = timedelta(hours=1)
T0 = datetime(2026, 3, 2, tzinfo=UTC)
ENTITIES = SiteEntities.parse(
    "pv=sensor.pv_a,pv=sensor.pv_b,load=sensor.load,"
    "battery_charge=sensor.charged,battery_discharge=sensor.discharged,"
    "soc=sensor.soc,supply=sensor.supply"
)


def _energy(
    per_hour: list[float | None], start_sum: float = 100.0
) -> list[StatisticsRow]:
    """Return rows from the hour before T0 whose sums grow by per_hour (None: no row)."""
    rows = [StatisticsRow(T0 - HOUR, sum=start_sum)]
    total = start_sum
    for index, energy in enumerate(per_hour):
        if energy is not None:
            total += energy
            rows.append(StatisticsRow(T0 + index * HOUR, sum=total))
    return rows


def _measured(values: list[tuple[float, float, float] | None]) -> list[StatisticsRow]:
    """Return rows of (min, mean, max) from T0 (None: no row)."""
    return [
        StatisticsRow(T0 + index * HOUR, min=low, mean=mean, max=high)
        for index, value in enumerate(values)
        if value is not None
        for low, mean, high in [value]
    ]


def _site(hours: int = 4) -> dict[str, list[StatisticsRow]]:
    """Return a site's statistics for a few hours, every entity complete."""
    return {
        "sensor.pv_a": _energy([1.0] * hours),
        "sensor.pv_b": _energy([0.5] * hours),
        "sensor.load": _energy([2.0] * hours),
        "sensor.charged": _energy([1.0] * hours),
        "sensor.discharged": _energy([0.9] * hours),
        "sensor.soc": _measured([(40.0, 50.0, 60.0)] * hours),
        "sensor.supply": _measured([(1.0, 1.0, 1.0)] * hours),
    }


def test_hourly_energy_is_the_sum_less_the_hour_befores() -> None:
    """Each hour's energy, totals and efficiency come from the sums; all complete."""
    rows = site_report(ENTITIES, _site(), T0, T0 + 4 * HOUR, Resolution.HOUR, UTC)
    assert len(rows) == 4
    first = rows[0]
    assert first.complete
    assert first.pv_kwh_by_entity == {"sensor.pv_a": 1.0, "sensor.pv_b": 0.5}
    assert first.pv_kwh == 1.5
    assert first.load_kwh == 2.0
    assert first.battery_round_trip_efficiency_pct == pytest.approx(90.0)
    assert (first.soc_min_pct, first.soc_mean_pct, first.soc_max_pct) == (40, 50, 60)
    assert (first.supply_hours, first.outage_hours, first.outages) == (1, 0, 0)
    assert first.grid_import_kwh is None  # the site names no grid meter
    assert first.purchased_kwh is None  # nor any purchases


def test_a_gap_is_flagged_and_never_filled() -> None:
    """Hours without rows have no value and are flagged; the day sums the rest."""
    statistics = _site(6)
    # PV A has no rows for hours 2 and 3; hour 4's energy needs hour 3's sum.
    statistics["sensor.pv_a"] = _energy([1.0, 1.0, None, None, 1.0, 1.0])
    hours = site_report(ENTITIES, statistics, T0, T0 + 6 * HOUR, Resolution.HOUR, UTC)
    assert [row.pv_kwh_by_entity["sensor.pv_a"] for row in hours] == [
        1.0,
        1.0,
        None,
        None,
        None,
        1.0,
    ]
    assert [row.complete for row in hours] == [True, True, False, False, False, True]
    assert hours[2].flags == ("sensor.pv_a missing",)
    day = site_report(ENTITIES, statistics, T0, T0 + 6 * HOUR, Resolution.DAY, UTC)[0]
    assert day.hours == 24
    assert day.complete_hours == 3
    assert day.pv_kwh_by_entity["sensor.pv_a"] == 3.0
    assert "sensor.pv_a missing 21 h" in day.flags


def test_implausible_statistics_are_flagged() -> None:
    """A sum that goes back, energy above the ceiling, SOC above 100 %: no value."""
    statistics = _site(3)
    statistics["sensor.load"] = _energy([2.0, -5.0, 50.0])
    statistics["sensor.soc"] = _measured([(40, 50, 60), (90, 100, 120), (40, 50, 60)])
    rows = site_report(
        ENTITIES,
        statistics,
        T0,
        T0 + 3 * HOUR,
        Resolution.HOUR,
        UTC,
        settings=ReportSettings(max_hourly_kwh=20.0),
    )
    assert [row.load_kwh for row in rows] == [2.0, None, None]
    assert rows[1].flags == ("sensor.load implausible", "sensor.soc implausible")
    assert rows[1].soc_mean_pct is None
    assert rows[2].flags == ("sensor.load implausible",)


def test_outages_count_their_beginnings() -> None:
    """An hour whose lowest supply reading is 0 is an outage; runs count once."""
    statistics = _site(6)
    statistics["sensor.supply"] = _measured(
        [(1, 1, 1), (0, 0.5, 1), (0, 0, 0), (1, 1, 1), (0, 0.2, 1), None]
    )
    day = site_report(ENTITIES, statistics, T0, T0 + 6 * HOUR, Resolution.DAY, UTC)[0]
    assert (day.supply_hours, day.outage_hours, day.outages) == (2, 3, 2)


def test_purchases_against_delivery_and_active_customers() -> None:
    """Energy bought in a row's period against the load; customers valid in it."""
    purchases = [
        Purchase(T0 + HOUR, "a", 3.0, T0 + 30 * HOUR),
        Purchase(T0 + 2 * HOUR, "b", 1.0, T0 + 3 * HOUR),
        Purchase(T0 - 50 * HOUR, "c", 5.0, T0 - 20 * HOUR),  # expired before
    ]
    rows = site_report(
        ENTITIES, _site(), T0, T0 + 4 * HOUR, Resolution.HOUR, UTC, purchases=purchases
    )
    assert [row.purchased_kwh for row in rows] == [0, 3.0, 1.0, 0]
    assert [row.active_customers for row in rows] == [0, 1, 2, 1]
    assert rows[1].delivered_kwh == 2.0
    assert rows[1].delivered_to_purchased_pct == pytest.approx(200 / 3)
    assert rows[0].delivered_to_purchased_pct is None  # nothing bought


def test_days_are_the_sites_days_across_a_clock_change() -> None:
    """The site's day of the spring change has 23 hours; the report starts at midnight."""
    brussels = ZoneInfo("Europe/Brussels")
    first = datetime(2026, 3, 28, tzinfo=brussels)
    bounds = period_bounds(
        first, datetime(2026, 3, 31, tzinfo=brussels), Resolution.DAY, brussels
    )
    assert [(end - start) // HOUR for start, end in bounds] == [24, 23, 24]
    assert bounds[0][0] == datetime(2026, 3, 27, 23, tzinfo=UTC)


def test_the_csv_is_the_same_for_the_same_inputs() -> None:
    """Fixed columns, unknown as empty, no float noise; JSON carries the same."""
    rows = site_report(ENTITIES, _site(), T0, T0 + 2 * HOUR, Resolution.HOUR, UTC)
    text = report_csv(rows, ENTITIES.pv)
    assert text == report_csv(list(rows), ENTITIES.pv)
    header, first, *_ = text.splitlines()
    assert header.startswith(
        "start,end,hours,complete_hours,complete,pv_kwh,pv_kwh:sensor.pv_a,"
    )
    assert first.split(",")[:8] == [
        "2026-03-02T00:00:00+00:00",
        "2026-03-02T01:00:00+00:00",
        "1",
        "1",
        "true",
        "1.5",
        "1",
        "0.5",
    ]
    assert (
        report_json(rows, ENTITIES.pv)[0]["battery_round_trip_efficiency_pct"] == 90.0
    )


def test_entities_and_units_are_checked() -> None:
    """Unknown roles, twice the same role, and units that are not energy are refused."""
    with pytest.raises(ReportError, match="unknown role 'solar'"):
        SiteEntities.parse("solar=sensor.a")
    with pytest.raises(ReportError, match="given twice"):
        SiteEntities.parse("load=sensor.a,load=sensor.b")
    with pytest.raises(ReportError, match="not an energy unit"):
        kwh_factor("W")
    assert kwh_factor("Wh") == 0.001
    assert SiteEntities.parse("pv=sensor.a,soc=sensor.b").get(Role.SOC) == "sensor.b"


def test_one_row_for_a_period_sums_its_hours() -> None:
    """Today so far: one row over the hours given, as the hourly rows summed."""
    row = period_row(ENTITIES, _site(), T0, T0 + 3 * HOUR)
    assert (row.hours, row.complete_hours, row.pv_kwh, row.load_kwh) == (3, 3, 4.5, 6.0)
    with pytest.raises(ValueError, match="no hours"):
        period_row(ENTITIES, _site(), T0, T0)
