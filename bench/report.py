"""Markdown tables from ``results.json`` (the same text is printed and saved as report.md)."""

from __future__ import annotations


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _ratio(a, b, digits: int = 2):
    try:
        return round(a / b, digits)
    except (TypeError, ZeroDivisionError):
        return None


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def _seeds(sec: dict, targets: list) -> list[str]:
    if "error" in sec:
        return [f"Failed: {sec['error']}", ""]
    on, to, lc = sec["ours_onnx"], sec["ours_torch"], sec["langchain"]
    cols = [on, to, lc]

    def get(d, *keys):
        for k in keys:
            d = d.get(k) if isinstance(d, dict) else None
        return d

    def row(label, *keys, better="lower"):
        vals = [get(c, *keys) for c in cols]
        if better == "lower":
            return [label, *vals, _ratio(vals[2], vals[0]), _ratio(vals[2], vals[1])]
        return [label, *vals, _ratio(vals[0], vals[2]), _ratio(vals[1], vals[2])]

    rows = [
        row("cold build, s (imports + model load + index)", "cold_build_s"),
        row("  of which model load, s", "model_load_s"),
        row("  of which chunk + embed + write, s", "index_s"),
        ["chunks (ours embed each sentence; a chunk's vector is their mean)", on["chunks"],
         to["chunks"], lc["chunks"],
         "", ""],
        row("search p50, ms (warm)", "search", "p50_ms"),
        row("search p95, ms (warm)", "search", "p95_ms"),
        [f"ask p50 / p95, ms (warm, each question asked once before; "
         f"{on.get('answerer', 'default')} answerer)", _pair(on.get("ask")),
         _pair(to.get("ask")), "no answerer", "", ""],
        row("peak RSS, MB", "peak_rss_mb"),
        row("dev recall@5", "recall@5", better="higher"),
        row("dev mrr@10", "mrr@10", better="higher"),
        row("dev recall@1", "recall@1", better="higher"),
    ]
    if on.get("ask_quality"):
        q = on["ask_quality"]
        rows.append(["dev answer accuracy / qa_score (ask)", f"{q.get('answer_accuracy')} / "
                     f"{q.get('qa_score')}", _askq(to), "", "", ""])
    b_on = _ratio(lc["cold_build_s"], on["cold_build_s"])
    b_to = _ratio(lc["cold_build_s"], to["cold_build_s"])
    targets += [
        ("seeds: build >= 2x faster than LangChain", f"onnx {b_on}x, torch {b_to}x",
         max(b_on or 0, b_to or 0) >= 2),
        ("seeds: search no slower than LangChain (p50)",
         f"onnx {on['search']['p50_ms']}, torch {to['search']['p50_ms']} vs "
         f"{lc['search']['p50_ms']} ms",
         min(on["search"]["p50_ms"], to["search"]["p50_ms"]) <= lc["search"]["p50_ms"]),
        ("seeds: clearly better quality (recall@5, mrr@10)",
         f"{on['recall@5']} / {on['mrr@10']} (onnx, default) vs {lc['recall@5']} / "
         f"{lc['mrr@10']}",
         on["recall@5"] > lc["recall@5"] + 0.02 and on["mrr@10"] > lc["mrr@10"] + 0.02),
        ("embed: onnx int8 recall@5 within 0.01 of torch fp32",
         f"{on['recall@5']} vs {to['recall@5']} (mrr@10 {on['mrr@10']} vs {to['mrr@10']})",
         on["recall@5"] >= to["recall@5"] - 0.01),
    ]
    return _table(["", "ours (onnx int8, default)", "ours (torch fp32)", "LangChain tutorial",
                   "x better: onnx vs LangChain", "x better: torch vs LangChain"], rows)


def _pair(d):
    return f"{d['p50_ms']} / {d['p95_ms']}" if d else "n/a"


def _askq(d):
    q = d.get("ask_quality")
    return f"{q.get('answer_accuracy')} / {q.get('qa_score')}" if q else ""


def _embed(sec: dict, targets: list) -> list[str]:
    if "error" in sec:
        return [f"Failed: {sec['error']}", ""]
    rows = [[name, r["texts_per_s"], r["speedup"], r["texts_per_cpu_s"], r["cpu_speedup"]]
            for name, r in sec["rows"].items()]
    ours = {name: r for name, r in sec["rows"].items() if name.startswith("ours")}
    fp32_graph = next((r["speedup"] for name, r in ours.items() if "onnx fp32" in name), None)
    name = max(ours, key=lambda n: ours[n]["speedup"] or 0)
    best = ours[name]
    targets.append(("embed: >= 2.5x plain sentence-transformers fp32",
                     f"{name.split(' (')[0]}: {best.get('speedup')}x wall, "
                     f"{best.get('cpu_speedup')}x CPU time",
                     (best.get("speedup") or 0) >= 2.5))
    return [f"{sec['texts']} seed chunks, median of {sec['repeats']} interleaved passes, "
            f"{sec['threads']} threads.", "",
            *_table(["embedder", "chunks/s", "x plain", "chunks per CPU-s", "x plain (CPU)"],
                    rows), *_ceiling(sec.get("ceiling"), fp32_graph)]


def _ceiling(ceiling: dict | None, onnx_fp32_speedup: float | None) -> list[str]:
    """The int8 ceiling: matrix-product rates at the model's shapes, and the bound they give."""
    if not ceiling:
        return []
    rows = [[label, r["fp32"], r["int8"], round(r["int8"] / r["fp32"], 2)]
            for label, r in ceiling["shapes"].items()]
    gemm = ceiling["layer_gemm_speedup"]
    bound = round(gemm * onnx_fp32_speedup, 2) if onnx_fp32_speedup else None
    return [f"Ceiling: plain torch fp32 runs the whole model at {ceiling['plain_gflop_s']} "
            "GFLOP/s (useful work, no padding). ONNX Runtime's matrix products alone, at the "
            "model's shapes (8,192 rows, 2 threads):", "",
            *_table(["matrix product", "fp32 GFLOP/s", "int8 GFLOP/s", "int8 / fp32"], rows),
            f"Weighted by their FLOPs in a layer, int8 makes a layer's matrix products "
            f"{gemm}x faster. Softmax, layer norms and GELU stay fp32, so the int8 graph can be "
            f"at most {gemm}x the fp32 graph, which is {onnx_fp32_speedup}x plain: at most "
            f"{bound}x plain even if those other operations took no time.", ""]


def _scale(sec: dict, targets: list) -> list[str]:
    if "error" in sec:
        return [f"Failed: {sec['error']}", ""]
    bw, ex = sec["bandwidth"], sec["exact_scan"]
    out = [f"Memory bandwidth (numpy, one thread, {bw['array_gb']} GB array): read "
           f"{bw['read_gb_s']} GB/s, copy {bw['copy_gb_s']} GB/s. An exact scan of "
           f"{ex['n']:,} vectors reads {ex['bytes_per_query_gb']} GB a query: lower bound "
           f"{ex['lower_bound_ms']} ms at that bandwidth, measured p50 {ex['measured_p50_ms']} ms "
           f"({ex['ratio_measured_to_bound']}x the bound).", ""]
    rows = []
    for block in sec["dense"]:
        for r in block["rows"]:
            rows.append([f"{block['n']:,}", r["index"], r["param"], r["build_s"],
                         r["memory_mb"], r["p50_ms"], r["p95_ms"], r["recall@10"]])
    out += _table(["vectors", "index", "setting", "build s", "index MB", "p50 ms", "p95 ms",
                   "recall@10 vs exact"], rows)
    b = sec["bm25"]
    out += [f"BM25 (bm25s) over {b['n']:,} synthetic chunks: index built in {b['build_s']} s, "
            f"{b['memory_mb']} MB; query + top-50 p50 {b['p50_ms']} ms, p95 {b['p95_ms']} ms.",
            ""]
    big = sec["dense"][-1]
    ok = [r for r in big["rows"] if not r["index"].startswith("flat")
          and r["p50_ms"] <= 10 and r["recall@10"] >= 0.95 and r["memory_mb"] <= 1024]
    best = min(ok, key=lambda r: r["p50_ms"]) if ok else None
    targets.append((f"scale: at {big['n']:,} p50 <= 10 ms, recall@10 >= 0.95, <= 1 GB",
                    f"{best['index']} {best['param']}: {best['p50_ms']} ms, "
                    f"{best['recall@10']}, {best['memory_mb']} MB" if best else "no index",
                    bool(best) and big["n"] >= 1_000_000))
    return out


def _beir(sec: dict, targets: list) -> list[str]:
    if "error" in sec:
        return [f"Failed: {sec['error']}", ""]
    rows = [[name, r["ndcg@10"], r["recall@100"]] for name, r in sec["rows"].items()]
    rows += [[f"published: {name}", v, ""] for name, v in sec["published"].items()]
    defaults = sec["rows"]["ours: hybrid (library defaults)"]["ndcg@10"]
    tuned = [r["ndcg@10"] for n, r in sec["rows"].items() if "chosen on train" in n]
    targets.append(("SciFact: hybrid nDCG@10 >= 0.70",
                    f"defaults {defaults}, train-chosen fusion {tuned[0] if tuned else 'n/a'}",
                    None if sec.get("quick") else max([defaults, *tuned]) >= 0.70))
    return [f"Backend {sec.get('backend', '?')}; {sec['test_queries']} test queries, "
            f"{sec['chunks']} chunks; index built in "
            f"{sec['index_s']} s; {sec['queries_per_second']} queries/s through Engine.search.",
            "", *_table(["system", "nDCG@10", "recall@100"], rows)]


def _squad(sec: dict, targets: list) -> list[str]:
    if "error" in sec:
        return [f"Failed: {sec['error']}", ""]
    rows = [[name, r["recall@1"], r["recall@5"]] for name, r in sec["rows"].items()]
    out = [f"Backend {sec.get('backend', '?')}; "
           f"{sec['questions']} of the {sec['of_questions']:,} questions of the "
           f"{sec.get('asked_articles', '?')} articles outside the dev split's `fit` (seed "
           f"{sec['seed']}; the {sec.get('fit_articles_skipped', '?')} `fit` articles are indexed "
           f"but never asked) over {sec['paragraphs']:,} paragraphs; index built in "
           f"{sec['index_s']} s; {sec['queries_per_second']} queries/s.", "",
           *_table(["retrieval", "paragraph recall@1", "recall@5"], rows)]
    answers = sec.get("answers") or {}
    if "rules" not in answers or "reader" not in answers:
        return [*out, "Answer containment: not measured.", ""]
    n = answers["reader"]["answerable"]
    out += [f"Answers through `Engine.ask`, the first {n} questions of that sample for each "
            "answerer (gold answer inside the short answer after SQuAD's normalisation; an "
            "abstention is a miss; each answer in out/squad-<answerer>.jsonl beside this "
            "report):", "", *_answer_table(answers)]
    if not sec.get("quick"):
        got = answers["reader"]["containment"]
        targets.append(("SQuAD v1.1 dev containment, reader, outside `fit` >= 0.82", got,
                        got is not None and got >= 0.82))
    return out


_ANSWER_ROWS = (("answer containment (answerable)", "containment"),
                ("false abstain rate (answerable)", "false_abstain_rate"),
                ("gold paragraph in the top 5 passages", "gold_paragraph_in_top5"),
                ("abstain rate (unanswerable)", "abstain_rate"))


def _answer_table(answers: dict, unanswerable: bool = False) -> list[str]:
    rows = [[label, answers["rules"].get(key), answers["reader"].get(key)]
            for label, key in _ANSWER_ROWS if unanswerable or key != "abstain_rate"]
    rows.append(["ask p50 / p95, ms", _ms(answers["rules"]), _ms(answers["reader"])])
    return _table(["", "rules", "reader"], rows)


def _ms(d: dict) -> str:
    return f"{d.get('ask_p50_ms')} / {d.get('ask_p95_ms')}"


# The targets set for the learned reader: (label, part, key, threshold, higher is better)
READER_TARGETS = (
    ("dev answer_accuracy >= 0.85", "dev", ("answer_accuracy",), 0.85, True),
    ("dev paraphrase answered >= 0.75", "dev", ("answered_by_kind", "paraphrase"), 0.75, True),
    ("dev multi answered >= 0.80", "dev", ("answered_by_kind", "multi"), 0.80, True),
    ("dev citation_precision >= 0.85", "dev", ("citation_precision",), 0.85, True),
    ("dev unanswerable abstain >= 0.70", "dev", ("unanswerable_abstain_rate",), 0.70, True),
    ("dev false abstain <= 0.05", "dev", ("false_abstain_rate",), 0.05, False),
    ("dev ask p50 <= 250 ms (seeds, warm)", "dev", ("ask_latency", "p50_ms"), 250, False),
    ("SQuAD 2.0 evaluate: answerable containment >= 0.75", "squad2",
     ("answers", "containment"), 0.75, True),
    ("SQuAD 2.0 evaluate: unanswerable abstain >= 0.60", "squad2",
     ("answers", "abstain_rate"), 0.60, True),
    ("WikiQA test MAP (reader) >= 0.75", "wikiqa", ("rows", "map"), 0.75, True),
    ("TrecQA TEST MAP (reader) >= 0.80", "trecqa", ("rows", "map"), 0.80, True),
)


def _reader_value(sec: dict, part: str, keys: tuple[str, ...]):
    d = sec.get(part, {})
    if part == "dev":
        d = d.get("reader", {})
    elif keys[0] in ("answers", "rows"):
        d = d.get(keys[0], {}).get("reader", {})
        keys = keys[1:]
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def _reader_targets(sec: dict, targets: list) -> None:
    for label, part, keys, limit, higher in READER_TARGETS:
        got = _reader_value(sec, part, keys)
        ok = None if sec.get("quick") or got is None else (
            got >= limit if higher else got <= limit)
        targets.append((f"reader: {label}", "not measured" if got is None else got, ok))


def _reader(sec: dict, targets: list) -> list[str]:
    if "error" in sec:
        return [f"Failed: {sec['error']}", ""]
    secs = sec.get("seconds", {})
    out = [("QUICK: small seeded samples (seed " + str(sec.get("seed")) + "), not comparable. "
            if sec.get("quick") else "")
           + "The hand-fitted rules answerer (`Settings(answerer=\"rules\")`) and the learned "
           "reader (`answerer=\"reader\"`, models/reader) side by side. Part times: "
           + ", ".join(f"{k} {v} s" for k, v in secs.items()) + ". Each question's answer is "
           "in the out/ folder beside this report (`reader-dev-<answerer>.jsonl`, which "
           "`score.py` reads; `squad2-<answerer>.jsonl`).", ""]
    for name, render_part in (("dev", _reader_dev), ("squad2", _reader_squad2),
                              ("wikiqa", _selection), ("trecqa", _selection)):
        out += [f"### {READER_TITLES[name]}", ""]
        part = sec.get(name)
        if not part:
            out += ["Not run.", ""]
        elif "error" in part:
            out += [f"Failed: {part['error']}", ""]
        else:
            out += render_part(part)
    _reader_targets(sec, targets)
    return out


READER_TITLES = {"dev": "dev.jsonl over the seeds (nothing fitted to it here)",
                 "squad2": "SQuAD 2.0 dev, `evaluate` articles, open retrieval through `ask`",
                 "wikiqa": "WikiQA test: answer-sentence selection",
                 "trecqa": "TrecQA TEST (newswire): answer-sentence selection"}


def _reader_dev(part: dict) -> list[str]:
    r, d = part["rules"], part["reader"]
    kinds = ", ".join(f"{n} {k}" for k, n in part["kinds"].items())
    rows = [[key, r.get(key), d.get(key)] for key in
            ("answer_accuracy", "citation_precision", "unanswerable_abstain_rate",
             "false_abstain_rate", "recall@5", "mrr@10", "answer_supported_by_citation",
             "qa_score", "median_answer_chars")]
    rows[1:1] = [[f"{k} answered", r["answered_by_kind"].get(k), d["answered_by_kind"].get(k)]
                 for k in ("fact", "paraphrase", "multi")]
    lr, ld = r["ask_latency"], d["ask_latency"]
    rows.append(["ask p50 / p95 / mean, ms (warm, each question once)",
                 f"{lr['p50_ms']} / {lr['p95_ms']} / {lr['mean_ms']}",
                 f"{ld['p50_ms']} / {ld['p95_ms']} / {ld['mean_ms']}"])
    return [f"{part['questions']} questions ({kinds}), each asked once through `Engine.ask` over "
            "one index of seeds/, scored by `../shared/eval/score.py` (per-kind figures: its "
            "answer_accuracy over that kind). Latency: `bench/ask_latency.py`'s first pass, "
            "after its warm-up.", "", *_table(["", "rules", "reader"], rows)]


def _reader_squad2(part: dict) -> list[str]:
    a = part["answers"]
    return [f"Backend {part.get('backend', '?')}; the {part['paragraphs']:,} paragraphs of the "
            f"{part['articles']} `evaluate` articles indexed (one record each); "
            f"{part['questions']} of their {part['of_questions']:,} questions (seeded sample, "
            f"seed {part['seed']}): {a['reader']['answerable']} answerable, "
            f"{a['reader']['unanswerable']} unanswerable, asked of each answerer. Containment: "
            "a gold answer inside the short answer after SQuAD's normalisation (lower case, no "
            f"punctuation or articles); an abstention is a miss. Index built in {part['index_s']}"
            " s.", "", *_answer_table(a, unanswerable=True)]


def _selection(part: dict) -> list[str]:
    rows = [[name, r["map"], r["mrr"], r["seconds"]] for name, r in
            sorted(part["rows"].items(), key=lambda kv: kv[0] != "cosine")]
    context = ("the reader sees each candidate's title and the candidate before it from the "
               "same document" if part["with_title_and_previous"] else
               "the data give no title or previous sentence, so the reader sees the sentence "
               "alone")
    return [f"{part['questions']} questions with at least one correct and one incorrect "
            f"candidate ({part['judged_both_ways']} of the {part['questions_in_file']} in the "
            f"file; {part['with_correct']} have a correct one), {part['candidates']:,} candidate "
            f"sentences; {context}. Ties rank incorrect candidates first.", "",
            *_table(["ranker", "MAP", "MRR", "seconds"],
                    [[_RANKERS.get(row[0], row[0]), *row[1:]] for row in rows])]


_RANKERS = {"cosine": "plain cosine, bundled all-MiniLM-L6-v2",
            "reader": "reader (cross-encoder logit)",
            "reader+cosine": "reader logit and cosine blended as `ask` blends them"}


TITLES = {"seeds": "1. Seed corpus: ours vs the LangChain tutorial pipeline",
          "embed": "2. Embedding throughput",
          "scale": "3. Scale: synthetic 384-d vectors and BM25",
          "beir": "4. BEIR SciFact (test split)",
          "squad": "5. SQuAD v1.1 dev, open retrieval over its paragraphs",
          "reader": "6. The learned reader against the rules answerer"}
RENDER = {"seeds": _seeds, "embed": _embed, "scale": _scale, "beir": _beir, "squad": _squad,
          "reader": _reader}


def render(results: dict) -> str:
    m = results["machine"]
    lines = ["# Benchmark report (`make bench`)", "",
             f"Run {results['started']}"
             f"{' (QUICK mode: not comparable)' if results['quick'] else ''}"
             f" on {m.get('cpu', '?')}, {m.get('usable_cores')} usable cores, "
             f"{m.get('ram_gb')} GB RAM, Python {m.get('python')}. Load average at start "
             f"{m.get('load_average_at_start')}, at end {m.get('load_average_at_end')} "
             "(above the core count means other work shared the CPU and timings are noisy). "
             f"Total {results.get('total_seconds')} s.", ""]
    lines += [f"- {note}" for note in results.get("notes", [])]
    if results.get("notes"):
        lines.append("")
    targets: list = []
    for name, sec in results["sections"].items():
        lines += [f"## {TITLES[name]}", ""]
        lines += RENDER[name](sec, targets)
    if targets:
        lines += ["## Targets", "", *_table(["target", "measured", "status"],
                                            [[t, v, _mark(ok)] for t, v, ok in targets])]
    return "\n".join(lines)
