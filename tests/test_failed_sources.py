"""A file the index cannot read is listed with its reason and does not make the index stale."""

from __future__ import annotations

from retrieval import Engine, FakeEmbedder, Settings


def _engine(tmp_path, files: dict[str, bytes]) -> Engine:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, data in files.items():
        (corpus / name).write_bytes(data)
    return Engine(Settings(source_dir=corpus, index_dir=tmp_path / "index"),
                  embedder=FakeEmbedder())


def test_a_file_that_fails_is_listed_not_stale(tmp_path):
    engine = _engine(tmp_path, {"good.txt": b"Port\n\nShips arrive weekly.\n",
                                "bad.jsonl": b'{"_id": "a", "text": "x"}\nnot json\n'})
    report = engine.update_index()
    assert report.added == ["good.txt"] and report.problems[0].startswith("bad.jsonl: line 2")
    status = engine.status()
    assert status.fresh and status.added == []
    assert list(status.failed) == ["bad.jsonl"] and "line 2" in status.failed["bad.jsonl"]
    again = engine.update_index()
    assert not again.written and "up to date" in again.summary()
    # fixed: now it is added, and indexed by the next update
    (engine.source_dir / "bad.jsonl").write_bytes(b'{"_id": "a", "text": "Cranes."}\n')
    assert engine.status().added == ["bad.jsonl"] and not engine.status().failed
    engine.update_index()
    assert engine.status().fresh and not engine.status().failed


def test_a_file_that_starts_failing_is_recorded_by_the_next_update(tmp_path):
    engine = _engine(tmp_path, {"good.txt": b"Port\n\nShips arrive weekly.\n"})
    engine.update_index()
    (engine.source_dir / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    assert engine.status().added == ["scan.txt"]
    report = engine.update_index()
    assert report.written and report.problems[0].startswith("scan.txt: is a PNG image")
    assert engine.status().fresh and list(engine.status().failed) == ["scan.txt"]


def test_notices_reach_the_update_report(tmp_path):
    engine = _engine(tmp_path, {"menu.html": b"<html><body><ul><li>Harbor news</li>"
                                              b"<li>Ship arrivals</li></ul></body></html>"})
    report = engine.update_index()
    assert report.notices and report.notices[0].startswith("menu.html: no main article text")
