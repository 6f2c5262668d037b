"""Convert the measured profiles in ../shared/data/profiles and backtest them.

Writes ``time,load,pv`` CSVs into a temporary folder and runs ``eo backtest``
(peak shaving) or, with ``--ev``, ``eo backtest-ev`` (the car, home from
16:00 to 07:30 needing 10 kWh, and home from 08:00 to 18:00) on each,
printing one JSON line per run: how the tables of ``docs/benchmarks.md``
(and those of ``docs/peak-shaving-backtests.md``) are made. With
``--sweep`` every peak-shaving profile runs with three batteries (``SWEEP``),
two at a time, and a last line sums up each strategy's share of the
optimal's peak reduction: one figure per profile hangs on its one heaviest
event, twelve show how a strategy does in general. With ``--bound``, ``eo
backtest-bound`` runs over the events that keep runs of the sweep under
90 % (``BOUNDS``), once as it is and once with ``--measured-share 0.9``:
how much of the optimum any controller seeing only the past could be sure
of there, what reaching 90 % would cost on the branches, and where the
orchestrator itself stands on the same profiles. With ``--site``, ``eo
backtest-site`` runs each load set of ``eo_lab/samples/sites/`` on five
days (one of history) of the EMHASS 10 days, the EMHASS year and the
SimBench household (``SITE_ROWS``), two at a time: the table of
``docs/flexible-loads.md``; ``--site-car`` does the same with the sites of
``eo_lab/samples/sites_car/`` (a car, a demand charge, a grid limit): the
table of ``docs/orchestration.md``. Usage:
``.venv/bin/python scripts/backtest_profiles.py [--ev | --sweep | --bound | --site | --site-car]``.
"""

from concurrent.futures import ThreadPoolExecutor
import csv
from datetime import UTC, datetime
import json
from pathlib import Path
import subprocess
import sys
import tempfile

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "profiles"
EMHASS = DATA / "emhass"
SIMBENCH = (
    DATA / "simbench" / "simbench_1.6.3_household_commercial_pv_profiles_15min_2016.csv"
)
NREL = DATA / "pvanalytics_nrel" / "serf_east_15min_ac_power.csv"

# name, source, battery kWh, battery kW, what the row is
ROWS = [
    ("emhass_10d", "emhass_test_df_final_30min_2025-03-12_2025-03-21.csv", 10, 3),
    ("emhass_year", "emhass_long_train_data_30min_2024-02-28_2025-02-27.csv", 10, 3),
    ("simbench_household", "H0-A_pload/PV1: 4500 kWh/year, 5 kWp", 10, 3),
    ("simbench_commercial", "G0-A_pload/PV3: 40 MWh/year, 30 kWp", 40, 15),
]


def _emhass(source: Path, target: Path) -> None:
    """Take EMHASS's load (no deferrable loads) and PV columns."""
    with source.open() as src, target.open("w", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["time", "load", "pv"])
        for row in csv.DictReader(src):
            writer.writerow(
                [
                    row["timestamp_utc"].replace(" ", "T"),
                    row["sensor.power_load_no_var_loads"],
                    row["sensor.power_photovoltaics"],
                ]
            )


def _simbench(
    target: Path, load_column: str, pv_column: str, kwh: float, kwp: float
) -> None:
    """Scale a SimBench standard load to ``kwh`` a year and a PV profile to ``kwp``."""
    with SIMBENCH.open() as src:
        rows = list(csv.DictReader(src, delimiter=","))
    loads = [float(row[load_column]) for row in rows]
    pvs = [float(row[pv_column]) for row in rows]
    load_scale = kwh * 1000 / (sum(loads) * 0.25)
    pv_scale = kwp * 1000 / max(pvs)
    with target.open("w", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(["time", "load", "pv"])
        for row, load, pv in zip(rows, loads, pvs, strict=True):
            moment = datetime.strptime(row["time"], "%d.%m.%Y %H:%M").replace(
                tzinfo=UTC
            )
            writer.writerow(
                [moment.isoformat(), f"{load * load_scale:.1f}", f"{pv * pv_scale:.1f}"]
            )


def _nrel(target: Path) -> None:
    """Take NREL's SERF East PV (15 min, 104 days) with no house load."""
    with NREL.open() as src, target.open("w", newline="") as dst:
        reader = csv.reader(src)
        next(reader)
        writer = csv.writer(dst)
        writer.writerow(["time", "load", "pv"])
        for row in reader:
            if len(row) == 2:
                writer.writerow([row[0].replace(" ", "T"), "0", row[1]])


# Per profile, the batteries of the sweep (kWh, kW): half, the table's, and
# half again as much (the commercial profile's scaled to its load).
SWEEP = {
    "emhass_10d": ((5, 2.5), (10, 3), (15, 5)),
    "emhass_year": ((5, 2.5), (10, 3), (15, 5)),
    "simbench_household": ((5, 2.5), (10, 3), (15, 5)),
    "simbench_commercial": ((20, 10), (40, 15), (80, 20)),
}


# The events that keep sweep runs under 90 % of the optimum
# (docs/peak-shaving-backtests.md), with a branch point every hour through
# them (and the EMHASS 10 days' one branch that rules 90 % out on its own):
# profile, battery kWh and kW, the first and the last branch point, the W
# between billed levels tried (a 200th of the peak or finer), what the
# event is.
BOUNDS = [
    *(
        ("emhass_10d", kwh, kw, "2025-03-13T01:00", "2025-03-14T08:00", 10, "14 March")
        for kwh, kw in SWEEP["emhass_10d"]
    ),
    # One branch alone: the night stopping at 01:30 as the night before did.
    # No controller reaches 90 % on both it and the measured profile.
    *(
        (
            "emhass_10d",
            kwh,
            kw,
            "2025-03-14T01:30",
            "2025-03-14T01:30",
            10,
            "14 March, 01:30 alone",
        )
        for kwh, kw in SWEEP["emhass_10d"]
    ),
    ("emhass_year", 15, 5, "2024-03-03T12:00", "2024-03-04T06:00", 10, "3 March"),
    (
        "simbench_commercial",
        20,
        10,
        "2016-01-02T01:00",
        "2016-01-03T00:00",
        50,
        "2 January",
    ),
    (
        "simbench_household",
        10,
        3,
        "2016-12-04T12:00",
        "2016-12-05T08:00",
        10,
        "4 December",
    ),
    (
        "simbench_household",
        10,
        3,
        "2016-12-25T12:00",
        "2016-12-26T06:00",
        10,
        "Christmas",
    ),
]


# ``--site``: profile, first day, days (None: the whole profile).
SITE_ROWS = [
    ("emhass_10d", "2025-03-17", 5),
    ("emhass_year", "2024-06-01", 5),
    ("simbench_household", "2016-05-02", 5),
]
SITES = Path(__file__).resolve().parent.parent / "eo_lab" / "samples" / "sites"
# The car, the demand charge and the grid's limit (issue 24): ``--site-car``.
CAR_SITES = SITES.parent / "sites_car"


def _convert(name: str, source: str, path: Path) -> None:
    """Write one profile's CSV."""
    if name.startswith("emhass"):
        _emhass(EMHASS / source, path)
    elif name == "simbench_household":
        _simbench(path, "H0-A_pload", "PV1", 4500, 5)
    elif name == "simbench_commercial":
        _simbench(path, "G0-A_pload", "PV3", 40000, 30)
    else:
        _nrel(path)


def _backtest(path: Path, kwh: float, kw: float) -> dict[str, object]:
    """Run ``eo backtest`` on one profile and battery; return its JSON."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "eo_lab",
            "backtest",
            "--input",
            str(path),
            "--battery-kwh",
            str(kwh),
            "--battery-kw",
            str(kw),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


def _missing_data() -> Path | None:
    """Return the first profile this script reads that is not there."""
    needed = [
        EMHASS / source for name, source, _, _ in ROWS if name.startswith("emhass")
    ]
    return next(
        (path for path in (*needed, SIMBENCH, NREL) if not path.is_file()), None
    )


def main() -> int:
    """Convert, run, print."""
    if (missing := _missing_data()) is not None:
        print(
            f"{Path(__file__).name}: the measured profiles are not in the"
            f" repository and {missing} is missing; where they come from:"
            " docs/benchmarks.md#the-measured-profiles",
            file=sys.stderr,
        )
        return 1
    if "--ev" in sys.argv:
        return _main_ev()
    if "--bound" in sys.argv:
        return _main_bound()
    if "--site-car" in sys.argv:
        return _main_site(CAR_SITES)
    if "--site" in sys.argv:
        return _main_site()
    sweep = "--sweep" in sys.argv
    with tempfile.TemporaryDirectory() as folder:
        runs: list[tuple[str, str, Path, float, float]] = []
        for name, source, kwh, kw in ROWS:
            path = Path(folder) / f"{name}.csv"
            _convert(name, source, path)
            for size in SWEEP[name] if sweep else ((kwh, kw),):
                runs.append((name, source, path, *size))
        # Two at a time: the machine has two cores, each run takes one.
        with ThreadPoolExecutor(2) as pool:
            results = pool.map(lambda run: _backtest(run[2], run[3], run[4]), runs)
            shares: dict[str, list[float]] = {}
            for (name, source, _, battery_kwh, battery_kw), result in zip(
                runs, results, strict=True
            ):
                print(
                    json.dumps(
                        {
                            "profile": name,
                            "source": source,
                            "battery_kwh": battery_kwh,
                            "battery_kw": battery_kw,
                            **result,
                        }
                    ),
                    flush=True,
                )
                _add_shares(shares, result)
    if sweep:
        print(json.dumps({"summary": _summary(shares)}), flush=True)
    return 0


def _add_shares(shares: dict[str, list[float]], result: dict[str, object]) -> None:
    """Add each strategy's share of the optimal's peak reduction on one run."""
    strategies = result["strategies"]
    assert isinstance(strategies, dict)
    none = strategies["none"]["peak_import_w"]
    optimal = strategies["optimal"]["peak_import_w"]
    for name, figures in strategies.items():
        if name in ("none", "optimal"):
            continue
        share = (
            (none - figures["peak_import_w"]) / (none - optimal)
            if none > optimal
            else 1.0
        )
        shares.setdefault(name, []).append(100 * share)


def _summary(shares: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Return per strategy the mean and least share and the runs at 90 % or more."""
    return {
        name: {
            "mean_share_pct": round(sum(values) / len(values), 1),
            "least_share_pct": round(min(values), 1),
            "runs_at_90_pct": sum(1 for value in values if value >= 90),
            "runs": len(values),
        }
        for name, values in shares.items()
    }


def _main_ev() -> int:
    """Run the car's backtest on every profile with PV."""
    rows = [
        *ROWS,
        (
            "nrel_serf_east",
            "serf_east_15min_ac_power.csv (PV only, no house load)",
            0,
            0,
        ),
    ]
    with tempfile.TemporaryDirectory() as folder:
        for name, source, _, _ in rows:
            path = Path(folder) / f"{name}.csv"
            _convert(name, source, path)
            for arrive, depart in (("16:00", "07:30"), ("08:00", "18:00")):
                result = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "eo_lab",
                        "backtest-ev",
                        "--input",
                        str(path),
                        "--arrive",
                        arrive,
                        "--depart",
                        depart,
                        "--need-kwh",
                        "10",
                        "--json",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                print(
                    json.dumps(
                        {
                            "profile": name,
                            "source": source,
                            "arrive": arrive,
                            "depart": depart,
                            **json.loads(result.stdout),
                        }
                    ),
                    flush=True,
                )
    return 0


def _main_bound() -> int:
    """Run ``eo backtest-bound`` over each event in ``BOUNDS``."""
    sources = {name: source for name, source, _, _ in ROWS}

    def bound(
        folder: str,
        row: tuple[str, float, float, str, str, int, str],
        share: str | None,
    ) -> str:
        """Return one event's bound as a JSON line."""
        name, kwh, kw, first, last, level_step, event = row
        reaching = [] if share is None else ["--measured-share", share]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "eo_lab",
                "backtest-bound",
                "--input",
                str(Path(folder) / f"{name}.csv"),
                "--battery-kwh",
                str(kwh),
                "--battery-kw",
                str(kw),
                "--from",
                first,
                "--to",
                last,
                "--level-step",
                str(level_step),
                *reaching,
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.dumps(
            {
                "profile": name,
                "battery_kwh": kwh,
                "battery_kw": kw,
                "event": event,
                **json.loads(result.stdout),
            }
        )

    with tempfile.TemporaryDirectory() as folder:
        for name in {row[0] for row in BOUNDS}:
            _convert(name, sources[name], Path(folder) / f"{name}.csv")
        # Two at a time: the machine has two cores, each run takes one.
        runs = [(row, share) for row in BOUNDS for share in (None, "0.9")]
        with ThreadPoolExecutor(2) as pool:
            for line in pool.map(lambda run: bound(folder, *run), runs):
                print(line, flush=True)
    return 0


def _slice(path: Path, first: str, days: int) -> None:
    """Keep ``days`` days of a converted profile from ``first`` on."""
    start = datetime.fromisoformat(first).replace(tzinfo=UTC)
    with path.open() as src:
        rows = list(csv.reader(src))
    kept = [
        row
        for row in rows[1:]
        if 0 <= (datetime.fromisoformat(row[0]) - start).total_seconds() < days * 86400
    ]
    with path.open("w", newline="") as dst:
        csv.writer(dst).writerows([rows[0], *kept])


def _main_site(sites: Path = SITES) -> int:
    """Run ``eo backtest-site`` with every site of ``sites`` on each ``SITE_ROWS`` profile."""
    sources = {name: source for name, source, _, _ in ROWS}

    def site(folder: str, profile: str, site_path: Path) -> str:
        """Return one run as a JSON line."""
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "eo_lab",
                "backtest-site",
                "--input",
                str(Path(folder) / f"{profile}.csv"),
                "--site",
                str(site_path),
                "--bound",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            # One run that fails must not hide the others, nor its reason.
            return json.dumps(
                {
                    "profile": profile,
                    "site": site_path.stem,
                    "error": result.stderr.strip().splitlines()[-5:],
                }
            )
        return json.dumps(
            {"profile": profile, "site": site_path.stem, **json.loads(result.stdout)}
        )

    with tempfile.TemporaryDirectory() as folder:
        for name, first, days in SITE_ROWS:
            path = Path(folder) / f"{name}.csv"
            _convert(name, sources[name], path)
            if first is not None and days is not None:
                _slice(path, first, days)
        runs = [
            (name, site_path)
            for name, _, _ in SITE_ROWS
            for site_path in sorted(sites.glob("*.json"))
        ]
        # Two at a time: the machine has two cores, each run takes one.
        with ThreadPoolExecutor(2) as pool:
            for line in pool.map(lambda run: site(folder, *run), runs):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
