"""Convert the measured profiles in ../shared/data/profiles and backtest them.

Writes ``time,load,pv`` CSVs into a temporary folder and runs ``eo backtest``
on each, printing one JSON line per profile: how the README's peak-shaving
table is made. Usage: ``.venv/bin/python scripts/backtest_profiles.py``.
"""

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


def main() -> int:
    """Convert, run, print."""
    with tempfile.TemporaryDirectory() as folder:
        for name, source, kwh, kw in ROWS:
            path = Path(folder) / f"{name}.csv"
            if name.startswith("emhass"):
                _emhass(EMHASS / source, path)
            elif name == "simbench_household":
                _simbench(path, "H0-A_pload", "PV1", 4500, 5)
            else:
                _simbench(path, "G0-A_pload", "PV3", 40000, 30)
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "energy_orchestrator_cli",
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
            print(
                json.dumps(
                    {
                        "profile": name,
                        "source": source,
                        "battery_kwh": kwh,
                        "battery_kw": kw,
                        **json.loads(result.stdout),
                    }
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
