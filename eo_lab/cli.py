"""``eo``: the installer's and engineer's command line over drivers and sim.

- ``eo probe``: read a device with the integration's own driver code.
- ``eo simulate``: serve the simulated site over real Modbus TCP.
- ``eo node``: run a remote node's agent (``eo_node``): its devices to MQTT.
- ``eo soc``: run the battery manager's SOC estimator over a recorded trace.
- ``eo backtest``: replay a measured profile through the peak-shaving strategies.
- ``eo backtest-bound``: the most a controller seeing only the past can reach
  there, and what the orchestrator reaches on the same profiles.
- ``eo report``: a site's hourly or daily metrics from a recorder database.
- ``eo backtest-site``: replay a profile with the site's flexible loads under
  its tariff (SITE.json, optional PRICES.csv).
- ``eo bench poll|scale|soc|plan|report|loads|node``: the figures docs/benchmarks.md records.

Failures print one line and exit with status 1; nothing here prints a
traceback at a user.
"""

import argparse
import asyncio
from collections.abc import Callable, Sequence
import csv
from datetime import UTC, date, datetime, timedelta
import json
import math
from pathlib import Path
import re
import reprlib
import signal
import sys
from typing import Any, TextIO

from custom_components.energy_orchestrator.lib.drivers.base import Driver
from custom_components.energy_orchestrator.lib.drivers.errors import DeviceError
from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    Protocol,
    build_can_driver,
    build_driver,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool

# The largest serial speed a USB adapter reaches; anything above is a typo.
_MAX_BAUDRATE = 4_000_000
# A benchmark's own limits: beyond them it would run for days.
_MAX_BENCH_DAYS = 3650


def _finite(text: str) -> float:
    """Return an option's number; argparse's one-line error for NaN or infinity."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    parser = argparse.ArgumentParser(
        prog="eo", description="Energy Orchestrator command-line tool."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    probe = commands.add_parser("probe", help="read a device and print its values")
    probe.add_argument("--family", required=True, choices=sorted(FAMILIES))
    probe.add_argument(
        "--url",
        required=True,
        help="tcp://HOST:PORT, rtu-over-tcp://HOST:PORT, a serial device path,"
        " socket://HOST:PORT or rfc2217://HOST:PORT; for a battery on a CAN"
        " bus, python-can's channel (can0, /dev/ttyACM0, socket://HOST:PORT)",
    )
    probe.add_argument(
        "--interface",
        default="socketcan",
        help="python-can's interface, for a battery on a CAN bus: socketcan,"
        " slcan (also through ser2net), virtual... (default: socketcan)",
    )
    probe.add_argument(
        "--unit",
        type=int,
        default=None,
        help="the device's address: its Modbus unit id, or a pack's or BMS's"
        " address (default: the family's, 1 for most)",
    )
    probe.add_argument(
        "--map", default=None, help="register map (JSON file) for --family generic"
    )
    probe.add_argument(
        "--baudrate",
        type=int,
        default=None,
        help="serial baud rate (default: the family's)",
    )
    probe.add_argument(
        "--timeout", type=_finite, default=3.0, help="seconds per request"
    )
    probe.add_argument("--json", action="store_true", help="print one JSON object")

    node = commands.add_parser(
        "node", help="run a remote node's agent: devices to MQTT and back"
    )
    node.add_argument(
        "--config", required=True, help="the node's YAML file (docs/node.md)"
    )
    node.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="how much the node logs to stderr",
    )

    simulate = commands.add_parser("simulate", help="run the simulated site")
    simulate.add_argument("--host", default="127.0.0.1", help="address to serve on")
    simulate.add_argument(
        "--port",
        type=int,
        default=5020,
        help="the site's port; its other devices take the next ones",
    )
    simulate.add_argument(
        "--speed", type=_finite, default=1.0, help="simulated seconds per real second"
    )
    simulate.add_argument(
        "--initial-soc",
        type=_finite,
        default=50.0,
        help="the house battery's state of charge at the start (%%, default 50)",
    )
    simulate.add_argument(
        "--gateways",
        type=int,
        default=0,
        help="serve a mini-grid instead: this many gateways on consecutive ports",
    )
    simulate.add_argument(
        "--units-per-gateway", type=int, default=10, help="meters on each gateway"
    )

    soc = commands.add_parser(
        "soc", help="estimate the state of charge over a recorded battery trace"
    )
    soc.add_argument(
        "--input", required=True, help="CSV: time, voltage, current[, temperature]"
    )
    soc.add_argument("--capacity-ah", type=_finite, required=True)
    soc.add_argument("--chemistry", choices=["lfp", "nmc"], required=True)
    soc.add_argument("--cells", type=int, required=True, help="cells in series")
    soc.add_argument(
        "--initial-soc", type=_finite, default=None, help="known SOC (%%) at the start"
    )

    backtest = commands.add_parser(
        "backtest", help="replay a measured profile through the peak-shaving strategies"
    )
    backtest.add_argument("--input", required=True, help="CSV: time, load[, pv] in W")
    backtest.add_argument("--battery-kwh", type=_finite, required=True)
    backtest.add_argument("--battery-kw", type=_finite, required=True)
    backtest.add_argument("--import-limit", type=_finite, default=None, help="W")
    backtest.add_argument(
        "--interval", type=int, default=15, help="billing interval in minutes"
    )
    backtest.add_argument("--json", action="store_true")

    bound = commands.add_parser(
        "backtest-bound",
        help="the share of the optimum a controller seeing only the past can be sure of",
    )
    bound.add_argument("--input", required=True, help="CSV: time, load[, pv] in W")
    bound.add_argument("--battery-kwh", type=_finite, required=True)
    bound.add_argument("--battery-kw", type=_finite, required=True)
    bound.add_argument(
        "--from",
        dest="branch_from",
        required=True,
        help="first branch point (ISO 8601)",
    )
    bound.add_argument(
        "--to", dest="branch_to", required=True, help="last branch point (ISO 8601)"
    )
    bound.add_argument(
        "--every", type=int, default=60, help="minutes between branch points"
    )
    bound.add_argument(
        "--interval", type=int, default=15, help="billing interval in minutes"
    )
    bound.add_argument(
        "--level-step", type=_finite, default=10.0, help="W between billed levels tried"
    )
    bound.add_argument(
        "--measured-share",
        type=_finite,
        default=None,
        help="only controllers reaching this share (0-1) on the measured profile",
    )
    bound.add_argument("--json", action="store_true")

    backtest_ev = commands.add_parser(
        "backtest-ev", help="replay a profile with a car: solar into the car"
    )
    backtest_ev.add_argument(
        "--input", required=True, help="CSV: time, load[, pv] in W"
    )
    backtest_ev.add_argument("--arrive", required=True, help="HH:MM the car comes home")
    backtest_ev.add_argument("--depart", required=True, help="HH:MM the car leaves")
    backtest_ev.add_argument("--need-kwh", type=_finite, required=True)
    backtest_ev.add_argument("--max-current", type=_finite, default=16.0, help="A")
    backtest_ev.add_argument("--json", action="store_true")

    report = commands.add_parser(
        "report", help="a site's metrics from a recorder database, as CSV"
    )
    report.add_argument(
        "--db",
        required=True,
        help="the recorder's database URL: sqlite:///PATH, mysql://..., postgresql://...",
    )
    report.add_argument(
        "--entities",
        required=True,
        help="role=entity_id,... (roles: pv (one per inverter), load,"
        " battery_charge, battery_discharge, grid_import, grid_export, generator,"
        " soc, supply)",
    )
    report.add_argument("--purchases", default=None, help="customers' purchases, CSV")
    report.add_argument(
        "--from", dest="first", required=True, type=_date, help="first day, YYYY-MM-DD"
    )
    report.add_argument(
        "--to", dest="last", required=True, type=_date, help="last day (included)"
    )
    report.add_argument("--resolution", choices=("hour", "day"), default="day")
    report.add_argument(
        "--out", required=True, help="the CSV file to write; - prints it"
    )
    report.add_argument(
        "--timezone", default="UTC", help="the site's time zone, for its days"
    )
    report.add_argument(
        "--supply-threshold",
        type=_finite,
        default=0.0,
        help="the supply sensor reads above this while supplied",
    )
    report.add_argument(
        "--max-hourly-kwh",
        type=_finite,
        default=None,
        help="more energy than this in an hour is implausible",
    )
    backtest_site = commands.add_parser(
        "backtest-site", help="replay a profile with the site's flexible loads"
    )
    backtest_site.add_argument(
        "--input", required=True, help="CSV: time, load[, pv] in W"
    )
    backtest_site.add_argument(
        "--site", required=True, help="SITE.json: tariff, loads, battery"
    )
    backtest_site.add_argument(
        "--prices", default=None, help="CSV: time, import, export (per kWh)"
    )
    backtest_site.add_argument(
        "--bound",
        action="store_true",
        help="add the orchestrator with the real future (foresight) and the causal bound",
    )
    backtest_site.add_argument("--json", action="store_true")

    faults = commands.add_parser(
        "faults",
        help="run the fault campaign against Home Assistant and the simulated site",
    )
    faults.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="FAULT",
        help="run this scenario only (repeatable); all by default",
    )
    faults.add_argument("--json", action="store_true")
    bench = commands.add_parser("bench", help="print performance figures")
    which = bench.add_subparsers(dest="benchmark", required=True)
    poll = which.add_parser(
        "poll", help="one SDM630 poll against one request per value"
    )
    poll.add_argument("--polls", type=int, default=50)
    poll.add_argument("--json", action="store_true")
    scale = which.add_parser("scale", help="a mini-grid of many devices on gateways")
    scale.add_argument("--devices", type=int, default=50)
    scale.add_argument("--gateways", type=int, default=5)
    scale.add_argument("--cycles", type=int, default=6)
    scale.add_argument(
        "--interval", type=_finite, default=5.0, help="seconds between poll cycles"
    )
    scale.add_argument("--json", action="store_true")
    node_bench = which.add_parser(
        "node", help="eo node processes on one MQTT broker: throughput, latency, CPU"
    )
    node_bench.add_argument("--nodes", type=int, default=10)
    node_bench.add_argument("--components", type=int, default=5)
    node_bench.add_argument(
        "--seconds", type=_finite, default=30.0, help="how long to measure"
    )
    node_bench.add_argument(
        "--interval", type=_finite, default=1.0, help="seconds between polls"
    )
    node_bench.add_argument("--json", action="store_true")
    soc_bench = which.add_parser(
        "soc", help="SOC error of the estimator over simulated months, per day"
    )
    soc_bench.add_argument("--days", type=int, default=30)
    soc_bench.add_argument(
        "--month",
        action="append",
        default=[],
        help="run only this month (repeatable; default: all)",
    )
    soc_bench.add_argument(
        "--validation",
        type=int,
        default=0,
        help="also run this many months drawn at random",
    )
    soc_bench.add_argument("--json", action="store_true")
    plan_bench = which.add_parser("plan", help="time of one 48-hour energy plan")
    plan_bench.add_argument("--json", action="store_true")
    report_bench = which.add_parser(
        "report", help="eo report on a year of hourly statistics of 20 entities"
    )
    report_bench.add_argument("--json", action="store_true")
    loads_bench = which.add_parser(
        "loads", help="time of one 48-hour plan of four flexible loads and a battery"
    )
    loads_bench.add_argument("--plans", type=int, default=10)
    loads_bench.add_argument("--hours", type=int, default=48)
    loads_bench.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "probe":
            return asyncio.run(_probe(args))
        if args.command == "node":
            from eo_node.main import run  # noqa: PLC0415

            return run(Path(args.config), log_level=args.log_level)
        if args.command == "simulate":
            return asyncio.run(_simulate(args))
        if args.command == "soc":
            return _soc(args)
        if args.command == "backtest":
            return _backtest(args)
        if args.command == "backtest-bound":
            return _backtest_bound(args)
        if args.command == "backtest-ev":
            return _backtest_ev(args)
        if args.command == "report":
            return _report(args)
        if args.command == "backtest-site":
            return _backtest_site(args)
        if args.command == "faults":
            return _faults(args)
        return asyncio.run(_bench(args))
    except KeyboardInterrupt:
        return 130


def _faults(args: argparse.Namespace) -> int:
    """Run the fault campaign; print its table or JSON; fail if a fault did not hold."""
    # Imported here: the campaign drives Home Assistant, which other commands skip.
    from eo_lab.faults import campaign  # noqa: PLC0415
    from eo_lab.faults.scenarios import SCENARIOS  # noqa: PLC0415
    from eo_lab.screenshots import StepError  # noqa: PLC0415

    names = {s.name for s in SCENARIOS}
    if unknown := [name for name in args.only if name not in names]:
        return _fail(
            f"no fault {', '.join(map(repr, unknown))}; the faults are:"
            f" {', '.join(s.name for s in SCENARIOS)}"
        )
    try:
        rows = campaign.run_campaign(args.only)
    except StepError as err:
        return _fail(str(err))
    print(
        json.dumps(campaign.rows_as_dicts(rows))
        if args.json
        else campaign.format_rows(rows)
    )
    return 0 if all(row.held for row in rows) else 1


async def _probe(args: argparse.Namespace) -> int:
    """Identify and read one device, printing JSON or a table."""
    family = FAMILIES[args.family]
    unit = family.default_unit if args.unit is None else args.unit
    low, high = family.address_range
    if not low <= unit <= high:
        return _fail(
            f"--unit {unit} is outside {low}-{high}, the addresses of {family.name}"
        )
    if args.baudrate is not None and not 1 <= args.baudrate <= _MAX_BAUDRATE:
        return _fail(f"--baudrate {args.baudrate} is outside 1-{_MAX_BAUDRATE}")
    if not 0 < args.timeout <= 3600:
        return _fail(f"--timeout {args.timeout} is outside 0-3600 seconds")
    if family.protocol is Protocol.CAN:
        driver = build_can_driver(family, args.interface, args.url)
        return await _probe_driver(args, driver, None, str(driver.link.endpoint))
    try:
        endpoint = parse_endpoint(
            args.url, baudrate=args.baudrate or family.default_baudrate
        )
    except ValueError as err:
        return _fail(str(err))
    register_map = None
    if args.map is not None:
        try:
            register_map = await asyncio.to_thread(
                Path(args.map).read_text, encoding="utf-8"
            )
        except OSError as err:
            return _fail(f"cannot read the register map: {err}")
    pool = LinkPool(timeout=args.timeout)
    try:
        driver = build_driver(pool, family, endpoint, unit, register_map)
    except ValueError as err:
        return _fail(str(err))
    return await _probe_driver(args, driver, pool, f"{endpoint} unit {unit}")


async def _probe_driver(
    args: argparse.Namespace, driver: Driver, pool: LinkPool | None, where: str
) -> int:
    """Identify and read a device with its driver; give its link back after.

    ``pool`` holds the link; a CAN bus (no pool) is the driver's own.
    ``where`` is where the device was reached, for the table's first line.
    """
    try:
        identity = await driver.async_identify()
        readings = await driver.async_read()
    except DeviceError as err:
        return _fail(str(err))
    except Exception as err:
        return _fail(f"unexpected {type(err).__name__}: {err}")
    finally:
        if pool is None:
            await driver.link.close()
        else:
            await pool.release(driver.link)
    result: dict[str, Any] = {
        "family": args.family,
        "identity": {
            "manufacturer": identity.manufacturer,
            "model": identity.model,
            "serial_number": identity.serial_number,
            "firmware": identity.firmware,
        },
        "readings": {
            key: {"value": reading.value, "unit": str(reading.unit)}
            for key, reading in sorted(readings.items())
        },
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{identity.manufacturer} {identity.model}, serial {identity.serial_number}"
        f" at {where}"
    )
    width = max((len(key) for key in readings), default=0)
    for key, reading in sorted(readings.items()):
        value = reading.value
        shown = f"{value:>14}" if isinstance(value, str) else f"{value:>14.3f}"
        print(f"  {key:<{width}}  {shown} {reading.unit}")
    return 0


def _soc(args: argparse.Namespace) -> int:
    """Print ``time,soc`` for every row of a battery trace."""
    from eo_lab.soc_trace import (  # noqa: PLC0415
        TraceError,
        estimate_trace,
        read_trace,
        trace_settings,
    )

    if args.initial_soc is not None and not 0 <= args.initial_soc <= 100:
        return _fail(f"--initial-soc {args.initial_soc} is outside 0-100")
    try:
        settings = trace_settings(args.capacity_ah, args.chemistry, args.cells)
    except ValueError as err:
        return _fail(str(err))
    lines: list[str] = ["time,soc"]
    try:
        with Path(args.input).open(encoding="utf-8", newline="") as trace:
            for time_text, soc in estimate_trace(
                read_trace(trace), settings, args.initial_soc
            ):
                lines.append(f"{time_text},{'' if soc is None else f'{soc:.2f}'}")
    except OSError as err:
        return _fail(f"cannot read {args.input}: {err.strerror or err}")
    except (TraceError, csv.Error) as err:
        return _fail(f"{args.input}: {err}")
    except UnicodeDecodeError as err:
        return _fail(f"{args.input}: not UTF-8 text (byte {err.start})")
    print("\n".join(lines))
    return 0


def _on_profile(path: str, run: Callable[[TextIO], str]) -> int:
    """Open a profile, print what ``run`` makes of it; any failure as one line."""
    from eo_lab.backtest.profile import ProfileError  # noqa: PLC0415

    try:
        with Path(path).open(encoding="utf-8", newline="") as profile:
            print(run(profile))
    except OSError as err:
        return _fail(f"cannot read {path}: {err.strerror or err}")
    except (ProfileError, csv.Error) as err:
        return _fail(f"{path}: {err}")
    except UnicodeDecodeError as err:
        return _fail(f"{path}: not UTF-8 text (byte {err.start})")
    except OverflowError:
        return _fail(f"{path}: a time or number is out of range")
    except ValueError as err:
        return _fail(str(err))
    return 0


def _billing_interval(minutes: int) -> timedelta:
    """Return the billing interval asked for; ValueError when a replay cannot use it."""
    from eo_lab.backtest.profile import STEP  # noqa: PLC0415

    interval = timedelta(minutes=minutes)
    if minutes < 5 or interval % STEP:
        raise ValueError(
            f"--interval must be a multiple of {STEP.seconds // 60} minutes"
        )
    return interval


def _backtest(args: argparse.Namespace) -> int:
    """Replay a profile through the peak-shaving strategies."""
    from eo_lab.backtest.profile import read_profile  # noqa: PLC0415
    from eo_lab.backtest.report import format_backtest  # noqa: PLC0415
    from eo_lab.backtest.strategies import run_backtest  # noqa: PLC0415

    if args.battery_kwh < 0 or args.battery_kw < 0:
        return _fail("--battery-kwh and --battery-kw must be >= 0")
    if args.import_limit is not None and args.import_limit < 0:
        return _fail("--import-limit must be >= 0 W")

    def run(profile: TextIO) -> str:
        """Return every strategy's figures."""
        interval = _billing_interval(args.interval)
        result = run_backtest(
            read_profile(profile),
            battery_kwh=args.battery_kwh,
            battery_kw=args.battery_kw,
            import_limit_w=args.import_limit,
            interval=interval,
        )
        return json.dumps(result) if args.json else format_backtest(result)

    return _on_profile(args.input, run)


def _backtest_bound(args: argparse.Namespace) -> int:
    """Print the causal bound of a profile over a stretch of branch points."""
    from eo_lab.backtest.battery import battery_limits  # noqa: PLC0415
    from eo_lab.backtest.bound import causal_bound  # noqa: PLC0415
    from eo_lab.backtest.branches import orchestrator_on_branches  # noqa: PLC0415
    from eo_lab.backtest.profile import parse_time, read_profile  # noqa: PLC0415
    from eo_lab.backtest.report import format_bound  # noqa: PLC0415

    if args.battery_kwh <= 0 or args.battery_kw <= 0:
        return _fail("--battery-kwh and --battery-kw must be > 0")
    moments: list[datetime] = []
    for option, text in (("--from", args.branch_from), ("--to", args.branch_to)):
        try:
            moments.append(datetime.fromtimestamp(parse_time(text), UTC))
        except ValueError, OverflowError, OSError:
            return _fail(f"{option} {text!r} is not a time (ISO 8601 or epoch seconds)")

    def run(profile: TextIO) -> str:
        """Return the bound over the branch points asked for, and the orchestrator's shares."""
        interval = _billing_interval(args.interval)
        series = read_profile(profile)
        battery = battery_limits(args.battery_kwh, args.battery_kw)
        bound = causal_bound(
            series,
            battery,
            interval=interval,
            branch_from=moments[0],
            branch_to=moments[1],
            branch_every=timedelta(minutes=args.every),
            level_step_w=args.level_step,
            measured_share=args.measured_share,
        )
        shares = orchestrator_on_branches(series, battery, bound, interval=interval)
        if args.json:
            return json.dumps({**bound.as_dict(), "orchestrator": shares.as_dict()})
        return format_bound(bound, shares)

    return _on_profile(args.input, run)


def _backtest_site(args: argparse.Namespace) -> int:
    """Replay a profile with the site's flexible loads through the strategies."""
    from eo_lab.backtest.profile import read_profile  # noqa: PLC0415
    from eo_lab.backtest.site import (  # noqa: PLC0415
        STRATEGIES,
        format_backtest_site,
        run_site_backtest,
    )
    from eo_lab.backtest.site_bound import causal_site_bound  # noqa: PLC0415
    from eo_lab.backtest.site_config import read_site  # noqa: PLC0415

    try:
        site_text = Path(args.site).read_text(encoding="utf-8")
        prices = None
        if args.prices is not None:
            prices = Path(args.prices).read_text(encoding="utf-8").splitlines()
        site = read_site(site_text, prices)
    except OSError as err:
        return _fail(f"cannot read {err.filename}: {err.strerror or err}")
    except ValueError as err:
        return _fail(str(err))

    def run(profile: TextIO) -> str:
        """Return every strategy's figures."""
        series = read_profile(profile)
        if not args.bound:
            result = run_site_backtest(series, site)
        else:
            result = run_site_backtest(series, site, (*STRATEGIES, "foresight"))
            result["causal_bound"] = causal_site_bound(series, site)
        return json.dumps(result) if args.json else format_backtest_site(result)

    return _on_profile(args.input, run)


def _backtest_ev(args: argparse.Namespace) -> int:
    """Replay a profile with a car through the charging strategies."""
    import csv  # noqa: PLC0415
    from datetime import time  # noqa: PLC0415

    from eo_lab.backtest.ev import (  # noqa: PLC0415
        format_backtest_ev,
        profile_zone,
        run_backtest_ev,
    )
    from eo_lab.backtest.profile import read_profile  # noqa: PLC0415

    try:
        arrive, depart = (
            time.fromisoformat(args.arrive),
            time.fromisoformat(args.depart),
        )
    except ValueError:
        return _fail("--arrive and --depart are clock times, HH:MM")

    def run(profile: TextIO) -> str:
        """Return both strategies' figures; the profile's own offset is its clock."""
        first = next(csv.DictReader(profile), None)
        profile.seek(0)
        series = read_profile(profile)
        result = run_backtest_ev(
            series,
            arrive=arrive,
            depart=depart,
            need_kwh=args.need_kwh,
            max_current_a=args.max_current,
            zone=profile_zone((first or {}).get("time") or "0"),
        )
        return json.dumps(result) if args.json else format_backtest_ev(result)

    return _on_profile(args.input, run)


async def _simulate(args: argparse.Namespace) -> int:
    """Run the simulated site until interrupted."""
    from eo_lab.sim.fleet import run_simulator  # noqa: PLC0415

    if not 0 < args.speed <= 1e6:
        return _fail("--speed must be > 0 and at most 1000000")
    if not 0 <= args.initial_soc <= 100:
        return _fail("--initial-soc must be 0-100 (%)")
    if args.gateways < 0 or not 1 <= args.units_per_gateway <= 247:
        return _fail("--gateways must be >= 0 and --units-per-gateway 1-247")
    # A URL, or a host with its port: what --host is often given by mistake.
    if "://" in args.host or re.fullmatch(r"[\w.-]+:\d+", args.host):
        return _fail(
            f"--host takes a host name or IP address, not {args.host!r};"
            " the port is --port"
        )
    from eo_lab.sim.fleet import FLEET_PORTS  # noqa: PLC0415

    ports = args.gateways or FLEET_PORTS
    # Port 0 serves the site's devices on free ports (the mini-grid's
    # gateways need consecutive ones).
    free = 0 if not args.gateways else 1
    if not (args.port == free == 0 or 1 <= args.port <= 65536 - ports):
        return _fail(
            f"--port {args.port} cannot serve {ports} devices on consecutive"
            f" ports; give {'0 (free ports) or ' if not free else ''}"
            f"1-{65536 - ports}"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if args.gateways:
            from eo_lab.benchmarks.polling import serve_mini_grid  # noqa: PLC0415

            await serve_mini_grid(
                args.port, args.gateways, args.units_per_gateway, stop, print
            )
        else:
            await run_simulator(
                args.host,
                args.port,
                args.speed,
                stop,
                print,
                initial_soc=args.initial_soc / 100,
            )
    except OSError as err:
        return _fail(f"cannot serve on {args.host}:{args.port}: {err}")
    return 0


def _bench_soc(args: argparse.Namespace) -> int:
    """Run the SOC benchmark and print its figures."""
    from eo_lab.benchmarks import soc  # noqa: PLC0415

    if not 1 <= args.days <= _MAX_BENCH_DAYS:
        return _fail(f"--days must be 1-{_MAX_BENCH_DAYS}")
    if args.validation < 0:
        return _fail("--validation cannot be negative")
    names = {month.name for month in soc.MONTHS}
    if unknown := [name for name in args.month if name not in names]:
        return _fail(
            f"no month {unknown[0]!r}; the months are {', '.join(sorted(names))}"
        )
    figures = soc.soc_benchmark(
        days=args.days, months=args.month, validation=args.validation
    )
    print(json.dumps(figures) if args.json else soc.format_soc_figures(figures))
    return 0


async def _bench(args: argparse.Namespace) -> int:
    """Run a benchmark and print its figures."""
    from eo_lab.benchmarks import polling as benchmarks  # noqa: PLC0415

    if args.benchmark == "report":
        from eo_lab.benchmarks import report  # noqa: PLC0415

        # Its own event loop runs the recorder that writes the year: a thread.
        report_figures = await asyncio.to_thread(report.report_benchmark)
        print(
            json.dumps(report_figures)
            if args.json
            else report.format_report_figures(report_figures)
        )
        return 0
    if args.benchmark == "loads":
        from eo_lab.benchmarks import loads_plan  # noqa: PLC0415

        if args.plans < 1 or args.hours < 1:
            return _fail("--plans and --hours must be at least 1")
        loads_figures = loads_plan.loads_plan_benchmark(
            plans=args.plans, hours=args.hours
        )
        print(
            json.dumps(loads_figures)
            if args.json
            else loads_plan.format_loads_plan_figures(loads_figures)
        )
        return 0
    if args.benchmark == "plan":
        from eo_lab.benchmarks import control  # noqa: PLC0415

        plan_figures = control.plan_benchmark()
        print(
            json.dumps(plan_figures)
            if args.json
            else control.format_plan_figures(plan_figures)
        )
        return 0
    if args.benchmark == "soc":
        return _bench_soc(args)
    if args.benchmark == "node":
        return await _bench_node(args)
    if (problem := _bench_problem(args)) is not None:
        return _fail(problem)
    if args.benchmark == "poll":
        figures = await benchmarks.poll_benchmark(polls=args.polls)
    else:
        figures = await benchmarks.scale_benchmark(
            devices=args.devices,
            gateways=args.gateways,
            cycles=args.cycles,
            interval=args.interval,
        )
    if args.json:
        print(json.dumps(figures))
    else:
        print(benchmarks.format_figures(figures))
    return 0


async def _bench_node(args: argparse.Namespace) -> int:
    """Run the node benchmark and print its figures."""
    from eo_lab.benchmarks import node  # noqa: PLC0415

    if not (1 <= args.nodes <= 50 and 1 <= args.components <= 50):
        return _fail("--nodes and --components must be 1-50")
    if not (0 < args.seconds <= 3600 and 0.2 <= args.interval <= 3600):
        return _fail("--seconds must be 0-3600 and --interval 0.2-3600")
    try:
        figures = await node.node_benchmark(
            nodes=args.nodes,
            components=args.components,
            seconds=args.seconds,
            interval=args.interval,
        )
    except RuntimeError as err:
        return _fail(str(err))
    print(json.dumps(figures) if args.json else node.format_node_figures(figures))
    return 0


def _date(text: str) -> date:
    """Parse a YYYY-MM-DD day for argparse."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a YYYY-MM-DD day") from None


def _report(args: argparse.Namespace) -> int:
    """Write a site's report from a recorder database; print what it holds."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # noqa: PLC0415

    from custom_components.energy_orchestrator.lib.reports.metrics import (  # noqa: PLC0415
        ReportSettings,
        Resolution,
    )
    from custom_components.energy_orchestrator.lib.reports.purchases import (  # noqa: PLC0415
        PurchasesError,
    )
    from custom_components.energy_orchestrator.lib.reports.statistics import (  # noqa: PLC0415
        ReportError,
        SiteEntities,
    )
    from eo_lab import report  # noqa: PLC0415 - SQLAlchemy only for this command

    try:
        tz = ZoneInfo(args.timezone)
    except ZoneInfoNotFoundError, ValueError, OSError:
        # OSError: a name longer than a file name can be.
        return _fail(f"unknown time zone {reprlib.repr(args.timezone)}")
    resolution = Resolution(args.resolution)
    try:
        entities = SiteEntities.parse(args.entities)
        first, last = report.period(args.first, args.last, tz)
        purchases = None
        if args.purchases is not None:
            purchases = Path(args.purchases).read_text(encoding="utf-8")
        made = report.make_report(
            args.db,
            entities,
            first=first,
            last=last,
            resolution=resolution,
            tz=tz,
            purchases_csv=purchases,
            settings=ReportSettings(
                max_hourly_kwh=args.max_hourly_kwh,
                supply_threshold=args.supply_threshold,
            ),
        )
    except PurchasesError as err:
        return _fail(f"{args.purchases}: {err}")
    except (ReportError, OSError) as err:
        return _fail(str(err))
    if args.out == "-":
        sys.stdout.write(made.csv)
        return 0
    report.write_whole(Path(args.out), made.csv)
    print(f"wrote {args.out}")
    for line in report.summary(made, resolution, tz):
        print(line)
    return 0


def _bench_problem(args: argparse.Namespace) -> str | None:
    """Return what makes a polling benchmark's options unusable, or None."""
    if args.benchmark == "poll":
        return None if args.polls >= 1 else "--polls must be at least 1"
    if args.gateways < 1 or args.devices < 1 or args.cycles < 1:
        return "--devices, --gateways and --cycles must be at least 1"
    if args.devices % args.gateways:
        return (
            f"--devices {args.devices} is not a multiple of --gateways {args.gateways}"
        )
    if args.devices // args.gateways > 247:
        return "at most 247 devices per gateway (Modbus unit ids 1-247)"
    if args.interval <= 0:
        return "--interval must be > 0"
    return None


def _fail(message: str) -> int:
    """Print one line about what went wrong; return the failure status."""
    print(f"eo: {message}", file=sys.stderr)
    return 1
