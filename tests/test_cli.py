"""The command line: one-line errors with the fix, exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import sys

import pytest

from retrieval import Engine, FakeEmbedder, Settings
from retrieval.ui import cli


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["retrieval", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["search", "ports", "--index-dir", "{tmp}/none"],
     "error: no index in {tmp}/none/; build it with `python -m retrieval index`"),
    (["ask", "Who opened the port?", "--index-dir", "{tmp}/none"],
     "error: no index in {tmp}/none/; build it with `python -m retrieval index`"),
    (["index", "--source", "{tmp}/missing", "--index-dir", "{tmp}/i"],
     "error: source folder {tmp}/missing does not exist; create it or pass --source DIR"),
    (["search", "--batch", "{tmp}/q.jsonl", "--index-dir", "{tmp}/none"],
     "error: questions file {tmp}/q.jsonl does not exist; pass a .jsonl file"),
    (["search", "--index-dir", "{tmp}/none"],
     'error: no query given; pass one, e.g. retrieval search "trade with Peru"'),
])
def test_errors_are_one_line_with_the_fix(monkeypatch, capsys, tmp_path, args, message):
    code, out, err = run(monkeypatch, capsys, *[a.format(tmp=tmp_path) for a in args])
    assert code == 2
    assert err.strip() == message.format(tmp=tmp_path)
    assert "Traceback" not in err and out == ""


def test_bad_setting_from_the_environment(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RETRIEVAL_K", "0")
    code, _, err = run(monkeypatch, capsys, "status", "--index-dir", str(tmp_path))
    assert code == 2
    assert err.startswith("error: setting k: ") and "Currently, it is 0" in err
    assert len(err.strip().splitlines()) == 1


@pytest.fixture
def fake_cli(monkeypatch, tiny_corpus, tmp_path):
    """The CLI's engines use the fake embedder over the tiny corpus."""
    real_engine = cli.make_engine

    def make_engine(*args, **kwargs):
        engine = real_engine(*args, **kwargs)
        return Engine(engine.settings, embedder=FakeEmbedder())

    monkeypatch.setattr(cli, "make_engine", make_engine)
    monkeypatch.setenv("RETRIEVAL_SOURCE_DIR", str(tiny_corpus))
    monkeypatch.setenv("RETRIEVAL_INDEX_DIR", str(tmp_path / "index"))
    return tiny_corpus


def test_index_then_search_then_status(monkeypatch, capsys, fake_cli):
    code, out, _ = run(monkeypatch, capsys, "index")
    assert code == 0 and "4 added" in out
    code, out, _ = run(monkeypatch, capsys, "index")
    assert code == 0 and out.startswith("index is up to date: 4 files")
    code, out, _ = run(monkeypatch, capsys, "search", "robusta coffee", "-k", "2", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2 and rows[0]["doc"] == "coffee.txt"
    (fake_cli / "coffee.txt").unlink()
    code, out, _ = run(monkeypatch, capsys, "status")
    assert "stale: coffee.txt deleted since the build" in out


def test_search_batch_writes_results_lines(monkeypatch, capsys, fake_cli, tmp_path):
    run(monkeypatch, capsys, "index")
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "alpaca weight"}\n'
                         '{"id": "b", "question": "Chancay port"}\n', encoding="utf-8")
    code, out, _ = run(monkeypatch, capsys, "search", "--batch", str(questions), "-k", "3")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == ["a", "b"]
    assert all(len(r["passages"]) == 3 for r in rows)
    assert rows[1]["passages"][0]["doc"] == "ports.txt"


def test_settings_default_source_is_seeds():
    assert Settings().source_dir.name == "seeds"


def test_index_refuses_another_models_index_unless_asked_to_rebuild(
        monkeypatch, capsys, fake_cli):
    run(monkeypatch, capsys, "index")
    real_engine = cli.make_engine

    def other_model(*args, **kwargs):
        return Engine(real_engine(*args, **kwargs).settings, embedder=FakeEmbedder(dim=32))

    monkeypatch.setattr(cli, "make_engine", other_model)
    code, _, err = run(monkeypatch, capsys, "index")
    assert code == 2 and "rebuild with `python -m retrieval index --rebuild`" in err
    code, out, err = run(monkeypatch, capsys, "index", "--rebuild-if-incompatible")
    assert code == 0 and err.startswith("rebuilding: index was built with model fake-hash")
    assert "4 added" in out


def flip_a_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "delete"])
def test_status_names_a_corrupt_or_missing_index_file_and_the_rebuild(
        monkeypatch, capsys, fake_cli, tmp_path, damage):
    run(monkeypatch, capsys, "index")
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    path = tmp_path / "index" / manifest["generation"] / "vectors.npy"
    flip_a_byte(path) if damage == "flip" else path.unlink()
    code, out, err = run(monkeypatch, capsys, "status")
    what = "fails its checksum (corrupt)" if damage == "flip" else "is missing"
    assert (code, out) == (2, "")
    assert err == (f"error: index file {path} {what}; rebuild with "
                   "`python -m retrieval index --rebuild`\n")
    code, _, _ = run(monkeypatch, capsys, "index", "--rebuild")
    code, out, _ = run(monkeypatch, capsys, "status")
    assert code == 0 and out.splitlines()[-1] == "fresh"


@pytest.mark.parametrize("line, shape", [
    ("not json", "a JSON object with id and question"),
    ('["a", "b"]', "a JSON object with id and question"),
    ('{"id": "x"}', "a JSON object with id and question"),
])
def test_batch_questions_name_the_bad_line(monkeypatch, capsys, tmp_path, line, shape):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "alpaca weight"}\n\n' + line + "\n",
                         encoding="utf-8")
    code, out, err = run(monkeypatch, capsys, "search", "--batch", str(questions),
                         "--index-dir", str(tmp_path / "none"))
    assert (code, out) == (2, "")
    assert err == f"error: {questions}: line 3 is not {shape}; fix that line\n"


def test_eval_names_a_results_line_that_is_not_json(monkeypatch, capsys, tmp_path):
    questions, results = tmp_path / "q.jsonl", tmp_path / "r.jsonl"
    questions.write_text('{"id": "a", "question": "Who?", "kind": "fact"}\n', encoding="utf-8")
    results.write_text("{oops\n", encoding="utf-8")
    code, out, err = run(monkeypatch, capsys, "eval", str(questions), "--results", str(results))
    assert (code, out) == (2, "")
    assert err == f"error: {results}: line 1 is not valid JSON; fix that line\n"
    code, _, err = run(monkeypatch, capsys, "eval", str(tmp_path / "none.jsonl"))
    assert code == 2 and err == f"error: {tmp_path}/none.jsonl does not exist; pass a .jsonl file\n"


def test_main_sets_the_offline_environment_but_keeps_the_users_values(monkeypatch, capsys):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    code, out, _ = run(monkeypatch, capsys, "--help")
    assert code == 0 and "status" in out
    assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["TOKENIZERS_PARALLELISM"] == "true"


def test_a_pdf_is_cited_by_page_in_search_and_ask(monkeypatch, capsys, fake_cli):
    """The terminal names a PDF's paragraph as the page does ("p. 2 ¶ 1"), not by its
    number in the whole file."""
    from synthetic_docs import make_pdf, typeset

    pages = [*typeset(["Harbor report", "Cranes unload ships at the Valdoria quays."]),
             *typeset(["Dredgers deepen the Valdoria channel every winter for the ships."])]
    (fake_cli / "harbor.pdf").write_bytes(make_pdf(pages))
    assert run(monkeypatch, capsys, "index")[0] == 0
    code, out, _ = run(monkeypatch, capsys, "search", "dredgers deepen the Valdoria channel",
                       "--doc", "harbor.pdf")
    assert code == 0 and "harbor.pdf p. 1 ¶ 1 – p. 2 ¶ 1  Harbor report" in out  # one chunk
    assert "¶0" not in out
    code, out, _ = run(monkeypatch, capsys, "ask", "Who deepens the Valdoria channel?",
                       "--doc", "harbor.pdf")  # the fake embedder finds no answer
    assert code == 0 and "closest: harbor.pdf p. 1 ¶ 1 – p. 2 ¶ 1  Harbor report" in out
    snap = cli.make_engine().snapshot()  # what a citation of one paragraph prints
    assert snap.place("harbor.pdf", 2) == "p. 2 ¶ 1"
    assert snap.place("coffee.txt", 1) == "¶1" and snap.place("coffee.txt", 1, 2) == "¶1-2"
