"""Collects the figures of the stress runs and prints them at the end of `make stress`."""

from __future__ import annotations

import json

import pytest

FIGURES: dict[str, dict] = {}


@pytest.fixture
def record_figures():
    """``record_figures(name, **numbers)``: shown in the summary of the run."""

    def record(name: str, **numbers) -> None:
        FIGURES[name] = numbers

    return record


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("stress figures")
    for name, numbers in FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(numbers)}")
