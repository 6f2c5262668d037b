"""What a user reads: a flow's error and abort keys, rendered from strings.json.

A key the code sends but strings.json lacks shows the user a bare key; the
lookups here fail the test instead.
"""

from collections.abc import Mapping
import json
from pathlib import Path
from typing import Any

STRINGS: dict[str, Any] = json.loads(
    (
        Path(__file__).parents[2]
        / "custom_components"
        / "energy_orchestrator"
        / "strings.json"
    ).read_text()
)


def _texts(section: tuple[str, ...], kind: str) -> dict[str, str]:
    """Return the texts of one kind ("error", "abort") of a part of strings.json."""
    texts: dict[str, Any] = STRINGS
    for key in (*section, kind):
        texts = texts[key]
    return texts


def errors_shown(
    result: Mapping[str, Any], section: tuple[str, ...] = ("config",)
) -> dict[str, str]:
    """Return each field's error as the text the form shows.

    ``section`` is where the flow's texts live: ("config",), ("options",) or
    ("config_subentries", "battery").
    """
    texts = _texts(section, "error")
    placeholders = result.get("description_placeholders") or {}
    return {
        field: texts[key].format(**placeholders)
        for field, key in result["errors"].items()
    }


def abort_shown(
    result: Mapping[str, Any], section: tuple[str, ...] = ("config",)
) -> str:
    """Return the text the user reads when the flow aborts."""
    text: str = _texts(section, "abort")[result["reason"]]
    return text


def issue_shown(issue: Any) -> tuple[str, str]:
    """Return the title and the text a repair issue shows, filled in.

    A fixable issue shows its repair flow's first step; an informative one
    its description.
    """
    texts = STRINGS["issues"][issue.translation_key]
    placeholders = issue.translation_placeholders or {}
    text = (
        next(iter(texts["fix_flow"]["step"].values()))["description"]
        if issue.is_fixable
        else texts["description"]
    )
    return texts["title"].format(**placeholders), text.format(**placeholders)
