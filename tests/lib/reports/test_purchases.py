"""Customers' purchases from CSV: line-numbered errors, repeats counted once."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.energy_orchestrator.lib.reports.metrics import active_customers
from custom_components.energy_orchestrator.lib.reports.purchases import (
    PurchasesError,
    parse_purchases,
    purchases_csv,
)

NAIROBI = ZoneInfo("Africa/Nairobi")


def test_rows_in_wh_or_by_amount_and_tariff() -> None:
    """Energy is given or bought at a tariff; local times are the site's."""
    read = parse_purchases(
        "customer_id,time,energy_wh,amount,tariff_per_kwh,valid_days\n"
        "C1,2026-03-01T08:00,1500,,,\n"
        "C2,2026-03-01T09:00:00+00:00,,200,0.5,7\n",
        NAIROBI,
    )
    first, second = read.purchases
    assert (first.customer_id, first.energy_kwh) == ("C1", 1.5)
    assert first.time == datetime(2026, 3, 1, 5, tzinfo=UTC)
    assert first.valid_until == first.time + timedelta(days=30)
    assert second.energy_kwh == 400.0
    assert second.valid_until == second.time + timedelta(days=7)


def test_duplicate_rows_count_once() -> None:
    """The same purchase twice (in one file or two) is one purchase."""
    text = (
        "customer_id,time,energy_wh\n"
        "C1,2026-03-01T08:00:00+03:00,1000\n"
        "C1,2026-03-01T08:00:00+03:00,1000\n"
        "C1,2026-03-01T05:00:00+00:00,1000\n"
        "C1,2026-03-02T08:00:00+03:00,1000\n"
    )
    read = parse_purchases(text, NAIROBI)
    assert len(read.purchases) == 2
    assert read.duplicates == 2
    again = read.merged(parse_purchases(text, NAIROBI))
    assert len(again.purchases) == 2
    assert parse_purchases(purchases_csv(read), NAIROBI).purchases == read.purchases


def test_a_malformed_file_is_refused_naming_each_line() -> None:
    """Every bad row is named by its line; none of the file is taken."""
    with pytest.raises(PurchasesError) as refused:
        parse_purchases(
            "customer_id,time,energy_wh\n"
            "C1,2026-03-01T08:00,1000\n"
            "C2,yesterday,1000\n"
            "\n"
            "C3,2026-03-01T08:00,-5\n"
            "C4,2026-03-01T08:00,10,extra\n",
            NAIROBI,
        )
    assert [line for line, _ in refused.value.errors] == [3, 5, 6]
    assert "line 3: time 'yesterday' is not an ISO 8601 time" in str(refused.value)
    assert "line 5: energy_wh '-5' is not a positive number" in str(refused.value)


def test_a_header_without_energy_is_refused() -> None:
    """A file that cannot say how much was bought fails on its header."""
    with pytest.raises(PurchasesError, match="line 1: the header lacks energy_wh"):
        parse_purchases("customer_id,time,amount\nC1,2026-03-01,10\n", NAIROBI)


def test_active_customers_as_of_a_date() -> None:
    """A customer is active while one of their purchases is valid."""
    read = parse_purchases(
        "customer_id,time,energy_wh,valid_until\n"
        "C1,2026-03-01T00:00,1000,2026-03-10T00:00\n"
        "C1,2026-03-05T00:00,1000,2026-03-20T00:00\n"
        "C2,2026-03-01T00:00,1000,2026-03-03T00:00\n",
        NAIROBI,
    )
    at = datetime(2026, 3, 4, tzinfo=NAIROBI)
    assert active_customers(read.purchases, at) == 1
    assert active_customers(read.purchases, datetime(2026, 3, 2, tzinfo=NAIROBI)) == 2
    assert active_customers(read.purchases, datetime(2026, 3, 21, tzinfo=NAIROBI)) == 0
