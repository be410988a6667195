"""``python -m bench [--only seeds,embed,beir,squad,reader,scale] [--quick]``.

Prints the comparison tables, writes bench/results.json and bench/report.md.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting make every faiss call crawl on a shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import datetime as dt
import json
import sys
import time
import traceback
from pathlib import Path

from bench.common import machine, run_worker
from bench.report import render
from retrieval.environment import set_offline_environment

set_offline_environment()  # before any section loads a model library

SECTIONS = ("seeds", "embed", "beir", "squad", "reader", "scale")
HERE = Path(__file__).resolve().parent


def run_seeds(quick: bool, repeats: int) -> dict:
    flags = ["--repeats", str(repeats)] + (["--quick"] if quick else [])
    return {"ours_onnx": run_worker(["ours", "--backend", "onnx", *flags]),
            "ours_torch": run_worker(["ours", "--backend", "torch", *flags]),
            "langchain": run_worker(["langchain", *flags], torch_defaults=True)}


def run_embed(quick: bool, repeats: int) -> dict:
    # the plain baseline and ours share one process (interleaved passes); ONNX Runtime does
    # not use OpenMP, so only the torch contenders see the setting
    return run_worker(["embed", "--repeats", str(repeats)] + (["--quick"] if quick else []),
                      torch_defaults=True)


def run_scale(quick: bool, repeats: int) -> dict:
    from bench import scale

    return scale.run(quick)


# SciFact and SQuAD embed every sentence of their 15,226 and ~2,100 chunks. They run on the
# backend given here (--public-backend): the library's default, int8 ONNX, unless asked.
PUBLIC_BACKEND = "onnx"
# Per-question answers of the squad and reader sections (bench/out/ is not committed); --out.
OUT_DIR = HERE / "out"


def _public_embedder():
    from retrieval.embed.embedder import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(backend=PUBLIC_BACKEND)


def run_beir(quick: bool, repeats: int) -> dict:
    from bench import public

    return public.scifact(quick, embedder=_public_embedder())


def run_squad(quick: bool, repeats: int) -> dict:
    from bench import public

    return public.squad(quick, embedder=_public_embedder(), out=OUT_DIR)


def run_reader(quick: bool, repeats: int) -> dict:
    from bench import reader

    return reader.run(quick, embedder=_public_embedder(), out=OUT_DIR)


RUNNERS = {"seeds": run_seeds, "embed": run_embed, "scale": run_scale, "beir": run_beir,
           "squad": run_squad, "reader": run_reader}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes for development (figures not comparable)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (median/p95)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for results and report")
    parser.add_argument("--public-backend", choices=("torch", "onnx", "onnx-fp32"),
                        default=PUBLIC_BACKEND,
                        help="embedding backend for SciFact, SQuAD and the reader section")
    args = parser.parse_args(argv)
    globals()["PUBLIC_BACKEND"] = args.public_backend
    globals()["OUT_DIR"] = args.out / "out"
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    results: dict = {"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                     "quick": args.quick, "machine": machine(), "sections": {}, "seconds": {}}
    failed = False
    report = ""
    for name in chosen:
        print(f"== {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            results["sections"][name] = RUNNERS[name](args.quick, args.repeats)
            failed |= any(isinstance(part, dict) and "error" in part  # a part of it failed
                          for part in results["sections"][name].values())
        except Exception as err:  # one broken section must not lose the others' figures
            failed = True
            results["sections"][name] = {"error": f"{type(err).__name__}: {err}"}
            traceback.print_exc()
        results["seconds"][name] = round(time.perf_counter() - started, 1)
        print(f"   {name} took {results['seconds'][name]} s", file=sys.stderr, flush=True)
        report = _save(results, args.out)  # after every section: a later failure loses nothing
    print(report)
    return 1 if failed else 0


def _save(results: dict, out: Path) -> str:
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_seconds"] = round(sum(results["seconds"].values()), 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    report = render(results)
    (out / "report.md").write_text(report, encoding="utf-8")
    return report


if __name__ == "__main__":
    sys.exit(main())
