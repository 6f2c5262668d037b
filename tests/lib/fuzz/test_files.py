"""Files users give the integration, fuzzed: generic register maps and purchases CSVs.

Whatever a file holds, the reader takes it or raises its own error, whose
message names what is wrong: ``RegisterMapError`` for a register map,
``PurchasesError`` (with line numbers) for a purchases CSV. What is read
back from a file the integration wrote is what it wrote.
"""

import copy
import json
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.generic import (
    RegisterMapError,
    parse_register_map,
)
from custom_components.energy_orchestrator.lib.reports.purchases import (
    PurchasesError,
    parse_purchases,
    purchases_csv,
)
from tests.fuzzing import fuzz
from tests.lib.drivers.test_generic import GOOD, JSON_VALUES

FIELDS = ["manufacturer", "model", "serial", "firmware", "max_registers", "points"]
POINT_FIELDS = [
    "key",
    "address",
    "table",
    "type",
    "count",
    "word_order",
    "scale",
    "options",
    "unit",
    "cadence",
    "not_implemented",
    "name",
]


def _loads_or_says_why(text: str) -> None:
    """Load a map or raise RegisterMapError with a message."""
    try:
        register_map = parse_register_map(text)
    except RegisterMapError as err:
        message = str(err)
    else:
        message = f"{len(register_map.points)} points"
    assert message


def test_any_text_is_a_register_map_or_says_why(examples: int) -> None:
    """Any text, and the good map's JSON cut or changed anywhere, loads or says why."""
    good = json.dumps(GOOD)

    def check(text: str) -> None:
        _loads_or_says_why(text)

    changed = st.builds(
        lambda at, cut, insert: good[:at] + insert + good[at + cut :],
        st.integers(0, len(good)),
        st.integers(0, 8),
        st.text(max_size=8)
        | st.sampled_from(["[", "{", "]]]]", "1e999", "-0", "null", '"', "\\u0000"]),
    )
    nested = st.builds(
        lambda depth, bracket: bracket * depth,
        st.integers(1, 100_000),
        st.sampled_from(["[", '{"a":', '[{"points":']),
    )
    fuzz(examples * 2, check, st.text(max_size=300) | changed | nested)


def test_any_value_anywhere_in_a_register_map_loads_or_says_why(examples: int) -> None:
    """Any JSON value for any field of the map or of one of its points loads or says why."""

    def check(at_point: bool, index: int, name: str, value: Any) -> None:
        document = copy.deepcopy(GOOD)
        if at_point:
            document["points"][index % len(document["points"])][name] = value
        else:
            document[name] = value
        _loads_or_says_why(json.dumps(document))

    fuzz(
        examples * 2,
        check,
        st.booleans(),
        st.integers(0, 20),
        st.sampled_from(POINT_FIELDS + FIELDS),
        JSON_VALUES,
    )


NAIROBI = ZoneInfo("Africa/Nairobi")
PURCHASE_COLUMNS = [
    "customer_id",
    "time",
    "energy_wh",
    "amount",
    "tariff_per_kwh",
    "valid_days",
    "valid_until",
]
CELLS = st.sampled_from(
    [
        "",
        "C1",
        "2026-03-01T08:00",
        "2026-03-01T08:00:00+03:00",
        "0001-01-01T00:00",
        "0001-01-01T00:00+14:00",
        "9999-12-31T23:59:59",
        "9999-12-31T23:59-14:00",
        "1500",
        "0",
        "-1",
        "nan",
        "inf",
        "1e308",
        "1e-320",
        "99999999999",
        "1e999",
        '"',
        "a,b",
    ]
) | st.text(max_size=10)


def test_any_purchases_csv_is_read_or_says_why(examples: int) -> None:
    """A purchases CSV of any header and cells is read, or every bad line is named."""

    def check(header: list[str], rows: list[list[str]]) -> None:
        text = "\n".join(",".join(row) for row in [header, *rows])
        try:
            purchases = parse_purchases(text, NAIROBI)
        except PurchasesError as err:
            errors = err.errors
            assert errors
            return
        # What the integration writes reads back the same.
        assert (
            parse_purchases(purchases_csv(purchases), NAIROBI).purchases
            == purchases.purchases
        )

    header = st.lists(
        st.sampled_from(PURCHASE_COLUMNS) | st.text(max_size=6),
        min_size=1,
        max_size=7,
        unique=True,
    )
    usual = st.permutations(PURCHASE_COLUMNS)
    fuzz(
        examples * 4,
        check,
        usual | header,
        st.lists(st.lists(CELLS, min_size=7, max_size=8), max_size=5),
    )


def test_any_text_is_a_purchases_csv_or_says_why(examples: int) -> None:
    """Any text at all, NULs and huge fields included, is read or refused by line."""

    def check(text: str) -> None:
        errors = [(0, "read")]
        try:
            parse_purchases(text, NAIROBI)
        except PurchasesError as err:
            errors = err.errors
        assert errors

    header = "customer_id,time,energy_wh,valid_days\n"
    fuzz(
        examples,
        check,
        st.text(max_size=300)
        | st.builds(lambda body: header + body, st.text(max_size=300)),
    )


def test_a_huge_field_or_a_lone_carriage_return_is_named() -> None:
    """Found by the fuzzer: the csv module's own errors escaped as csv.Error."""
    huge = "customer_id,time,energy_wh\nC1,2026-03-01T08:00," + "9" * 200_000 + "\n"
    with pytest.raises(PurchasesError) as caught:
        parse_purchases(huge, NAIROBI)
    assert caught.value.errors[0][0] == 2
    read = parse_purchases(
        "customer_id,time,energy_wh\r\nC1,2026-03-01T08:00,1\r\r", NAIROBI
    )
    assert len(read.purchases) == 1


def test_a_time_at_the_calendars_edge_is_named() -> None:
    """Found by the fuzzer: year 9999 plus 30 days of validity raised OverflowError."""
    for row in (
        "C1,9999-12-31T23:59:59,1,",
        "C1,0001-01-01T00:00,1,",
        "C1,2026-01-01T00:00,1,1e300",
    ):
        with pytest.raises(PurchasesError) as caught:
            parse_purchases("customer_id,time,energy_wh,valid_days\n" + row, NAIROBI)
        assert caught.value.errors == [(2, "a time or validity is out of range")]
