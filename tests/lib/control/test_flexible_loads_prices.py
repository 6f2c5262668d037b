"""Price series from each integration's shape, and today's cost netted per period.

The attribute dicts and action answers are shaped as each integration
writes them (ENTSO-e's average-price sensor, Octopus Energy's day-rates
events, PVPC's sensor, Nord Pool's and Tibber's actions).
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.energy_orchestrator.lib.control.flexible_loads.cost import (
    CostBook,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.prices import (
    PriceSourceError,
    attribute_series,
    nordpool_series,
    octopus_series,
    per_kwh_factor,
    pvpc_series,
    tibber_series,
)
from custom_components.energy_orchestrator.lib.control.flexible_loads.tariff import (
    FixedPrice,
    PriceSeries,
    Tariff,
)

MADRID = ZoneInfo("Europe/Madrid")
LONDON = ZoneInfo("Europe/London")


def test_entsoe_prices_today_and_tomorrow_per_mwh() -> None:
    attributes = {
        "prices_today": [
            {"time": "2026-06-01 00:00:00+02:00", "price": 100.0},
            {"time": "2026-06-01 01:00:00+02:00", "price": 80.0},
        ],
        "prices_tomorrow": [{"time": "2026-06-02 00:00:00+02:00", "price": 120.0}],
        "prices": [{"time": "2026-06-01 00:00:00+02:00", "price": 100.0}],
    }
    series = attribute_series(attributes, "EUR/MWh", date(2026, 6, 1), MADRID)
    assert series.at(datetime(2026, 5, 31, 22, 30, tzinfo=UTC)) == pytest.approx(0.1)
    assert series.at(datetime(2026, 5, 31, 23, 30, tzinfo=UTC)) == pytest.approx(0.08)
    # Tomorrow's midnight, and the last price lasts as long as the one before.
    assert series.at(datetime(2026, 6, 1, 22, 59, tzinfo=UTC)) == pytest.approx(0.12)
    assert series.at(datetime(2026, 6, 1, 23, 0, tzinfo=UTC)) is None


def test_octopus_rates_of_today_and_tomorrow_events() -> None:
    def rate(start: datetime, price: float) -> dict[str, object]:
        return {
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            "value_inc_vat": price,
            "is_capped": False,
        }

    midnight = datetime(2026, 1, 10, tzinfo=LONDON)
    today = {
        "event_type": "octopus_energy_electricity_current_day_rates",
        "rates": [rate(midnight + timedelta(minutes=30 * i), 0.2) for i in range(48)],
        "tariff_code": "E-1R-AGILE-24-10-01-C",
    }
    tomorrow = {
        "rates": [
            rate(midnight + timedelta(days=1, minutes=30 * i), 0.1) for i in range(48)
        ]
    }
    series = octopus_series([today, tomorrow])
    assert series.at(midnight + timedelta(hours=23, minutes=59)) == 0.2
    assert series.at(midnight + timedelta(days=1, hours=1)) == 0.1
    assert series.end == midnight + timedelta(days=2)


def test_octopus_refuses_a_gap_between_rates() -> None:
    start = datetime(2026, 1, 10, tzinfo=UTC)
    rates = [
        {
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            "value_inc_vat": 0.2,
        },
        {
            "start": (start + timedelta(hours=1)).isoformat(),
            "end": (start + timedelta(hours=2)).isoformat(),
            "value_inc_vat": 0.3,
        },
    ]
    with pytest.raises(PriceSourceError, match="gap"):
        octopus_series([{"rates": rates}])


def test_pvpc_hours_are_local_and_tomorrow_follows() -> None:
    attributes = {f"price_{hour:02d}h": 0.1 + hour / 100 for hour in range(24)} | {
        f"price_next_day_{hour:02d}h": 0.3 for hour in range(24)
    }
    attributes["tariff"] = "2.0TD"
    series = pvpc_series(attributes, date(2026, 6, 1), MADRID, "€/kWh")
    # 13:00 in Madrid (summer) is 11:00 UTC.
    assert series.at(datetime(2026, 6, 1, 11, 30, tzinfo=UTC)) == pytest.approx(0.23)
    assert series.at(datetime(2026, 6, 2, 11, 30, tzinfo=UTC)) == 0.3
    assert series.end == datetime(2026, 6, 2, 22, tzinfo=UTC)


def test_pvpc_day_clocks_go_back_has_25_hours() -> None:
    attributes = {f"price_{hour:02d}h": float(hour) for hour in range(24)}
    attributes["price_02h_d"] = 99.0
    series = pvpc_series(attributes, date(2026, 10, 25), MADRID, None)
    # 02:00 CEST is 00:00 UTC, the second 02:00 (CET) 01:00 UTC.
    assert series.at(datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == 2.0
    assert series.at(datetime(2026, 10, 25, 1, 30, tzinfo=UTC)) == 99.0
    assert series.at(datetime(2026, 10, 25, 2, 30, tzinfo=UTC)) == 3.0


def test_pvpc_missing_hour_is_refused() -> None:
    attributes = {f"price_{hour:02d}h": 0.1 for hour in range(23)}
    with pytest.raises(PriceSourceError, match="23h"):
        pvpc_series(attributes, date(2026, 6, 1), MADRID, None)


def test_nordpool_answer_per_mwh_of_one_area() -> None:
    answers = [
        {
            "SE3": [
                {
                    "start": "2026-06-01T22:00:00+00:00",
                    "end": "2026-06-01T22:15:00+00:00",
                    "price": 500.0,
                },
                {
                    "start": "2026-06-01T22:15:00+00:00",
                    "end": "2026-06-01T22:30:00+00:00",
                    "price": 250.0,
                },
            ]
        },
        {"SE3": []},
    ]
    series = nordpool_series(answers, "SE3")
    assert series.at(datetime(2026, 6, 1, 22, 5, tzinfo=UTC)) == 0.5
    assert series.at(datetime(2026, 6, 1, 22, 20, tzinfo=UTC)) == 0.25
    assert series.end == datetime(2026, 6, 1, 22, 30, tzinfo=UTC)


def test_tibber_answer_of_one_home() -> None:
    answer = {
        "prices": {
            "Home": [
                {"start_time": "2026-06-01T00:00:00.000+02:00", "price": 0.31},
                {"start_time": "2026-06-01T01:00:00.000+02:00", "price": 0.29},
            ]
        }
    }
    series = tibber_series(answer)
    assert series.at(datetime(2026, 5, 31, 23, 10, tzinfo=UTC)) == 0.29
    with pytest.raises(PriceSourceError, match="several homes"):
        tibber_series({"prices": {"A": [], "B": []}})


@pytest.mark.parametrize(
    ("unit", "factor"),
    [
        (None, 1.0),
        ("EUR/kWh", 1.0),
        ("€/MWh", 0.001),
        ("SEK/MWh", 0.001),
        ("öre/kWh", 0.01),
        ("ct/kWh", 0.01),
        ("p/kWh", 0.01),
    ],
)
def test_price_units(unit: str | None, factor: float) -> None:
    assert per_kwh_factor(unit) == pytest.approx(factor)


@pytest.mark.parametrize(
    "attributes",
    [
        {"unit_of_measurement": "EUR/kWh"},
        {"prices_today": "not a list"},
        {"prices_today": [{"time": "2026-06-01 00:00", "price": 1}]},
        {"prices_today": [{"time": "2026-06-01T00:00+00:00", "price": "nan"}]},
        {"rates": [{"start": "2026-06-01T00:00+00:00", "value_inc_vat": 1}]},
    ],
)
def test_unreadable_prices_are_refused(attributes: dict[str, object]) -> None:
    """No forecast, a naive time, a price that is no number, a rate without end."""
    with pytest.raises(PriceSourceError):
        attribute_series(attributes, None, date(2026, 6, 1), UTC)


def test_a_unit_that_is_no_price_is_refused() -> None:
    with pytest.raises(PriceSourceError):
        per_kwh_factor("W")


def test_cost_nets_each_period_before_pricing() -> None:
    """Import and export within an hour cancel; the rest is priced per period."""
    tariff = Tariff(FixedPrice(0.2), FixedPrice(0.05), netting_minutes=60)
    book = CostBook()
    hour = datetime(2026, 6, 1, 10, tzinfo=UTC)
    book.add(tariff, hour, 1000.0, UTC)
    book.add(tariff, hour + timedelta(minutes=30), -800.0, UTC)
    # Open period: 200 Wh net import so far.
    assert book.today(tariff, hour + timedelta(minutes=59), UTC) == pytest.approx(0.04)
    book.add(tariff, hour + timedelta(hours=1), -2000.0, UTC)
    # 0.04 closed, and 2 kWh exported at 0.05.
    assert book.today(tariff, hour + timedelta(hours=1), UTC) == pytest.approx(-0.06)
    # A new day starts at nothing.
    book.add(tariff, hour + timedelta(days=1), 0.0, UTC)
    assert book.today(tariff, hour + timedelta(days=1), UTC) == 0.0


def test_cost_is_unknown_when_a_period_had_no_price() -> None:
    start = datetime(2026, 6, 1, 10, tzinfo=UTC)
    series = PriceSeries((start,), (0.2,), timedelta(hours=1))
    tariff = Tariff(series, FixedPrice(0.05), netting_minutes=60)
    book = CostBook()
    book.add(tariff, start + timedelta(hours=1), 500.0, UTC)
    assert book.today(tariff, start + timedelta(hours=1), UTC) is None
    saved = CostBook.restore(book.snapshot())
    assert saved == book
