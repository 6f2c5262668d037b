"""scripts/backtest_profiles.py in a clone without the third-party profiles."""

from pathlib import Path
import shutil
import subprocess
import sys

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "backtest_profiles.py"


def test_missing_profiles_are_one_line_and_status_1(tmp_path: Path) -> None:
    """It reads ../shared/data beside the clone; a clone alone has none."""
    clone = tmp_path / "clone" / "scripts"
    clone.mkdir(parents=True)
    shutil.copy(SCRIPT, clone)
    result = subprocess.run(
        [sys.executable, str(clone / SCRIPT.name), "--ev"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    missing = tmp_path / "shared" / "data" / "profiles" / "emhass"
    assert result.stderr.startswith(
        "backtest_profiles.py: the measured profiles are not in the repository"
        f" and {missing}/"
    )
    assert "docs/benchmarks.md#the-measured-profiles" in result.stderr
