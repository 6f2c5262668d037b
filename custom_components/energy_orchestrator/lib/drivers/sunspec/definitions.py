"""The official SunSpec model definitions, loaded from the package's JSON files.

The SunSpec Alliance publishes every information model as JSON (the files in
``models/`` are copies from pysunspec2, see the NOTICE there). A model is a
group of points, possibly with nested groups that repeat (the modules of the
multiple-MPPT model 160). Loading them here, instead of typing register
tables by hand, keeps offsets, types, scale factors and enumerations exactly
as the standard says.

Definitions are parsed once, when the module is imported.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
import json
from typing import Any

_MODELS_FOLDER = "models"


@dataclass(frozen=True, slots=True)
class PointDef:
    """One point of a group: where it sits and how to read it.

    ``offset`` counts registers from the start of the group instance. ``sf``
    names the scale factor point (looked up in the group, then in the groups
    around it) or is a fixed exponent. ``symbols`` maps enumeration values
    (or bit numbers of a bitfield) to their names.
    """

    name: str
    type: str
    size: int
    offset: int
    sf: str | int | None = None
    units: str | None = None
    writable: bool = False
    mandatory: bool = False
    symbols: Mapping[int, str] | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class GroupDef:
    """A group of points, and the groups nested in it.

    ``count`` says how often the group repeats inside its parent: None for
    once, a number, 0 for "as often as the model's length allows", or the
    name of a point that holds the count.
    """

    name: str
    points: tuple[PointDef, ...]
    groups: tuple[GroupDef, ...] = ()
    count: int | str | None = None

    @property
    def points_size(self) -> int:
        """Return how many registers the group's own points take."""
        return sum(point.size for point in self.points)

    def point(self, name: str) -> PointDef | None:
        """Return the group's own point called ``name``, if it has one."""
        return next((p for p in self.points if p.name == name), None)


@dataclass(frozen=True, slots=True)
class ModelDef:
    """A SunSpec model: its id, its name and its top-level group."""

    id: int
    label: str
    group: GroupDef


def _symbols(raw: list[dict[str, Any]] | None) -> Mapping[int, str] | None:
    """Return a point's symbols as value -> name."""
    if not raw:
        return None
    return {int(symbol["value"]): str(symbol["name"]) for symbol in raw}


def _group(raw: Mapping[str, Any]) -> GroupDef:
    """Build a group definition from its JSON, offsets included."""
    points: list[PointDef] = []
    offset = 0
    for point in raw.get("points", []):
        size = int(point["size"])
        sf = point.get("sf")
        points.append(
            PointDef(
                name=str(point["name"]),
                type=str(point["type"]),
                size=size,
                offset=offset,
                sf=sf if isinstance(sf, int | str) else None,
                units=point.get("units"),
                writable=point.get("access") == "RW",
                mandatory=point.get("mandatory") == "M",
                symbols=_symbols(point.get("symbols")),
                label=point.get("label"),
            )
        )
        offset += size
    count = raw.get("count")
    return GroupDef(
        name=str(raw["name"]),
        points=tuple(points),
        groups=tuple(_group(child) for child in raw.get("groups", [])),
        count=count if isinstance(count, int | str) else None,
    )


def _load_definitions() -> Mapping[int, ModelDef]:
    """Parse every model definition the package has, by model id."""
    definitions: dict[int, ModelDef] = {}
    for source in (resources.files(__package__) / _MODELS_FOLDER).iterdir():
        if not (source.name.startswith("model_") and source.name.endswith(".json")):
            continue
        raw = json.loads(source.read_text(encoding="utf-8"))
        group = raw["group"]
        definitions[int(raw["id"])] = ModelDef(
            id=int(raw["id"]),
            label=str(group.get("label") or group["name"]),
            group=_group(group),
        )
    return definitions


# Read when the module is imported (in Home Assistant, in its import
# executor): reading files in the event loop would block it, and all of
# them take a few tens of milliseconds.
_DEFINITIONS = _load_definitions()


def model_definition(model_id: int) -> ModelDef | None:
    """Return the definition of a model, or None when the package has none."""
    return _DEFINITIONS.get(model_id)


def known_models() -> frozenset[int]:
    """Return the ids of every model the package has a definition of."""
    return frozenset(_DEFINITIONS)
