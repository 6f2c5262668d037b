"""The site report's recorder: the known month, as Home Assistant wrote it.

Importing the month through the recorder's API costs seconds per test. The
sample database of docs/eo.md is that month, written by Home Assistant's
recorder; the test marked ``fresh_recorder`` imports the month into an
empty database and checks that the sample still reports the same. Every
other test starts its recorder on a copy of the sample.
"""

from pathlib import Path
import shutil

import pytest

SAMPLE = Path(__file__).parents[3] / "eo_lab" / "samples" / "recorder_march_2026.db"


@pytest.fixture
def month_in_sample(request: pytest.FixtureRequest) -> bool:
    """Return whether the recorder starts with the month (a copy of the sample)."""
    return request.node.get_closest_marker("fresh_recorder") is None


@pytest.fixture
def recorder_db_url(month_in_sample: bool, tmp_path: Path) -> str:
    """Return the recorder's database: a copy of the sample, or an empty file."""
    database = tmp_path / "recorder" / "home-assistant_v2.db"
    database.parent.mkdir()
    if month_in_sample:
        shutil.copyfile(SAMPLE, database)
    return f"sqlite:///{database}"
