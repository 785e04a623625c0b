"""`ivl bench` end to end, small: every part, one repeat, a 2x corpus. It checks that the report a maintainer
reads is complete and self-consistent, not how fast this machine is (that is the benchmark's job)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_writes_every_part_as_json_markdown_and_a_plot(tmp_path):
    out, work = tmp_path / "bench", tmp_path / "work"
    proc = subprocess.run([sys.executable, "-m", "ivl", "bench", "--scales", "2", "--repeats", "1", "--out", str(out),
                           "--work-dir", str(work)], capture_output=True, text=True, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bench: measuring scale" in proc.stderr  # progress, so a long run is visibly alive

    results = json.loads((out / "bench.json").read_text())
    assert set(results["parts"]) == {"warm", "cold", "serve", "ingest", "scale"}
    warm = results["warm"]
    assert all(0 < warm[k]["p50_ms"] <= warm[k]["p95_ms"] for k in ("product", "plain", "plain_same_encoder", "floor"))
    assert warm["quality"]["citation_validity"]["product"] == 1.0
    assert warm["quality"]["abstention_recall"]["product"] > warm["quality"]["abstention_recall"]["plain"]
    cold = results["cold"]
    assert cold["ask_s"] > 0 and not cold["ask_imports_gradio"] and not cold["ask_imports_torch"]
    assert set(results["serve"]["qps"]) == {"1", "4", "16"} and all(q > 0 for q in results["serve"]["qps"].values())
    ingest = results["ingest"]
    assert ingest["unchanged_reingest_embedded"] == 0 and not ingest["unchanged_reingest_imports_torch"]
    assert 0 < ingest["unchanged_reingest_process_s"]
    # Chunks alone embed faster than chunks plus sentences, so that ratio can only be the larger one.
    assert ingest["ratio_vs_chunks_alone"] > ingest["ratio"] and ingest["chunks_per_s_ingest"] > 0
    scale = results["scale"]
    assert scale["2"]["chunks"] > scale["1"]["chunks"] and scale["1"]["p50_vs_1x"] == 1.0
    assert set(results["memory"]) == {"1", "2"}
    assert (work / "scale-2" / "current").is_symlink()  # --work-dir keeps the indexes the bench built

    table = (out / "bench.md").read_text()
    assert "product / floor" in table and "| 2× |" in table and "abstention_recall" in table
    assert (out / "bench-scale.png").read_bytes().startswith(b"\x89PNG")
    assert table.strip() in proc.stdout  # the same table is printed


def test_bench_refuses_a_work_dir_that_holds_anything_or_is_a_file(tmp_path):
    """A kept 1000x index must never be overwritten or mixed into a new run by a repeated command."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("an earlier run's index")
    proc = subprocess.run([sys.executable, "-m", "ivl", "bench", "--parts", "warm", "--work-dir", str(work),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0
    assert "is not empty; give an empty or new folder" in proc.stderr and "Traceback" not in proc.stderr
    assert [p.name for p in work.iterdir()] == ["keep.txt"]

    afile = tmp_path / "a-file"
    afile.write_text("not a folder")
    proc = subprocess.run([sys.executable, "-m", "ivl", "bench", "--parts", "warm", "--work-dir", str(afile),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and "is a file; give an empty or new folder" in proc.stderr
    assert "Traceback" not in proc.stderr and afile.read_text() == "not a folder"
