"""Ask dev.jsonl's questions through app.py with AppTest, on the seeds and the real model.

Not a test module: imported by tests/test_app_dev.py (a fixed sample) and
tests/stress/test_app_dev_all.py (all of them). The questions are a crash check only: a question
passes when its page run raises nothing and shows no "unexpected" error box, whatever it
answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


def dev_rows() -> list[dict]:
    """dev.jsonl's rows, or [] when the shared data is absent (the tests then skip)."""
    if not DEV.exists():
        return []
    return [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def skip_without_dev() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not DEV.exists(), reason=f"{DEV} is absent: the dev questions "
                              "come with the shared data (../shared/eval/dev.jsonl)")


@pytest.fixture(scope="module")
def seed_page(seed_engine, tmp_path_factory) -> Iterator[None]:
    """The app pointed at the session's copy of the seeds and its index, real model."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RETRIEVAL_CONVERSATION_DIR", str(tmp_path_factory.mktemp("conversations")))
        patch.setenv("RETRIEVAL_SOURCE_DIR", str(seed_engine.source_dir))
        patch.setenv("RETRIEVAL_INDEX_DIR", str(seed_engine.settings.index_dir))
        yield
    st.cache_resource.clear()


def problems_asking(question: str) -> list[str]:
    """Exceptions and "unexpected" error boxes of a fresh page asked ``question``, then
    redrawn once (a turn is drawn again on every later run)."""
    at = AppTest.from_file(APP, default_timeout=180).run()
    found = page_problems(at, "first run")
    at.chat_input[0].set_value(question).run()
    found += page_problems(at, "asking")
    turns = at.session_state.turns
    if not turns:
        found.append("asking: no turn was recorded")
    at.run()
    found += page_problems(at, "redraw")
    if not at.chat_input:
        found.append("redraw: the question box is gone")
    return found


def page_problems(at: AppTest, stage: str) -> list[str]:
    found = [f"{stage}: exception {e.value}" for e in at.exception]
    for box in at.error:
        text = box.value.replace("\\", "")
        if text.startswith("unexpected"):
            found.append(f"{stage}: {text}")
    return found
