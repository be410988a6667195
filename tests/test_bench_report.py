"""The bench report judges the targets from the figures it is given."""

from __future__ import annotations

from bench.report import render


def _embed_section(int8: float, fp32: float) -> dict:
    def row(speedup: float) -> dict:
        return {"texts_per_s": 10 * speedup, "speedup": speedup,
                "texts_per_cpu_s": 6 * speedup, "cpu_speedup": speedup}

    return {"texts": 93, "repeats": 3, "threads": 2, "rows": {
        "sentence-transformers torch fp32 (plain encode)": row(1.0),
        "ours torch fp32 (length-sorted batches)": row(0.97),
        "ours onnx fp32, fused graph (length-sorted batches)": row(fp32),
        "ours onnx int8 (length-sorted batches)": row(int8)}}


def _results(embed: dict) -> dict:
    return {"started": "2026-11-23T17:00:00+00:00", "quick": False, "total_seconds": 60.0,
            "machine": {"cpu": "test", "usable_cores": 2}, "sections": {"embed": embed}}


def _target_line(report: str) -> str:
    return next(line for line in report.splitlines() if line.startswith("| embed: >= 2.5x"))


def test_embedding_target_uses_the_fastest_of_our_backends():
    line = _target_line(render(_results(_embed_section(int8=1.4, fp32=1.9))))
    assert "ours onnx fp32, fused graph: 1.9x wall" in line and line.endswith("| NOT met |")
    line = _target_line(render(_results(_embed_section(int8=2.6, fp32=1.2))))
    assert "ours onnx int8: 2.6x wall" in line and line.endswith("| met |")


def test_public_sections_report_the_backend_of_the_embedder_passed_in(tmp_path, fake_embedder):
    from bench.public import _backend
    from retrieval import Engine, Settings

    settings = Settings(source_dir=tmp_path, index_dir=tmp_path / "index", backend="torch")
    fake_embedder.backend = "onnx"
    assert _backend(Engine(settings, embedder=fake_embedder)) == "onnx"


def test_embedding_section_reports_the_int8_ceiling_from_the_measured_rates():
    section = _embed_section(int8=1.4, fp32=1.1)
    section["ceiling"] = {"plain_gflop_s": 50.0, "layer_gemm_speedup": 1.8,
                          "shapes": {"FFN in 384x1536": {"fp32": 60.0, "int8": 110.0},
                                     "FFN out 1536x384": {"fp32": 64.0, "int8": 96.0}}}
    report = render(_results(section))
    assert "| FFN in 384x1536 | 60.0 | 110.0 | 1.83 |" in report
    assert "| FFN out 1536x384 | 64.0 | 96.0 | 1.5 |" in report
    assert "at most 1.8x the fp32 graph, which is 1.1x plain: at most 1.98x plain" in report
    assert "Ceiling" not in render(_results(_embed_section(int8=1.4, fp32=1.0)))
