"""The lab's input files, fuzzed: profiles, SOC traces, PRICES.csv and SITE.json.

Whatever a file holds, its reader gives what it read or raises its own
error (``ProfileError``, ``TraceError``, ``SiteError``), whose message
names the line or field; ``eo`` prints that as one line. No other
exception, no hang, and what is read is finite.
"""

import copy
from datetime import timedelta
import io
import json
import math
from typing import Any, cast

from hypothesis import strategies as st
import pytest

from eo_lab.backtest.profile import ProfileError, read_profile
from eo_lab.backtest.site_config import SiteError, read_prices, read_site
from eo_lab.soc_trace import TraceError, read_trace
from tests.fuzzing import fuzz
from tests.lab.test_backtest_site import SITE

PROFILE = [
    "time,load,pv",
    "2025-03-12T00:00:00+00:00,1381.539,0.000",
    "2025-03-12T00:30:00+00:00,1398.905,",
    "2025-03-12T01:00:00+00:00,1422.263,",
    "2025-03-12T01:30:00+00:00,3161.899,12",
]
# Cells files hold, and cells they should not: times at the calendar's
# edges, epochs past it, numbers past a float, NaN, quotes, noise.
TIMES = st.sampled_from(
    [
        "",
        "0",
        "1750000000",
        "1750000300.5",
        "-1",
        "1e12",
        "1e300",
        "1e999",
        "nan",
        "inf",
        "2025-03-12T00:00:00+00:00",
        "2025-03-12T02:00",
        "0001-01-01T00:00",
        "0001-01-01T00:00+14:00",
        "9999-12-31T23:59:59",
        "9999-12-31T23:59:59-14:00",
        "2025-13-01",
    ]
)
NUMBERS = st.sampled_from(
    ["", "0", "1500", "-20", "1e308", "-1e308", "1e999", "nan", "inf", "-inf", "x", '"']
)
CELLS = NUMBERS | TIMES | st.text(max_size=8)
LOAD = cast(list[dict[str, Any]], SITE["loads"])[0]


def _csv(rows: list[list[str]]) -> io.StringIO:
    """Return rows as a CSV file opened as ``eo`` opens it."""
    return io.StringIO("\n".join(",".join(row) for row in rows), newline="")


def _rows(header: list[str]) -> st.SearchStrategy[list[list[str]]]:
    """Return a strategy of a header then rows of a time and numbers."""
    row = st.tuples(
        TIMES | CELLS,
        st.lists(NUMBERS | CELLS, min_size=len(header) - 1, max_size=len(header)),
    ).map(lambda cells: [cells[0], *cells[1]])
    return st.lists(row, max_size=6).map(lambda rows: [header, *rows])


def _finite(values: list[float]) -> None:
    """Assert every value is finite."""
    assert all(math.isfinite(value) for value in values)


def test_any_profile_is_read_or_says_why(examples: int) -> None:
    """A profile of any cells is read onto the grid, finite, or names its line."""

    def check(rows: list[list[str]]) -> None:
        try:
            series = read_profile(_csv(rows))
        except ProfileError as err:
            message = str(err)
            assert message
            return
        _finite(series.load_w)
        _finite(series.pv_w)

    real = st.lists(st.sampled_from(PROFILE[1:]), min_size=1, max_size=6).map(
        lambda lines: [PROFILE[0].split(","), *(line.split(",") for line in lines)]
    )
    fuzz(
        examples * 4,
        check,
        _rows(["time", "load", "pv"]) | _rows(["time", "load"]) | real,
    )


def test_any_trace_is_read_or_says_why(examples: int) -> None:
    """A SOC trace of any cells gives finite samples or names its line."""

    def check(rows: list[list[str]]) -> None:
        try:
            for row in read_trace(_csv(rows)):
                for value in (
                    row.sample.voltage_v,
                    row.sample.current_a,
                    row.sample.temperature_c,
                ):
                    assert value is None or math.isfinite(value)
        except TraceError as err:
            message = str(err)
            assert message

    fuzz(
        examples * 4,
        check,
        _rows(["time", "voltage", "current", "temperature"])
        | _rows(["time", "voltage", "current"]),
    )


def test_any_prices_file_is_read_or_says_why(examples: int) -> None:
    """PRICES.csv of any cells gives finite prices or names its line."""

    def check(rows: list[list[str]]) -> None:
        try:
            imports, exports = read_prices(_csv(rows))
        except SiteError as err:
            message = str(err)
            assert message
            return
        _finite([*imports.prices, *exports.prices])

    fuzz(examples * 4, check, _rows(["time", "import", "export"]))


def test_a_prices_row_cut_short_names_its_line() -> None:
    """Found by the long fuzz run: a CR inside a row leaves its last field out."""
    with pytest.raises(
        SiteError, match=r"PRICES\.csv line 2: not a time and two prices"
    ):
        read_prices(_csv([["time", "import", "export"], ["0", "0\r", ""]]))


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(
        [
            10**400,
            -(10**30),
            1e308,
            "00:00",
            "24:00",
            "25:00",
            "12:30",
            "Europe/Paris",
            "../etc",
            "",
        ]
    )
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
SITE_PATHS = [
    ("timezone",),
    ("tariff",),
    ("tariff", "import_price"),
    ("tariff", "export_price"),
    ("tariff", "netting_minutes"),
    ("loads",),
    ("loads", 0),
    *[
        ("loads", 0, name)
        for name in (
            "name",
            "power_w",
            "energy_kwh_per_day",
            "window",
            "min_on_minutes",
            "min_off_minutes",
            "priority",
            "adjustable",
            "interruptible",
        )
    ],
    ("battery",),
    ("battery", "capacity_kwh"),
    ("battery", "power_kw"),
]


def test_any_site_file_is_read_or_says_why(examples: int) -> None:
    """SITE.json with any value in any field is read or says why."""

    def check(path: tuple[str | int, ...], value: Any) -> None:
        document: Any = copy.deepcopy(
            {**SITE, "battery": {"capacity_kwh": 10, "power_kw": 5}}
        )
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        try:
            site = read_site(json.dumps(document))
        except SiteError as err:
            message = str(err)
            assert message
            return
        # A battery alone is a site too: its price plan runs it.
        assert site.loads or site.battery is not None

    fuzz(examples * 4, check, st.sampled_from(SITE_PATHS), JSON_VALUES)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["time", "load"], ["0", "1"], ["1e11", "1"]], "spans"),
        ([["time", "load"], ["0", "1"], ["9999-12-31T23:59:59", "1"]], "spans"),
    ],
)
def test_a_profile_spanning_centuries_is_refused_at_once(
    rows: list[list[str]], message: str
) -> None:
    """Found by the fuzzer: two rows 3,000 years apart made 300 million steps (a hang)."""
    with pytest.raises(ProfileError, match=message):
        read_profile(_csv(rows), timedelta(minutes=5))


@pytest.mark.parametrize(
    "change",
    [
        {"tariff": None},
        {"loads": [{**LOAD, "window": []}]},
        {"loads": [{**LOAD, "priority": math.inf}]},
        {"loads": [{**LOAD, "min_on_minutes": 1e300}]},
        {"timezone": "Europe/" + "x" * 300},
        {"timezone": 10**300},
    ],
)
def test_a_site_file_of_the_wrong_shape_says_why(change: dict[str, Any]) -> None:
    """Found by the fuzzer: these raised AttributeError, IndexError, OverflowError and OSError."""
    with pytest.raises(SiteError, match=r"^SITE\.json: "):
        read_site(json.dumps({**SITE, **change}))


@pytest.mark.parametrize(
    "row",
    [["1e300", "0.2", "0.1"], ["2025-03-12T00:00", "nan", "0.1"], ["0", "0.2", "inf"]],
)
def test_a_price_row_past_the_calendar_or_not_a_number_names_its_line(
    row: list[str],
) -> None:
    """Found by the fuzzer: an epoch of 1e300 raised OverflowError; NaN was a price."""
    with pytest.raises(SiteError, match="line 2"):
        read_prices(_csv([["time", "import", "export"], row]))


def test_a_trace_cell_of_nan_names_its_line() -> None:
    """Found by the fuzzer: NaN and infinity went into the estimator as readings."""
    with pytest.raises(TraceError, match="line 3: current 'nan' is not a number"):
        list(
            read_trace(
                _csv(
                    [
                        ["time", "voltage", "current"],
                        ["0", "52", "1"],
                        ["1", "52", "nan"],
                    ]
                )
            )
        )
