"""Command line: ``python -m retrieval index | search | status``.

A thin layer over ``Engine``: library errors become one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from ..errors import IndexMismatchError, QueryError, RetrievalError, SourceError

if TYPE_CHECKING:  # imported in make_engine: --help and bad arguments stay fast
    from ..engine import Engine
    from ..store.snapshot import IndexSnapshot

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Semantic search and question answering over news articles.")

IndexDir = Annotated[Optional[Path], typer.Option("--index-dir", help="index folder")]
SourceDir = Annotated[Optional[Path], typer.Option("--source", help="folder of articles")]


def make_engine(index_dir: Path | None = None, source: Path | None = None, **extra) -> Engine:
    from pydantic import ValidationError

    from ..config import Settings
    from ..engine import Engine

    overrides = {k: v for k, v in
                 {"index_dir": index_dir, "source_dir": source, **extra}.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        first = err.errors()[0]
        raise RetrievalError(
            f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None
    return Engine(settings)


@contextmanager
def _progress_bar() -> Iterator:
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="chunk" if stage ==
                                     "embedding" else "step", file=sys.stderr, leave=True)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()


@app.command()
def index(rebuild: Annotated[bool, typer.Option(help="discard the index and build anew")] = False,
          rebuild_if_incompatible: Annotated[bool, typer.Option(
              help="rebuild, saying so, when the index was built with another model, schema "
                   "or chunker (a corrupt index is still refused)")] = False,
          source: SourceDir = None, index_dir: IndexDir = None) -> None:
    """Build or update the index: embeds only added or changed files."""
    engine = make_engine(index_dir, source)
    with _progress_bar() as progress:
        try:
            report = engine.update_index(rebuild=rebuild, progress=progress)
        except IndexMismatchError as err:
            if not rebuild_if_incompatible:
                raise
            typer.echo(f"rebuilding: {err}", err=True)
            report = engine.update_index(rebuild=True, progress=progress)
    for problem in report.problems:
        typer.echo(f"skipped {problem}", err=True)
    typer.echo(report.summary())


@app.command()
def status(source: SourceDir = None, index_dir: IndexDir = None) -> None:
    """Say whether the index exists and is fresh, file by file."""
    engine = make_engine(index_dir, source)
    st = engine.status()
    if not st.exists:
        typer.echo(f"no index in {engine.store.root}/; build it with `python -m retrieval index`")
        raise typer.Exit(1)
    if st.problem:
        raise RetrievalError(st.problem)
    m = st.manifest
    if m is None:  # st.exists and no problem imply a manifest; say so if not
        raise RetrievalError(f"the index in {engine.store.root}/ has no manifest; rebuild it "
                             "with `python -m retrieval index --rebuild`")
    counts = ", ".join(f"{v} {k}" for k, v in m.counts.items())
    typer.echo(f"index {engine.store.root}/ built {m.built_at} with {m.model}: {counts}")
    for label, names in (("added", st.added), ("changed", st.changed), ("deleted", st.deleted)):
        for name in names:
            typer.echo(f"stale: {name} {label} since the build")
    typer.echo("fresh" if st.fresh else "stale: run `python -m retrieval index`")


def _read_questions(path: Path) -> list[dict]:
    from ..eval.metrics import read_jsonl

    return read_jsonl(path, what="questions file", keys=("id", "question"))


@app.command()
def search(query: Annotated[Optional[str], typer.Argument(help="what to look for")] = None,
           k: Annotated[int, typer.Option("-k", help="number of passages")] = 10,
           doc: Annotated[Optional[list[str]],
                          typer.Option("--doc", help="only this document")] = None,
           batch: Annotated[Optional[Path], typer.Option(help="JSONL of id/question")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
           index_dir: IndexDir = None) -> None:
    """Find passages by meaning and keywords."""
    engine = make_engine(index_dir)
    if batch is not None:
        for row in _read_questions(batch):
            passages = engine.search(row["question"], k, doc)
            typer.echo(json.dumps({"id": row["id"], "question": row["question"],
                                   "passages": [p.to_dict() for p in passages]},
                                  ensure_ascii=False))
        return
    if query is None:
        raise QueryError("no query given; pass one, e.g. retrieval search \"trade with Peru\"")
    passages = engine.search(query, k, doc)
    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in passages], ensure_ascii=False, indent=2))
        return
    if not passages:
        typer.echo("no results")
    snap = engine.snapshot()
    for p in passages:
        typer.echo(f"[{p.rank}] {p.score:.4f}  {p.doc} {snap.place(p.doc, *p.paragraphs)}  "
                   f"{p.title}")
        typer.echo("    " + " ".join(p.text.split())[:300])


bench_app = typer.Typer(no_args_is_help=True, help="Public benchmarks: BEIR and SQuAD.")
app.add_typer(bench_app, name="bench")
BenchIndex = Annotated[Optional[Path], typer.Option(
    "--index-dir", help="index folder (default: a temporary folder, deleted afterwards)")]


@contextmanager
def _bench_dirs(index_dir: Path | None) -> Iterator[tuple[Path, Path]]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="retrieval-bench-") as tmp:
        yield Path(tmp), (index_dir or Path(tmp) / "index")


@bench_app.command("beir")
def bench_beir(folder: Annotated[Path, typer.Argument(help="BEIR dataset folder")],
               split: Annotated[str, typer.Option(help="qrels split to score")] = "test",
               index_dir: BenchIndex = None) -> None:
    """Index corpus.jsonl, run the split's queries: nDCG@10, recall@100, index time, QPS."""
    from ..eval import benchmarks

    data = benchmarks.load_beir(folder, split)
    with _bench_dirs(index_dir) as (tmp, index):
        engine = make_engine(index, benchmarks.corpus_folder(data.corpus, tmp))
        result = benchmarks.bench_beir(engine, data)
    typer.echo(json.dumps({"dataset": folder.name, "split": split, **result}, indent=2))


@bench_app.command("squad")
def bench_squad(file: Annotated[Path, typer.Argument(help="SQuAD v1.1 JSON file")],
                sample: Annotated[int, typer.Option(help="questions to sample")] = 2000,
                seed: Annotated[int, typer.Option(help="sampling seed")] = 13,
                index_dir: BenchIndex = None) -> None:
    """Open retrieval over every paragraph: paragraph recall@1 and recall@5."""
    from ..eval import benchmarks

    with _bench_dirs(index_dir) as (tmp, index):
        data = benchmarks.load_squad(file, tmp, sample, seed)
        engine = make_engine(index, data.corpus.parent)
        seconds = benchmarks.index_corpus(engine)
        queries = {q["id"]: q["question"] for q in data.questions}
        rankings, qps = benchmarks.run_rankings(benchmarks.engine_ranker(engine, 20), queries)
    typer.echo(json.dumps({"paragraphs": data.paragraphs, "questions": len(data.questions),
                           "seed": seed, **benchmarks.squad_recall(rankings, data.questions),
                           "index_seconds": round(seconds, 2),
                           "queries_per_second": round(qps, 2)}, indent=2))


@app.command()
def ask(question: Annotated[Optional[str], typer.Argument(help="the question")] = None,
        k: Annotated[int, typer.Option("-k", help="passages to return (at least 10 in "
                                                  "--batch)")] = 10,
        doc: Annotated[Optional[list[str]],
                       typer.Option("--doc", help="only this document")] = None,
        batch: Annotated[Optional[Path], typer.Option(help="JSONL of id/question; writes "
                                                           "results lines")] = None,
        out: Annotated[Optional[Path], typer.Option("--out", help="write --batch results "
                                                                  "here, not stdout")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
        llm: Annotated[Optional[str], typer.Option(
            "--llm", help="chat model name at an OpenAI-compatible endpoint (default: "
                          "RETRIEVAL_LLM_MODEL if set, else the extractive answerer)")] = None,
        llm_url: Annotated[Optional[str], typer.Option(
            "--llm-url", help="endpoint base URL (default: RETRIEVAL_LLM_BASE_URL)")] = None,
        extractive: Annotated[bool, typer.Option(
            "--extractive", help="never use an LLM, even if RETRIEVAL_LLM_MODEL is set")] = False,
        index_dir: IndexDir = None) -> None:
    """Answer a question from the articles, citing the paragraphs; or say they don't say."""
    from ..config import LLMSettings

    engine = make_engine(index_dir)
    chat = None
    if not extractive and (llm or LLMSettings.endpoint().model):
        from ..answer.llm import LLMConfig

        chat = LLMConfig.from_env(model=llm, base_url=llm_url)
    if batch is not None:
        _ask_batch(engine, batch, out, max(k, 10), doc, chat)
        return
    if question is None:
        raise QueryError("no question given; pass one, e.g. retrieval ask \"Who visited Peru?\"")
    answer = engine.ask(question, k=k, docs=doc, llm=chat)
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    _print_answer(answer, engine.snapshot())


def _ask_batch(engine: Engine, batch: Path, out: Path | None, k: int,
               docs: list[str] | None, chat) -> None:
    rows = _read_questions(batch)
    lines = [json.dumps(engine.ask(row["question"], k=k, docs=docs, llm=chat)
                        .to_dict(str(row["id"])), ensure_ascii=False) for row in rows]
    if out is None:
        for line in lines:
            typer.echo(line)
        return
    from ..store.durable import atomic_write_bytes

    atomic_write_bytes(out, ("\n".join(lines) + "\n").encode("utf-8"))
    typer.echo(f"wrote {len(lines)} results to {out}", err=True)


def _print_answer(answer, snap: IndexSnapshot) -> None:
    if answer.rewritten:
        typer.echo(f"(searched for: {answer.query})")
    typer.echo(answer.text)
    if answer.notice:
        typer.echo(f"note: {answer.notice}")
    for c in answer.citations:
        typer.echo(f"[{c.n}] {c.doc} {snap.place(c.doc, c.paragraph)}  {c.title}")
        typer.echo(f"    “{' '.join(c.quote.split())}”")
    if answer.abstained:
        for p in answer.passages[:3]:
            typer.echo(f"  closest: {p.doc} {snap.place(p.doc, *p.paragraphs)}  "
                       f"{' '.join(p.text.split())[:160]}")


@app.command("eval")
def eval_(questions: Annotated[Path, typer.Argument(help="question set, e.g. "
                                                          "../shared/eval/dev.jsonl")],
          results: Annotated[Optional[Path], typer.Option(
              "--results", help="results JSONL to score (default: run `ask` on every question)")]
          = None,
          k: Annotated[int, typer.Option("-k", help="passages per question")] = 10,
          index_dir: IndexDir = None) -> None:
    """Score answers and passages with the definitions of ../shared/eval/score.py; prints JSON."""
    from ..eval.metrics import read_jsonl, score

    rows = read_jsonl(questions)
    for line_no, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not {"id", "question", "kind"} <= row.keys():
            raise SourceError(f"{questions}: row {line_no} lacks id, question or kind; "
                              "pass a question set like eval/dev.jsonl")
    if results is not None:
        found = read_jsonl(results)
    else:
        engine = make_engine(index_dir)
        found = [engine.ask(row["question"], k=max(k, 10)).to_dict(str(row["id"]))
                 for row in rows]
    typer.echo(json.dumps(score(rows, found), indent=2))


def main() -> None:
    from ..environment import set_offline_environment

    set_offline_environment()
    try:
        app()
    except RetrievalError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
