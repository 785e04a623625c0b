"""`ivl eval`: the labelled questions through the product, its retrieval ablations and two yardsticks, scored
per split (tune, test), register and category, reported, gated on test and compared with a baseline.

Variants share one model and one index: the product (hybrid), dense only, BM25 only (only the fusion
weights differ), `top-chunk` (the first retrieved chunk as the answer) and `top-sentences` (the 4
best-scored sentences, never abstaining), so every figure reads against something simple. An answerer that
explains itself (chatbot/service.py `Explains`) leaves with each question why it answered so: the report shows it
for every failing question, and the retrieval figures are read from those same searches.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from chatbot.answerer import Answerer
from chatbot.service import Explains
from chatbot.settings import AnswerSettings
from evals import conversations
from evals.checks import Verdict, check
from evals.labelled import SPLIT_FILES, Item, load_items
from evals.yardsticks import TopChunk, TopSentences
from ivl_index.errors import UserError
from ivl_index.sentences import squash
from ivl_index.settings import REPO_ROOT

PRODUCT, GATED = "hybrid", "test"
SPLITS = ("tune", "test")
ABLATIONS = {"dense": (1.0, 0.0), "bm25": (0.0, 1.0)}  # the product with one retriever only
THRESHOLDS = Path(__file__).with_name("thresholds.yaml")


class LintError(UserError):
    """A gold quote is no longer in the corpus."""


def lint(items: tuple[Item, ...], chunks: dict[str, dict]) -> dict[str, set[str]]:
    """Resolve every gold quote to the chunk ids that contain it; fail on any that no chunk contains."""
    missing, relevant = [], {}
    for item in items:
        ids = set()
        for quote in item.gold:
            found = {cid for cid, c in chunks.items() if squash(quote) in squash(c["text"])}
            if not found:
                missing.append(f"{item.id}: {quote[:70]}")
            ids |= found
        if ids:
            relevant[item.id] = ids
    if missing:
        raise LintError("gold quotes not found in the corpus:\n  " + "\n  ".join(missing))
    return relevant


def index_chunks(answerer) -> dict[str, dict]:
    """chunk_id -> text, source, URL and section of every chunk in the index the answerer serves."""
    return {
        d.metadata["chunk_id"]: {"text": d.page_content, "source_id": d.metadata["source_id"],
                                 "url": d.metadata.get("url", ""), "section": d.metadata.get("section", "")}
        for d in answerer.chunks()
    }  # fmt: skip


def retrieval_metrics(answerer, items, relevant: dict[str, set[str]], chunks: dict[str, dict], searched=None) -> dict:
    """recall@k, MRR@10, nDCG@10 through sentence-transformers' InformationRetrievalEvaluator, on the ranking
    the product itself searched (`retrieve`: the same query its answers use). searched: item id -> the Retrieval
    its answer was made from, where known (searching again doubled the eval's time)."""
    # lazy: sentence-transformers imports torch (seconds); only the eval needs its evaluator
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    queries = {i.id: i.question for i in items if i.id in relevant}
    evaluator = InformationRetrievalEvaluator(
        queries=queries, corpus={cid: c["text"] for cid, c in chunks.items()},
        relevant_docs={q: relevant[q] for q in queries},
        mrr_at_k=[10], ndcg_at_k=[10], accuracy_at_k=[1, 5], precision_recall_at_k=[1, 5, 10], map_at_k=[10],
        write_csv=False,
    )  # fmt: skip
    by_id = {i.id: i for i in items}
    results = []
    for qid in evaluator.queries_ids:
        item = by_id[qid]
        found = (searched or {}).get(qid) or answerer.retrieve(item.question, item.history)
        ranked = found.ranked[:10]
        results.append([{"corpus_id": d.metadata["chunk_id"], "score": -rank} for rank, d in enumerate(ranked)])
    m = evaluator.compute_metrics(results)
    return {
        "recall@1": m["recall@k"][1], "recall@5": m["recall@k"][5], "recall@10": m["recall@k"][10],
        "hit@5": m["accuracy@k"][5], "mrr@10": m["mrr@k"][10], "ndcg@10": m["ndcg@k"][10], "queries": len(results),
    }  # fmt: skip


def summarize(verdicts: list[Verdict]) -> dict:
    answerable = [v for v in verdicts if v.expected_abstain is False]
    unanswerable = [v for v in verdicts if v.expected_abstain is True]
    abstained = [v for v in verdicts if v.abstained and v.expected_abstain != "any"]
    traps = [v for v in verdicts if v.category == "false-premise"]
    words = [v.words for v in verdicts if not v.abstained]
    seconds = [v.seconds for v in verdicts] or [0.0]
    return {
        "questions": len(verdicts),
        "pass_rate": _mean(v.passed for v in verdicts),
        "answerable": len(answerable),
        "answerable_right": _mean(v.passed for v in answerable),
        "key_facts_vital": _mean(v.facts_vital for v in answerable),
        "key_fact_recall": _mean(v.fact_recall for v in answerable),
        "expected_source": _mean(v.expected_source for v in answerable),
        "false_abstention_rate": _mean(v.abstained for v in answerable) if answerable else 0.0,
        "citation_validity": _mean(v.citation_valid for v in verdicts),
        "citation_faithfulness": _mean(v.citation_faithful for v in verdicts),
        "abstention_recall": _mean(v.abstained for v in unanswerable),
        "abstention_precision": _mean(v.expected_abstain is True for v in abstained) if abstained else 1.0,
        "abstentions_and_traps_right": _mean(v.passed for v in unanswerable + traps),
        "must_not_say_violations": sum(bool(v.must_not_say) for v in verdicts),
        "lead_carries_vital_fact": _mean(v.lead_vital for v in answerable if v.lead_vital is not None),
        "sentences_bearing_on_question": _mean(b for v in answerable for b in v.bearing),
        "answer_words_median": float(np.median(words)) if words else 0.0,
        "answer_words_p90": float(np.percentile(words, 90)) if words else 0.0,
        "latency_p50_ms": round(float(np.percentile(seconds, 50)) * 1000, 1),
        "latency_p95_ms": round(float(np.percentile(seconds, 95)) * 1000, 1),
    }


def _mean(values) -> float:
    values = [float(bool(v)) if not isinstance(v, float) else v for v in values]
    return round(sum(values) / len(values), 4) if values else 1.0


def by_key(verdicts: list[Verdict], key: str) -> dict[str, dict]:
    """summarize() for each value of a verdict field (register, category)."""
    groups: dict[str, list[Verdict]] = {}
    for v in verdicts:
        groups.setdefault(getattr(v, key), []).append(v)
    return {name: summarize(vs) for name, vs in sorted(groups.items())}


def manifest(settings: AnswerSettings) -> dict:
    corpus = hashlib.sha256()
    for path in sorted(settings.corpus_dir.glob("*.md")):
        corpus.update(path.name.encode() + path.read_bytes())
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {
        "corpus_sha256": corpus.hexdigest(),
        "questions_sha256": {split: hashlib.sha256(Path(__file__).with_name(name).read_bytes()).hexdigest() for split, name in SPLIT_FILES.items()},
        "embedding_model": settings.embedding_model,
        "git_commit": commit or "unknown",
        "git_dirty": dirty,
        "settings": json.loads(settings.model_dump_json(exclude={"chat_auth"})),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def make_variants(base: Answerer, settings: AnswerSettings, llm=None) -> dict:
    """name -> answerer: the product, its retrieval ablations, the yardsticks, and the LLM path if given."""
    runs = {"hybrid": base}
    for name, (wd, wb) in ABLATIONS.items():
        runs[name] = Answerer(settings.model_copy(update={"weight_dense": wd, "weight_bm25": wb}), base.encoder)
    runs |= {"top-chunk": TopChunk(base), "top-sentences": TopSentences(base)}
    return runs | ({"llm": llm} if llm else {})


def run_suite(settings: AnswerSettings, embeddings=None, progress: bool = True, llm=None, only=None) -> dict:
    """Every labelled item (tune and test) through every variant; figures per split, register and category.
    llm: an LLMAnswerer to score as an extra variant ("llm"); only: names of the variants to run."""
    started = time.perf_counter()
    items = load_items()
    base = Answerer(settings, embeddings)
    chunks = index_chunks(base)
    relevant = lint(items, chunks)
    results: dict = {"manifest": manifest(settings), "variants": {}}
    for name, answerer in make_variants(base, settings, llm).items():
        if only and name not in only:
            continue
        base.encoder.clear_cache()  # each variant pays for its own query embeddings
        verdicts, searched = [], {}
        for item in tqdm(items, desc=f"eval {name}", disable=not progress, leave=False):
            if isinstance(answerer, Explains):
                explained = answerer.explain(item.question, item.history)
                verdict = check(item, explained.answer, chunks)
                verdict.diagnostics = explained.json() | {"gold_chunks": sorted(relevant.get(item.id, ()))}
                searched[item.id] = explained.retrieval
            else:
                verdict = check(item, answerer.answer(item.question, item.history), chunks)
            verdicts.append(verdict)
        splits = {}
        for split in SPLITS:
            mine = [v for v in verdicts if v.split == split]
            asked = [i for i in items if i.split == split]
            splits[split] = {
                "summary": summarize(mine),
                "retrieval": retrieval_metrics(answerer, asked, relevant, chunks, searched),
                "registers": by_key(mine, "register"),
                "categories": by_key(mine, "category"),
            }
        results["variants"][name] = {"splits": splits, "questions": [v.json() for v in verdicts]}
    if not only or PRODUCT in only:
        results["conversations"] = {split: conversations.score(base, split) for split in SPLITS}
    results["chunks"] = chunks
    results["seconds"] = round(time.perf_counter() - started, 2)
    return results


def load_thresholds() -> dict:
    return yaml.safe_load(THRESHOLDS.read_text(encoding="utf-8"))


def gated(results: dict) -> dict:
    """The figures the gate reads: the product on the test split, answers and retrieval together."""
    test = results["variants"][PRODUCT]["splits"][GATED]
    return test["summary"] | test["retrieval"]


@dataclass(frozen=True)
class Threshold:
    """One gated figure against its limit, as the gate decides it."""

    name: str
    value: float
    limit: float
    minimum: bool  # the figure must reach the limit (else: must not exceed it)

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.minimum else self.value <= self.limit

    @property
    def rule(self) -> str:
        return f"{'≥' if self.minimum else '≤'} {self.limit}"


def thresholds(results: dict, config: dict | None = None) -> list[Threshold]:
    """Every gated figure of the product on the test split beside its threshold (evals/thresholds.yaml)."""
    config = config or load_thresholds()
    metrics = gated(results)
    return [Threshold(name, metrics[name], limit, kind == "minimum")
            for kind in ("minimum", "maximum") for name, limit in config[kind].items()]  # fmt: skip


def gate(results: dict, baseline: dict | None = None) -> list[str]:
    """Failures, on the test split: a product metric past its threshold, or (with a baseline) a metric or a test
    question that got worse."""
    config = load_thresholds()
    metrics = gated(results)
    failures = [f"{t.name} = {t.value} is {'below' if t.minimum else 'above'} the threshold {t.limit}"
                for t in thresholds(results, config) if not t.met]  # fmt: skip
    if baseline:
        old_metrics = gated(baseline)
        tolerance = config.get("regression_tolerance", 0.0)
        for name in config["no_regression"]:
            if name in old_metrics and metrics[name] < old_metrics[name] - tolerance:
                failures.append(f"{name} fell from {old_metrics[name]} to {metrics[name]}")
        for q in newly_failing(results, baseline):
            failures.append(f"question {q} passed in the baseline and fails now")
    return failures


def newly_failing(results: dict, baseline: dict) -> list[str]:
    """Test questions that passed in the baseline and fail now."""
    before = {q["id"]: q["passed"] for q in baseline["variants"][PRODUCT]["questions"]}
    now = results["variants"][PRODUCT]["questions"]
    return [q["id"] for q in now if q["split"] == GATED and before.get(q["id"]) and not q["passed"]]


def read_baseline(path: Path) -> dict:
    """An earlier results.json, checked for what the gate compares before any work is done: a file of another
    shape ({"variants": {}}) ended a 48 s run in a KeyError."""
    try:
        baseline = json.loads(path.read_text(encoding="utf-8"))
        gated(baseline).keys()
        newly_failing({"variants": {PRODUCT: {"questions": []}}}, baseline)
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read baseline {path}: {getattr(err, 'strerror', None) or err}") from None
    except ValueError as err:
        raise UserError(f"baseline {path} is not JSON ({err}); give a results.json written by `ivl eval`") from None
    except (KeyError, TypeError, AttributeError):
        raise UserError(
            f"baseline {path} is not a results.json written by `ivl eval` (no {PRODUCT!r} figures on the "
            f"{GATED!r} split, or no per-question results); give one, or leave out --baseline"
        ) from None
    return baseline


def deltas(results: dict, baseline: dict) -> dict[str, tuple[float, float]]:
    now, old = gated(results), gated(baseline)
    return {k: (old[k], now[k]) for k in now if k in old and isinstance(now[k], (int, float))}
