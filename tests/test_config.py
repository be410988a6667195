"""Settings and the process environment each have one home (retrieval/config.py and
retrieval/environment.py); these tests hold the code and the docs to that."""

from __future__ import annotations

from pathlib import Path

from retrieval.environment import OFFLINE_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = ("retrieval/cli.py", "app.py", "bench/__main__.py", "bench/worker.py",
                "bench/ask_latency.py", "tests/conftest.py")


def _sources() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "retrieval").rglob("*.py")),
            *sorted((ROOT / "bench").rglob("*.py"))]


def test_the_offline_environment_is_set_in_one_function_that_every_entry_point_calls():
    named = [f"{path.relative_to(ROOT)}: {name}" for path in _sources()
             if path.name != "environment.py"
             for name in OFFLINE_ENVIRONMENT if f'"{name}"' in path.read_text(encoding="utf-8")]
    assert named == []
    for entry in ENTRY_POINTS:
        assert "set_offline_environment()" in (ROOT / entry).read_text(encoding="utf-8"), entry
