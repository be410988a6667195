"""A fixed sample of 20 dev.jsonl questions through the page (tests/dev_questions.py);
`make stress` asks all of them (tests/stress/test_app_dev_all.py).

Ten of the sample cite one passage twice with the answerer of December 2026, which had
broken the page with a duplicate element key; the other ten are spread over the file.
"""

from __future__ import annotations

import pytest
from dev_questions import dev_rows, problems_asking, seed_page, skip_without_dev

pytestmark = [pytest.mark.integration, skip_without_dev()]
SAMPLE = ("e012 e019 e035 e036 e037 e041 e059 e062 e064 e068 "
          "e001 e010 e020 e030 e045 e050 e075 e080 e085 e090").split()
ROWS = [r for r in dev_rows() if r["id"] in SAMPLE]


def test_the_sample_is_in_dev():
    assert [r["id"] for r in ROWS] == sorted(SAMPLE)


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_dev_question_through_the_page(seed_page, row):
    assert problems_asking(row["question"]) == []


__all__ = ["seed_page"]
