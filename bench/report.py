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
        ["ask p50 / p95, ms (warm, each question asked once before)", _pair(on.get("ask")),
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
           f"{sec['questions']} of {sec['of_questions']:,} questions (seed {sec['seed']}) "
           f"over {sec['paragraphs']:,} paragraphs; index built in {sec['index_s']} s; "
           f"{sec['queries_per_second']} queries/s.", "",
           *_table(["retrieval", "paragraph recall@1", "recall@5"], rows)]
    ans = sec.get("answers")
    if ans:
        out += [f"Answer containment (gold answer inside our short answer, abstentions count as "
                f"misses): {ans['containment']} over {ans['answered_questions']} questions; ask "
                f"p50 {ans['ask_p50_ms']} ms, p95 {ans['ask_p95_ms']} ms.", ""]
    else:
        out += ["Answer containment: Engine.ask is not in the library yet.", ""]
    return out


TITLES = {"seeds": "1. Seed corpus: ours vs the LangChain tutorial pipeline",
          "embed": "2. Embedding throughput",
          "scale": "3. Scale: synthetic 384-d vectors and BM25",
          "beir": "4. BEIR SciFact (test split)",
          "squad": "5. SQuAD v1.1 dev, open retrieval over its paragraphs"}
RENDER = {"seeds": _seeds, "embed": _embed, "scale": _scale, "beir": _beir, "squad": _squad}


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
