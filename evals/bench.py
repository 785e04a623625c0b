"""`ivl bench`: speed measured side by side in one process tree — against the hardware floor, against a plain
LangChain RAG pipeline, and as the corpus grows. Medians over repeats; ratios between things measured
in the same run (these machines are noisy).

Writes bench.json, bench.md and bench-scale.png to the output folder.
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import yaml
from langchain_core.embeddings import Embeddings

from chatbot.answerer import Answerer
from chatbot.settings import AnswerSettings
from evals.checks import check
from evals.labelled import load_items
from evals.suite import index_chunks, summarize
from evals.yardsticks import chunk_answer
from ingest.chunking import chunk_document
from ingest.loaders import load
from ingest.onnx_export import ensure_onnx
from ingest.pipeline import run_ingest, sentence_documents
from ingest.tokens import WordPieces
from ivl_index import store
from ivl_index.embeddings import ModelEmbeddings
from ivl_index.errors import UserError
from ivl_index.sentences import sentence_spans

PARTS = ("warm", "cold", "serve", "ingest", "scale")


class BenchError(UserError):
    """A bench option that cannot be used (a --work-dir that is a file or not empty, an unknown part)."""


def _med(values) -> float:
    return float(statistics.median(values))


def _pct(values, q) -> float:
    return float(np.percentile(values, q)) * 1000


def _say(message: str) -> None:
    """Progress on stderr: a 1000x scale run takes over an hour, and silence that long looks like a hang."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


# -- 1. warm latency and quality: product, plain LangChain RAG, floor ---------------------------------------


def plain_rag(settings: AnswerSettings, embeddings):
    """The usual LangChain pipeline: Chroma similarity search, top 4, same model; the answer is the top chunk."""
    from langchain_chroma import Chroma  # lazy: only the plain pipeline uses LangChain's Chroma wrapper

    store_ = Chroma(client=store.client(settings), collection_name=settings.collection, embedding_function=embeddings)
    return store_.as_retriever(search_kwargs={"k": 4})


class Uncached(Embeddings):
    """An encoder without the product's question cache: the floor and the plain pipelines pay every embedding."""

    def __init__(self, inner):
        self.inner = inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_uncached(text)


def warm(settings: AnswerSettings, model_embeddings, repeats: int) -> dict:
    """The product as it runs (its own query encoder); the plain pipeline the usual way (HuggingFaceEmbeddings,
    i.e. torch) and again with the product's encoder, so the pipeline and the runtime can be told apart."""
    items = load_items()
    answerer = Answerer(settings)
    encoder = Uncached(answerer.encoder)
    rags = {"plain": plain_rag(settings, Uncached(model_embeddings)), "plain_same_encoder": plain_rag(settings, encoder)}
    chroma = store.open_index(settings, settings.embedding_model).chunks
    for item in items[:5]:
        answerer.answer(item.question, item.history)
        for rag in rags.values():
            rag.invoke(item.question)
    runs = {k: [] for k in ("product", *rags, "floor")}
    plain_answers = {}
    for _ in range(repeats):
        answerer.clear_cache()
        times = {k: [] for k in runs}
        for item in items:
            times["product"].append(_timed(lambda: answerer.answer(item.question, item.history))[0])
            for name, rag in rags.items():
                t, docs = _timed(lambda: rag.invoke(item.question))
                times[name].append(t)
            plain_answers[item.id] = chunk_answer(item.question, docs[0])
            floor = _timed(lambda: chroma.query(query_embeddings=[encoder.embed_query(item.question)], n_results=4))  # noqa: E501
            times["floor"].append(floor[0])
        for k in runs:
            runs[k].append((_pct(times[k], 50), _pct(times[k], 95)))
    out = {k: {"p50_ms": round(_med(p[0] for p in v), 1), "p95_ms": round(_med(p[1] for p in v), 1)} for k, v in runs.items()}  # noqa: E501
    out["encoder"] = type(answerer.encoder).__name__
    for k in ("floor", *rags):
        out[f"ratio_product_{k}_p50"] = round(out["product"]["p50_ms"] / out[k]["p50_ms"], 2)
    chunks = index_chunks(answerer)
    product = summarize([check(i, answerer.answer(i.question, i.history), chunks) for i in items])
    plain = summarize([check(i, plain_answers[i.id], chunks) for i in items])
    keys = ["key_facts_vital", "key_fact_recall", "expected_source", "citation_validity", "citation_faithfulness",
            "abstention_recall", "abstention_precision", "must_not_say_violations"]  # fmt: skip
    out["quality"] = {k: {"product": product[k], "plain": plain[k]} for k in keys}
    return out


# -- 2. cold start --------------------------------------------------------------------------------------------


def _env(settings: AnswerSettings, **extra) -> dict:
    paths = {"IVL_DATA_DIR": str(settings.data_dir.resolve())}
    if settings.encoder_dir:
        paths["IVL_ENCODER_DIR"] = str(settings.encoder_dir.resolve())
    return {**os.environ, **paths, **extra}


def cold_ask(settings: AnswerSettings, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        t, proc = _timed(lambda: subprocess.run([sys.executable, "-m", "ivl", "ask", "How is IVL treated?"],
                                                capture_output=True, text=True, env=_env(settings)))  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        times.append(t)
    probe = (
        "import time; t=time.perf_counter(); import ivl.cli, chatbot.answerer, ivl_index.onnx_encoder, chromadb;"
        "a=time.perf_counter(); from ivl.settings import load_settings; from ivl_index.onnx_encoder import query_embeddings;"
        "s=load_settings(); e=query_embeddings(s); b=time.perf_counter();"
        "x=chatbot.answerer.Answerer(s, e); c=time.perf_counter(); x.answer('How is IVL treated?');"
        "d=time.perf_counter(); print(a-t, b-a, c-b, d-c)"
    )
    parts = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_env(settings))
        parts.append([float(x) for x in out.stdout.split()])
    names = ["imports", "model_load", "index_open", "first_answer"]
    trace = subprocess.run([sys.executable, "-X", "importtime", "-m", "ivl", "ask", "--json", "What is IVL?"],
                           capture_output=True, text=True, env=_env(settings)).stderr  # fmt: skip
    imported = {line.rsplit("|", 1)[-1].strip() for line in trace.splitlines() if line.startswith("import time:")}
    return {
        "ask_s": round(_med(times), 2),
        "breakdown_s": {n: round(_med(p[i] for p in parts), 2) for i, n in enumerate(names)},
        "ask_imports_gradio": "gradio" in imported,
        "ask_imports_torch": "torch" in imported,
    }


def _serve_chat(settings: AnswerSettings, port: int):
    proc = subprocess.Popen([sys.executable, "-m", "ivl", "chat"], env=_env(settings, IVL_CHAT_PORT=str(port)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    start = time.perf_counter()
    while time.perf_counter() - start < 300:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("ivl chat did not start")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


# -- 6. concurrency (and 5. memory while serving) -------------------------------------------------------------


def serve_and_load(settings: AnswerSettings, clients_list=(1, 4, 16), per_client: int = 10) -> dict:
    from gradio_client import Client  # lazy: only the serve part needs it

    port = _free_port()
    proc, started = _serve_chat(settings, port)
    url = f"http://127.0.0.1:{port}/"
    questions = [i.question for i in load_items() if not i.history]
    out = {"chat_start_to_page_s": round(started, 2), "qps": {}}
    try:
        for n in clients_list:
            def user(u: int) -> int:
                client = Client(url, verbose=False)
                for j in range(per_client):
                    client.predict(questions[(u * per_client + j) % len(questions)], [], "Clinician", api_name="/ask")
                return per_client

            t, done = _timed(lambda: sum(ThreadPoolExecutor(n).map(user, range(n))))
            out["qps"][str(n)] = round(done / t, 1)
        out["peak_rss_mb"] = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


# -- 3. ingest and 4. scale -----------------------------------------------------------------------------------


def synthetic_corpus(corpus_dir: Path, target: Path, factor: int) -> None:
    """factor x the real corpus: the real documents plus (factor - 1) recombinations of each. A synthetic
    sentence joins the first half of one real sentence to the second half of another from the same section,
    so the language is real but every document is new (ingest would rightly skip a mere reshuffle as a
    duplicate)."""
    target.mkdir(parents=True, exist_ok=True)
    docs = [load(p) for p in sorted(corpus_dir.glob("*.md")) if p.name != "README.md"]
    for doc in docs:
        (target / doc.path.name).write_text(doc.text, encoding="utf-8")
    for k in range(1, factor):
        rng = random.Random(k)
        for doc in docs:
            body = []
            for s in (s for s in doc.sections if s.indexed):
                words = [doc.text[a:b].split() for a, b in sentence_spans(doc.text, s.start, s.end)]
                mixed = []
                for first in words:
                    second = rng.choice(words)
                    mixed.append(" ".join(first[: len(first) // 2] + second[len(second) // 2 :]))
                body.append(f"## {s.name}\n\n" + " ".join(mixed))
            meta = {k2: v for k2, v in doc.meta.items() if k2 != "unindexed_sections"}
            meta |= {"source_id": f"{doc.source_id}-synthetic-{k}", "title": f"{doc.title} (synthetic {k})",
                     "url": f"https://synthetic.invalid/{doc.source_id}/{k}"}  # fmt: skip
            text = "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + "\n\n".join(body) + "\n"
            (target / f"{doc.source_id}-synthetic-{k}.md").write_text(text, encoding="utf-8")


def ingest_speed(settings: AnswerSettings, embeddings, repeats: int, root: Path) -> dict:
    docs = [load(p) for p in sorted(settings.corpus_dir.glob("*.md")) if p.name != "README.md"]
    chunks = [c for d in docs for c in chunk_document(d, WordPieces.of_embeddings(embeddings), 256, 200, 1)]
    texts = [c.page_content for c in chunks]
    sentences = [s.page_content for s in sentence_documents(chunks)]
    embeddings.embed_documents(texts[:8])
    embed_all, embed_chunks, full, reingest, reembedded, process = [], [], [], [], [], []
    for r in range(repeats):
        embed_chunks.append(_timed(lambda: embeddings.embed_documents(texts))[0])
        embed_all.append(_timed(lambda: (embeddings.embed_documents(texts), embeddings.embed_documents(sentences)))[0])
        s = settings.model_copy(update={"data_dir": root / f"ingest-{r}"})
        full.append(_timed(lambda: run_ingest(s, embeddings=embeddings, progress=False))[0])
        before = embeddings.embedded
        reingest.append(_timed(lambda: run_ingest(s, embeddings=embeddings, progress=False))[0])
        reembedded.append(embeddings.embedded - before)
        t, report = reingest_process(s)
        process.append(t)
        reembedded.append(report["embedded"])
    n = len(texts) + len(sentences)
    fresh = settings.model_copy(update={"encoder_dir": root / "export-once"})
    export_s = _timed(lambda: ensure_onnx(fresh, embeddings))[0]
    return {
        "onnx_export_once_s": round(export_s, 2),
        "texts": n, "chunks": len(texts), "sentences": len(sentences),
        "full_ingest_s": round(_med(full), 2), "pure_embedding_s": round(_med(embed_all), 2),
        "ratio": round(_med(full) / _med(embed_all), 2),
        "texts_per_s_ingest": round(n / _med(full), 1), "texts_per_s_embedding": round(n / _med(embed_all), 1),
        # The literal yardstick: the chunks alone (ingest also embeds every sentence for the answerer).
        "chunks_per_s_ingest": round(len(texts) / _med(full), 1),
        "chunks_per_s_embedding": round(len(texts) / _med(embed_chunks), 1),
        "ratio_vs_chunks_alone": round(_med(full) / _med(embed_chunks), 2),
        "unchanged_reingest_s": round(_med(reingest), 2), "unchanged_reingest_embedded": max(reembedded),
        "unchanged_reingest_process_s": round(_med(process), 2),
        "unchanged_reingest_imports_torch": reingest_imports_torch(s),
    }  # fmt: skip


def reingest_process(settings: AnswerSettings) -> tuple[float, dict]:
    """`ivl ingest` of an unchanged corpus as a user runs it: a whole process, imports and all (what changed is
    decided before any model loads, so this is the figure that moved from ~7-12 s to under a second)."""
    command = [sys.executable, "-m", "ivl", "ingest", "--json", str(settings.corpus_dir)]
    t, proc = _timed(lambda: subprocess.run(command, capture_output=True, text=True, env=_env(settings)))
    assert proc.returncode == 0, proc.stderr
    return t, json.loads(proc.stdout)


def reingest_imports_torch(settings: AnswerSettings) -> bool:
    command = [sys.executable, "-X", "importtime", "-m", "ivl", "ingest", "--json", str(settings.corpus_dir)]
    trace = subprocess.run(command, capture_output=True, text=True, env=_env(settings)).stderr
    return "torch" in {line.rsplit("|", 1)[-1].strip() for line in trace.splitlines() if line.startswith("import time:")}


def scale(settings: AnswerSettings, embeddings, scales: list[int], repeats: int, root: Path) -> dict:
    """Ingest every size first, then time answers at all sizes in interleaved rounds, so that a busy moment
    on a shared machine lands on every size alike rather than on whichever was measured then."""
    items = load_items()
    out, answerers = {}, {}
    for factor in [1, *scales]:
        s = settings.model_copy(update={"data_dir": root / f"scale-{factor}"})
        corpus = root / f"corpus-{factor}"
        synthetic_corpus(settings.corpus_dir, corpus, factor)
        _say(f"scale: ingesting the {factor}x corpus")
        t, report = _timed(lambda: run_ingest(s, [corpus], embeddings=embeddings, progress=False))
        _say(f"scale: {factor}x ingested, {report.chunks} chunks and {report.sentences} sentences in {t:.0f} s")
        out[str(factor)] = {"chunks": report.chunks, "sentences": report.sentences, "ingest_s": round(t, 1),
                            "data_dir": str(s.data_dir)}  # fmt: skip
        answerers[str(factor)] = Answerer(s)
    for answerer in answerers.values():
        for item in items[:5]:
            answerer.answer(item.question)
    p50s = {k: [] for k in answerers}
    _say(f"scale: timing answers at {', '.join(f'{k}x' for k in answerers)}, {repeats} rounds")
    for _ in range(repeats):
        for k, answerer in answerers.items():
            answerer.clear_cache()
            p50s[k].append(_pct([_timed(lambda: answerer.answer(i.question, i.history))[0] for i in items], 50))
    base = _med(p50s["1"])
    for k, v in out.items():
        v["p50_ms"] = round(_med(p50s[k]), 1)
        v["p50_vs_1x"] = round(_med(p50s[k]) / base, 2)
    return out


def plot(scale: dict, path: Path) -> None:
    """Ingest time, and warm p50 as a multiple of the 1x p50 of the same run (the goal is a ratio: at most 2x)."""
    import matplotlib  # lazy: only a scale run plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    factors = [int(k) for k in scale]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(factors, [scale[str(f)]["ingest_s"] for f in factors], marker="o")
    a.set(xscale="log", yscale="log", xlabel="corpus size (× real)", ylabel="ingest (s)", title="Ingest time")
    ratios = [scale[str(f)]["p50_vs_1x"] for f in factors]
    b.plot(factors, ratios, marker="o")
    b.axhline(2.0, color="grey", linestyle="--", linewidth=1)
    b.text(factors[0], 2.03, "goal: at most 2×", color="grey", fontsize=8)
    b.set(xscale="log", ylim=(0, max(2.5, 1.1 * max(ratios))), xlabel="corpus size (× real)", ylabel="warm p50 / p50 at 1×", title="Answer latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(results: dict) -> str:
    """The parts that ran, as Markdown tables (a run of some parts leaves the others out)."""
    lines = [f"Machine: {results['machine']}; commit {results['commit']}", "", "| what | value |", "| --- | --- |"]
    if w := results.get("warm"):
        lines += [
            f"| warm answer p50 / p95: product | {w['product']['p50_ms']} / {w['product']['p95_ms']} ms |",
            f"| plain LangChain RAG (Chroma top 4, top chunk as answer; HuggingFaceEmbeddings) | {w['plain']['p50_ms']} / {w['plain']['p95_ms']} ms |",
            f"| the same plain pipeline with the product's query encoder | {w['plain_same_encoder']['p50_ms']} / {w['plain_same_encoder']['p95_ms']} ms |",
            f"| floor (one query embedding + one Chroma query) | {w['floor']['p50_ms']} / {w['floor']['p95_ms']} ms |",
            f"| product / floor, product / plain, product / plain with the same encoder (p50) | {w['ratio_product_floor_p50']}×, {w['ratio_product_plain_p50']}×, {w['ratio_product_plain_same_encoder_p50']}× |",
        ]  # fmt: skip
    if c := results.get("cold"):
        b = c["breakdown_s"]
        lines += [
            f"| `ivl ask` cold start (process start to printed answer) | {c['ask_s']} s |",
            f"| of which: imports / model load / index open / answer | {b['imports']} / {b['model_load']} / {b['index_open']} / {b['first_answer']} s |",
            f"| `ivl ask` imports gradio / torch | {c['ask_imports_gradio']} / {c['ask_imports_torch']} |",
        ]  # fmt: skip
    if v := results.get("serve"):
        lines += [
            f"| `ivl chat` start to page served | {v['chat_start_to_page_s']} s |",
            f"| chat questions/s with 1 / 4 / 16 clients | {' / '.join(str(q) for q in v['qps'].values())} |",
        ]
    if i := results.get("ingest"):
        lines += [
            f"| ingest ({i['texts']} texts) vs pure embedding of the same texts | {i['full_ingest_s']} s vs {i['pure_embedding_s']} s ({i['ratio']}×) |",
            f"| chunks per second: ingest vs embedding the chunks alone | {i['chunks_per_s_ingest']} vs {i['chunks_per_s_embedding']} ({i['ratio_vs_chunks_alone']}×: ingest also embeds every sentence) |",
            f"| unchanged re-ingest | {i['unchanged_reingest_s']} s, {i['unchanged_reingest_embedded']} texts embedded |",
            f"| unchanged re-ingest, whole process (`ivl ingest`) | {i['unchanged_reingest_process_s']} s; imports torch: {i['unchanged_reingest_imports_torch']} |",
            f"| ONNX export and check of the model (once per model) | {i['onnx_export_once_s']} s |",
        ]  # fmt: skip
    if m := results.get("memory"):
        lines.append(f"| `ivl chat` peak RSS serving 4 clients, {' / '.join(f'{k}×' for k in m)} | "
                     f"{' / '.join(str(v) for v in m.values())} MB |")  # fmt: skip
    if results.get("scale"):
        lines += ["", "| corpus | chunks | sentences | ingest | warm p50 | p50 vs 1× |", "| --- | --- | --- | --- | --- | --- |"]
        for f, v in results["scale"].items():
            lines.append(f"| {f}× | {v['chunks']} | {v['sentences']} | {v['ingest_s']} s | {v['p50_ms']} ms | {v['p50_vs_1x']} |")
    if w:
        lines += ["", "| quality metric | product | plain RAG |", "| --- | --- | --- |"]
        lines += [f"| {k} | {v['product']} | {v['plain']} |" for k, v in w["quality"].items()]
    return "\n".join(lines) + "\n"


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent)
    return proc.stdout.strip() or "unknown"


def run_bench(settings: AnswerSettings, scales: list[int], repeats: int, out: Path, parts=PARTS,
              work_dir: Path | None = None) -> dict:
    if unknown := set(parts) - set(PARTS):
        raise BenchError(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    out.mkdir(parents=True, exist_ok=True)
    results = {"machine": f"{os.cpu_count()} cores, {os.uname().machine}, Python {sys.version.split()[0]}",
               "commit": _commit(), "parts": list(parts)}  # fmt: skip
    if work_dir is not None and work_dir.exists():
        if not work_dir.is_dir():
            raise BenchError(f"--work-dir {work_dir} is a file; give an empty or new folder")
        if any(work_dir.iterdir()):
            raise BenchError(f"--work-dir {work_dir} is not empty; give an empty or new folder")
    with tempfile.TemporaryDirectory(prefix="ivl-bench-") if work_dir is None else nullcontext(work_dir) as tmp:
        root = Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        # One ONNX copy of the model for every index the bench builds: it is made once per model, not per ingest.
        base = settings.model_copy(update={"data_dir": root / "main", "encoder_dir": root / "encoders"})
        embeddings = ModelEmbeddings(settings.embedding_model, settings.embedding_batch_size)
        run_ingest(base, embeddings=embeddings, progress=False)
        runs = {
            "warm": lambda: warm(base, embeddings, repeats),
            "cold": lambda: cold_ask(base, repeats),
            "serve": lambda: serve_and_load(base),
            "ingest": lambda: ingest_speed(base, embeddings, repeats, root),
            "scale": lambda: scale(base, embeddings, scales, repeats, root),
        }
        for part in (p for p in PARTS if p in parts):
            _say(f"measuring {part}")
            results[part] = runs[part]()
            # Written after every part: a failure an hour into a scale run keeps what was measured before it.
            (out / "bench.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        if "scale" in parts:
            results["memory"] = {}
            for factor in (1, max(scales, default=1)):
                _say(f"memory: serving the {factor}x index to 4 clients")
                big = base.model_copy(update={"data_dir": Path(results["scale"][str(factor)]["data_dir"])})
                results["memory"][str(factor)] = serve_and_load(big, clients_list=(4,))["peak_rss_mb"]
    (out / "bench.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    (out / "bench.md").write_text(markdown(results), encoding="utf-8")
    if "scale" in parts:
        plot(results["scale"], out / "bench-scale.png")
    return results
