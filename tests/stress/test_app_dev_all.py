"""Every dev.jsonl question through the page (tests/dev_questions.py); a sample runs in
`make test` (tests/test_app_dev.py)."""

from __future__ import annotations

import pytest
from dev_questions import dev_rows, problems_asking, seed_page, skip_without_dev

pytestmark = [pytest.mark.slow, pytest.mark.integration, skip_without_dev()]
ROWS = dev_rows()


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_every_dev_question_through_the_page(seed_page, row):
    assert problems_asking(row["question"]) == []


__all__ = ["seed_page"]
