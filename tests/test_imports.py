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
from retrieval.ui.cli import main
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


# The sub-packages in pipeline order (docs/architecture.md); the modules at the top of
# ``retrieval/`` beside them (types, config, errors, environment, once, resources) are the base
# every stage may use, and ``engine`` drives the stages for the page, the CLI and the API.
LAYERS = ("text", "ingest", "embed", "store", "search", "answer", "engine", "eval", "ui")
BASE = ("types", "config", "errors", "environment", "once", "resources")


def _imported_layers(path: Path, root: Path) -> set[str]:
    """The top-level parts of ``retrieval`` that ``path`` imports, lazily or not."""
    import ast

    from retrieval import _LAZY  # public name -> the module that defines it

    def first_part(names: list[str]) -> str:
        return _LAZY.get(names[0], names[0]).split(".")[0]

    package = path.relative_to(root.parent).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                parts = [*base[1:], *(node.module.split(".") if node.module else [])]
            elif (node.module or "").split(".")[0] == "retrieval":
                parts = (node.module or "").split(".")[1:]
            else:
                continue
            found.update([first_part(parts)] if parts
                         else [first_part([alias.name]) for alias in node.names])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("retrieval."))
    return found


def _layer(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_a_stage_never_imports_a_later_stage():
    """The layering docs/architecture.md promises: text → ingest → embed → store → search →
    answer → engine → eval and ui, and the base modules import no stage at all."""
    root = Path(__file__).resolve().parents[1] / "retrieval"
    checked = 0
    for path in sorted(root.rglob("*.py")):
        layer = _layer(path, root)
        if layer in ("__init__", "__main__"):
            continue
        imported = _imported_layers(path, root) - {layer}
        if layer in BASE:
            assert not imported & set(LAYERS), path
        else:
            later = LAYERS[LAYERS.index(layer) + 1:]
            assert not imported & set(later), (path, imported & set(later))
        checked += 1
    assert checked >= 40


def test_every_module_belongs_to_a_stage_or_the_base():
    root = Path(__file__).resolve().parents[1] / "retrieval"
    for path in root.rglob("*.py"):
        assert _layer(path, root) in {*LAYERS, *BASE, "__init__", "__main__"}, path
