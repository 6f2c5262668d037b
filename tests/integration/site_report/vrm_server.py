"""A local server that replays Victron VRM's API for the site report's backfill.

The answers have the shapes of VRM's API v2 as the victron-vrm library reads
them and as VRM's published API reference (the library's repository keeps a
copy) describes them: ``GET users/me`` (``success``, ``user``), ``GET
users/{idUser}/installations?idSite=`` (``success``, ``records`` of sites),
``GET installations/{idSite}/stats?type=kwh&interval=hours`` (``success``,
``records`` and ``totals`` by flow code: ``[[ms, kWh], ...]`` or ``false``
when the flow has no data), and the errors' ``success``/``errors``/
``error_code``.

The site is an off-grid mini-grid: PV to the consumers and the battery, the
battery to the consumers, no grid and no generator (their flows are
``false``). It was added to VRM on 10 January 2026 at 05:17 UTC; its GX
device was offline on 11 January from 10:00 to 12:59 UTC, and from 13
January to 17 March (VRM has no record of those hours: a whole window of
31 days has none).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

TOKEN = "a" * 64
USER_ID = 22
SITE_ID = 151734
CREATED = datetime(2026, 1, 10, 5, 17, tzinfo=UTC)
OFFLINE = (
    (datetime(2026, 1, 11, 10, tzinfo=UTC), datetime(2026, 1, 11, 13, tzinfo=UTC)),
    (datetime(2026, 1, 13, tzinfo=UTC), datetime(2026, 3, 18, tzinfo=UTC)),
)
FLOWS = ("Pc", "Pb", "Pg", "Bc", "Bg", "Gc", "Gb", "gc", "gb")


def flows_at(moment: datetime) -> dict[str, float]:
    """Return the site's kWh per flow in the UTC hour starting at ``moment``."""
    sun = 6 <= moment.hour < 15  # nine hours
    evening = 16 <= moment.hour < 22  # six hours
    return {
        "Pc": 1.0 if sun else 0.0,
        "Pb": 0.5 if sun else 0.0,
        "Bc": 0.4 if evening else 0.0,
    }


def site_hours(first: datetime, end: datetime) -> Iterator[datetime]:
    """Return the hours from first up to end that VRM has a record of."""
    moment = first
    while moment < end:
        if moment >= CREATED.replace(minute=0) and not any(
            start <= moment < end for start, end in OFFLINE
        ):
            yield moment
        moment += timedelta(hours=1)


@dataclass
class VrmReplay:
    """What the server answers, and the stats requests it was asked."""

    token: str = TOKEN
    # Stats requests answered with these statuses first, in order.
    stats_failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    # From the nth stats request on, answer 503 (None: never).
    down_from: int | None = None
    stats_requests: list[tuple[datetime, datetime]] = field(default_factory=list)
    stats_answered: int = 0

    def refused(self, request: web.Request) -> web.Response | None:
        """Return VRM's 401 for a token it does not know."""
        if request.headers.get("X-Authorization") == f"Token {self.token}":
            return None
        return web.json_response(
            {"success": False, "errors": "Token is invalid", "error_code": None},
            status=401,
        )

    async def me(self, request: web.Request) -> web.Response:
        """Answer ``users/me``."""
        if (refusal := self.refused(request)) is not None:
            return refusal
        return web.json_response(
            {
                "success": True,
                "user": {
                    "id": USER_ID,
                    "name": "Mini-grid operator",
                    "email": "operator@example.com",
                    "country": "KE",
                },
            }
        )

    async def installations(self, request: web.Request) -> web.Response:
        """Answer ``users/{idUser}/installations``: the site, or none."""
        if (refusal := self.refused(request)) is not None:
            return refusal
        wanted = request.query.get("idSite")
        records = [] if wanted not in (None, str(SITE_ID)) else [_site()]
        return web.json_response({"success": True, "records": records})

    async def stats(self, request: web.Request) -> web.Response:
        """Answer ``installations/{idSite}/stats`` with the hours asked for."""
        if (refusal := self.refused(request)) is not None:
            return refusal
        assert request.query["type"] == "kwh"
        assert request.query["interval"] == "hours"
        first = datetime.fromtimestamp(int(request.query["start"]), UTC)
        end = datetime.fromtimestamp(int(request.query["end"]), UTC)
        if self.stats_failures:
            status, headers = self.stats_failures.pop(0)
            return web.json_response(
                {"success": False, "errors": "Too many requests", "error_code": None},
                status=status,
                headers=headers,
            )
        if self.down_from is not None and self.stats_answered >= self.down_from:
            return web.json_response(
                {"success": False, "errors": "Service unavailable", "error_code": None},
                status=503,
            )
        self.stats_requests.append((first, end))
        self.stats_answered += 1
        # VRM serves at most 31 days of hours a request.
        if end - first > timedelta(days=31):
            return web.json_response(
                {"success": False, "errors": "Period too long", "error_code": None},
                status=400,
            )
        return web.json_response(_kwh_stats(first, end))


def _kwh_stats(first: datetime, end: datetime) -> dict[str, Any]:
    """Return VRM's kWh stats of the hours in [first, end]."""
    records: dict[str, list[list[float]]] = {}
    for moment in site_hours(first, end + timedelta(seconds=1)):
        for code, kwh in flows_at(moment).items():
            records.setdefault(code, []).append([moment.timestamp() * 1000, kwh])
    return {
        "success": True,
        "records": {code: records.get(code, False) for code in FLOWS},
        "totals": {
            code: sum(point[1] for point in records[code]) if code in records else False
            for code in FLOWS
        },
    }


def _site() -> dict[str, Any]:
    """Return the site as ``users/{idUser}/installations`` lists it."""
    return {
        "idSite": SITE_ID,
        "accessLevel": 1,
        "owner": True,
        "is_admin": True,
        "name": "Village grid",
        "identifier": "c0619ab1f2e3",
        "idUser": USER_ID,
        "pvMax": 6000,
        "timezone": "Africa/Nairobi",
        "phonenumber": None,
        "notes": None,
        "geofence": None,
        "geofenceEnabled": False,
        "realtimeUpdates": True,
        "hasMains": 0,
        "hasGenerator": 0,
        "noDataAlarmTimeout": None,
        "alarmMonitoring": 1,
        "invalidVRMAuthTokenUsedInLogRequest": 0,
        "syscreated": int(CREATED.timestamp()),
        "shared": False,
        "device_icon": "solar",
    }


async def start_vrm(replay: VrmReplay) -> tuple[web.AppRunner, str]:
    """Start the server on a free loopback port; return it and its API's base URL."""
    app = web.Application()
    app.router.add_get("/v2/users/me", replay.me)
    app.router.add_get(f"/v2/users/{USER_ID}/installations", replay.installations)
    app.router.add_get("/v2/installations/{site}/stats", replay.stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/v2/"
