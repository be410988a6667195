"""`import retrieval`, `--help`, `status` and error paths load no heavy package.

Each case runs in a fresh interpreter and reads ``sys.modules`` afterwards: a behaviour
check, not a timing (timings belong in ``make bench``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "sentence_transformers", "transformers", "langchain_core", "onnxruntime",
         "faiss", "bm25s")

PROBE = """
import json, sys
{body}
heavy = {heavy!r}
print(json.dumps(sorted(name for name in heavy if name in sys.modules)))
"""

RUN_CLI = """
sys.argv = ["retrieval", *{args!r}]
from retrieval.cli import main
try:
    main()
except SystemExit:
    pass
"""


def loaded_after(body: str, env: dict[str, str] | None = None) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``body``."""
    code = PROBE.format(body=body, heavy=HEAVY)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_retrieval_loads_no_heavy_package():
    assert loaded_after("import retrieval") == []


def test_public_names_still_import_on_demand():
    body = ("from retrieval import Engine, LangChainRetriever, Settings, IndexStore, "
            "SentenceTransformerEmbedder, load_folder, RetrievalError\n"
            "import retrieval\n"
            "assert set(retrieval.__all__) <= set(dir(retrieval))\n"
            "assert all(getattr(retrieval, name) for name in retrieval.__all__)")
    assert "langchain_core" in loaded_after(body)  # LangChainRetriever is a LangChain class


def test_unknown_name_is_an_attribute_error():
    import retrieval

    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        _ = retrieval.NoSuchThing


@pytest.mark.parametrize("args", [["--help"], ["status"], ["search", "--batch", "missing.jsonl"],
                                  ["bogus-command"], ["search", "alpaca wool"],
                                  ["ask", "Where do alpacas live?"]],
                         ids=["help", "status", "missing-batch", "unknown-command",
                              "search-without-index", "ask-without-index"])
def test_cli_help_status_and_errors_load_no_heavy_package(args, fake_engine, tmp_path):
    """status runs on a built index; the other errors on a folder with no index."""
    index = fake_engine.store.root if args == ["status"] else tmp_path / "no-index"
    env = {"RETRIEVAL_INDEX_DIR": str(index), "RETRIEVAL_SOURCE_DIR": str(fake_engine.source_dir)}
    assert loaded_after(RUN_CLI.format(args=args), env) == []


def test_status_in_a_subprocess_reports_fresh(fake_engine):
    env = {**os.environ, "RETRIEVAL_INDEX_DIR": str(fake_engine.store.root),
           "RETRIEVAL_SOURCE_DIR": str(fake_engine.source_dir)}
    proc = subprocess.run([sys.executable, "-m", "retrieval", "status"], capture_output=True,
                          text=True, timeout=120, env=env, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "fresh"


STAGES = ("load", "chunk", "embed", "index", "retrieve", "rerank", "answer", "engine")


def test_a_stage_never_imports_a_later_stage():
    """The layering docs/architecture.md promises: ingest → chunk → embed → index → retrieve →
    read → answer → engine, and resources, config and errors import no stage at all."""
    import re

    root = Path(__file__).resolve().parents[1] / "retrieval"

    def imported(module: str) -> set[str]:
        path = root / f"{module}.py"
        if not path.exists():
            path = root / module / "__init__.py"
        return set(re.findall(r"from \.+(\w+) import", path.read_text(encoding="utf-8")))

    for i, stage in enumerate(STAGES):
        assert not imported(stage) & set(STAGES[i + 1:]), stage
    for base in ("resources", "config", "errors"):
        assert not imported(base) & set(STAGES), base
