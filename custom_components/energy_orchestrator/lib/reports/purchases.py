"""Customers' purchases of energy, from a CSV file.

Energy on a mini-grid is bought ahead: a row says that a customer bought so
many Wh (or an amount at a tariff) at a time, valid until a time. The file
has a header naming its columns:

- ``customer_id`` and ``time`` (ISO 8601; without an offset, the site's time
  zone), always;
- ``energy_wh``, or ``amount`` and ``tariff_per_kwh`` (the energy is
  amount / tariff);
- optionally ``valid_until`` (ISO 8601) or ``valid_days``; without either, a
  purchase is valid for ``DEFAULT_VALIDITY``.

A file with any bad row is refused whole, each bad row named by its line.
Rows repeated (the same customer, time and energy) count once.
"""

from collections.abc import Iterable
import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
import io

DEFAULT_VALIDITY = timedelta(days=30)
# How many bad rows an error lists before it says how many more there are.
ERRORS_LISTED = 10

_REQUIRED = ("customer_id", "time")


class PurchasesError(ValueError):
    """A purchases file that cannot be read; ``errors`` are (line, message)."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        """Keep the errors and say them in one message."""
        self.errors = errors
        listed = "; ".join(
            f"line {line}: {message}" for line, message in errors[:ERRORS_LISTED]
        )
        more = len(errors) - ERRORS_LISTED
        super().__init__(listed + (f"; and {more} more" if more > 0 else ""))


@dataclass(frozen=True, order=True)
class Purchase:
    """Energy a customer bought, and until when it may be used."""

    time: datetime
    customer_id: str
    energy_kwh: float
    valid_until: datetime

    def key(self) -> tuple[str, str, float]:
        """Return what makes two rows the same purchase."""
        return (self.customer_id, self.time.isoformat(), round(self.energy_kwh, 9))

    def as_row(self) -> dict[str, str]:
        """Return the purchase as a row of the file format (for storage)."""
        return {
            "customer_id": self.customer_id,
            "time": self.time.isoformat(),
            "energy_wh": repr(self.energy_kwh * 1000),
            "valid_until": self.valid_until.isoformat(),
        }


@dataclass(frozen=True)
class Purchases:
    """The purchases read, in time order, and how many repeated rows were dropped."""

    purchases: tuple[Purchase, ...]
    duplicates: int = 0

    def merged(self, other: Purchases) -> Purchases:
        """Return these and another file's purchases, each purchase once."""
        return dedupe([*self.purchases, *other.purchases], self.duplicates)


def dedupe(purchases: Iterable[Purchase], duplicates: int = 0) -> Purchases:
    """Return the purchases each once, in time order, counting the repeats."""
    unique: dict[tuple[str, str, float], Purchase] = {}
    for purchase in purchases:
        if purchase.key() in unique:
            duplicates += 1
        else:
            unique[purchase.key()] = purchase
    return Purchases(tuple(sorted(unique.values())), duplicates)


def _moment(text: str, tz: tzinfo) -> datetime:
    """Parse an ISO 8601 time; one without an offset is in the site's zone."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def _number(row: dict[str, str], column: str) -> float:
    """Return a column's positive number, or raise ValueError saying which."""
    text = (row.get(column) or "").strip()
    if not text:
        raise ValueError(f"{column} is empty")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{column} {text!r} is not a positive number")
    return value


def _energy_kwh(row: dict[str, str], columns: set[str]) -> float:
    """Return a row's energy: its energy_wh, or its amount at its tariff."""
    if "energy_wh" in columns and (row.get("energy_wh") or "").strip():
        return _number(row, "energy_wh") / 1000
    if {"amount", "tariff_per_kwh"} <= columns:
        tariff = _number(row, "tariff_per_kwh")
        if tariff == 0:
            raise ValueError("tariff_per_kwh is 0")
        return _number(row, "amount") / tariff
    raise ValueError("neither energy_wh nor amount and tariff_per_kwh given")


def _purchase(row: dict[str, str], columns: set[str], tz: tzinfo) -> Purchase:
    """Return one row's purchase, or raise ValueError saying what is wrong."""
    customer_id = (row.get("customer_id") or "").strip()
    if not customer_id:
        raise ValueError("customer_id is empty")
    try:
        time = _moment(row.get("time") or "", tz)
    except ValueError:
        raise ValueError(f"time {row.get('time')!r} is not an ISO 8601 time") from None
    energy_kwh = _energy_kwh(row, columns)
    valid_until = time + DEFAULT_VALIDITY
    if (text := (row.get("valid_until") or "").strip()) != "":
        try:
            valid_until = _moment(text, tz)
        except ValueError:
            raise ValueError(f"valid_until {text!r} is not an ISO 8601 time") from None
    elif (row.get("valid_days") or "").strip():
        valid_until = time + timedelta(days=_number(row, "valid_days"))
    if valid_until < time:
        raise ValueError("valid_until is before time")
    return Purchase(time, customer_id, energy_kwh, valid_until)


def parse_purchases(text: str, tz: tzinfo) -> Purchases:
    """Read a purchases CSV; raise PurchasesError naming every bad line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=None))
    try:
        return _read_rows(reader, tz)
    except csv.Error as err:
        # A field past the csv module's limit (128 KiB): the line being read.
        raise PurchasesError([(reader.line_num + 1, f"not CSV: {err}")]) from None


def _read_rows(reader: csv.DictReader[str], tz: tzinfo) -> Purchases:
    """Read the rows after the header; raise PurchasesError naming every bad line."""
    columns = {name.strip() for name in reader.fieldnames or ()}
    missing = [name for name in _REQUIRED if name not in columns]
    if not {"energy_wh"} <= columns and not {"amount", "tariff_per_kwh"} <= columns:
        missing.append("energy_wh (or amount and tariff_per_kwh)")
    if missing:
        raise PurchasesError([(1, f"the header lacks {', '.join(missing)}")])
    purchases: list[Purchase] = []
    errors: list[tuple[int, str]] = []
    for raw in reader:
        row = {(key or "").strip(): value for key, value in raw.items()}
        if None in raw:
            errors.append((reader.line_num, "more fields than the header names"))
            continue
        if not any((value or "").strip() for value in row.values()):
            continue
        try:
            purchases.append(_purchase(row, columns, tz))
        except ValueError as err:
            errors.append((reader.line_num, str(err)))
        except OverflowError:
            # A time at the calendar's edge, or a validity past it.
            errors.append((reader.line_num, "a time or validity is out of range"))
    if errors:
        raise PurchasesError(errors)
    return dedupe(purchases)


def purchases_csv(purchases: Purchases) -> str:
    """Return purchases as a CSV file this module reads back to the same."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, ["customer_id", "time", "energy_wh", "valid_until"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(purchase.as_row() for purchase in purchases.purchases)
    return out.getvalue()
