"""The eval's outputs: a terminal table (rich) and one self-contained HTML file (inline CSS and SVG, no CDN)."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape
from rich.console import Console
from rich.table import Table

from evals.labelled import REGISTERS
from evals.suite import GATED, PRODUCT, SPLITS, deltas, newly_failing, thresholds

SHOWN = ["answerable_right", "key_facts_vital", "key_fact_recall", "expected_source", "false_abstention_rate",
         "abstention_recall", "abstention_precision", "abstentions_and_traps_right", "citation_validity",
         "citation_faithfulness", "must_not_say_violations", "lead_carries_vital_fact",
         "sentences_bearing_on_question", "answer_words_median", "answer_words_p90",
         "recall@10", "mrr@10", "ndcg@10", "latency_p50_ms", "latency_p95_ms"]  # fmt: skip
# What a reader of one register needs at a glance: are the answers right, cited, honest, short?
BY_REGISTER = ["questions", "answerable_right", "expected_source", "false_abstention_rate",
               "abstentions_and_traps_right", "lead_carries_vital_fact", "sentences_bearing_on_question",
               "answer_words_median"]  # fmt: skip
CONVERSATION = ["later_turns", "followup_used_when_needed", "followup_kept_out_when_standalone",
                "right_when_needed", "right_when_standalone"]  # fmt: skip


def metrics(variant: dict, split: str = GATED) -> dict:
    return variant["splits"][split]["summary"] | variant["splits"][split]["retrieval"]


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def failing(results: dict, split: str = GATED) -> list[dict]:
    """The product's failing questions of a split, each with what went wrong."""
    return [q for q in results["variants"][PRODUCT]["questions"] if q["split"] == split and not q["passed"]]


def print_table(results: dict, failures: list[str], baseline: dict | None = None, file: TextIO | None = None) -> None:
    """Figures first, each gated one beside its threshold in the gate's colour, then what failed: the failing test
    questions and their missing facts, then the gate. file: stdout unless given."""
    out = file or sys.stdout
    console = Console(file=out, width=None if out.isatty() else 150)  # a log keeps the columns readable
    product = results["variants"][PRODUCT]
    limits = {t.name: t for t in thresholds(results)}
    n = {split: product["splits"][split]["summary"]["questions"] for split in SPLITS}
    table = Table(title=f"ivl eval — test split ({n['test']} questions, gated); tune: {n['tune']}; {results['seconds']} s")
    table.add_column("metric (test)")
    for name in results["variants"]:
        table.add_column(name + (" (product)" if name == PRODUCT else ""), justify="right")
        if name == PRODUCT:
            table.add_column("threshold", justify="right")
    table.add_column("product on tune", justify="right")
    if baseline:
        table.add_column("baseline → now", justify="right")
    change = deltas(results, baseline) if baseline else {}
    for m in SHOWN:
        row = [m]
        for name, v in results["variants"].items():
            row.append(_fmt(metrics(v).get(m, "")))
            if name == PRODUCT:
                t = limits.get(m)
                colour = "green" if t and t.met else "red"
                row[-1] = f"[{colour}]{row[-1]}[/{colour}]" if t else row[-1]
                row.append(f"[{colour}]{t.rule}[/{colour}]" if t else "")
        row.append(_fmt(metrics(product, "tune").get(m, "")))
        if baseline:
            old, new = change.get(m, ("", ""))
            row.append(f"{_fmt(old)} → {_fmt(new)}" if old != "" else "")
        table.add_row(*row)
    console.print(table)
    registers = Table(title="product by register: test | tune (not gated: the gate reads the whole test split)")
    registers.add_column("register")
    for m in BY_REGISTER:
        registers.add_column(m, justify="right")
    for reg in REGISTERS:
        cells = [product["splits"][split]["registers"].get(reg, {}) for split in SPLITS[::-1]]
        registers.add_row(reg, *(" | ".join(_fmt(c.get(m, "")) for c in cells) for m in BY_REGISTER))
    console.print(registers)
    if results.get("conversations"):
        conv = Table(title="product on multi-turn conversations (later turns): test | tune")
        conv.add_column("metric")
        conv.add_column("test | tune", justify="right")
        for m in CONVERSATION:
            conv.add_row(m, " | ".join(_fmt(results["conversations"][s][m]) for s in ("test", "tune")))
        console.print(conv)
    cats = Table(title="product by category (test)")
    cats.add_column("category")
    cats.add_column("questions", justify="right")
    cats.add_column("pass rate", justify="right")
    for name, c in product["splits"][GATED]["categories"].items():
        cats.add_row(name, str(c["questions"]), f"{c['pass_rate']:.2f}")
    console.print(cats)
    for q in failing(results):
        console.print(f"[red]failing[/red] {q['id']} ({q['register']}, {q['category']}): {q['question']}", highlight=False)
        console.print(f"    {'; '.join(q['problems']) or 'failed'}", highlight=False, markup=False)
        if q.get("diagnostics"):
            console.print(f"    why: {why(q['diagnostics'])}", highlight=False, markup=False)
    if baseline:
        for q in newly_failing(results, baseline):
            console.print(f"[red]newly failing:[/red] {q}")
    for f in failures:
        console.print(f"[red]FAIL[/red] {f}", markup=True, highlight=False)
    if not failures:
        console.print(f"[green]all thresholds met ({len(limits)} gated figures, each beside its threshold)[/green]")


def why(d: dict) -> str:
    """One line telling retrieval from ranking from abstention: the decision against the cut, the gold passages
    found, and the best-ranked sentence's probability."""
    parts = []
    if d["answer_at"] is not None:
        side = "at or above" if d["answerable"] >= d["answer_at"] else "below"
        parts.append(f"P(answerable) {d['answerable']:.3f} {side} the cut {d['answer_at']:.3f}")
    if d.get("gold_chunks"):
        found = sum(p["chunk_id"] in d["gold_chunks"] for p in d["passages"])
        parts.append(f"{found} of {len(d['gold_chunks'])} gold passages retrieved")
    if d["ranked"]:
        parts.append(f"best sentence P {d['ranked'][0]['probability']:.3f}")
    return "; ".join(parts) or "no search (refused before retrieval)"


def _highlight(chunk: str, quote: str) -> Markup:
    """The chunk with the quote marked, escaped."""
    at = chunk.find(quote)
    if at < 0:
        return Markup("<span class='bad'>quote not found in chunk</span><br>") + chunk
    return escape(chunk[:at]) + Markup("<mark>") + quote + Markup("</mark>") + chunk[at + len(quote) :]


def _checks(q: dict) -> list[tuple[str, bool | None]]:
    """Each check as a statement that says what happened and whether that was right (True), wrong (False) or
    either (None). Never a bare yes/no: "abstained: no" stood above "abstained on a question the sources answer"."""
    expected, abstained = q["expected_abstain"], q["abstained"]
    if expected == "any":
        decision = ("abstained (either is honest)" if abstained else "answered (either is honest)", None)
    elif abstained:
        decision = ("abstained, as it should", True) if expected else ("abstained, but the sources answer it", False)
    elif expected:
        decision = ("answered, but the sources do not answer it", False)
    else:
        decision = ("answered, as it should", True)
    out = [("passed" if q["passed"] else "failed", q["passed"]), decision]
    if q["facts_vital"] is not None:
        out.append(("vital facts stated" if q["facts_vital"] else "vital facts missing", q["facts_vital"]))
    if q["expected_source"] is not None:
        cites = "cites an expected source" if q["expected_source"] else "cites no expected source"
        out.append((cites, q["expected_source"]))
    out.append(("citations valid" if q["citation_valid"] else "a citation is invalid", q["citation_valid"]))
    out.append(("citations faithful" if q["citation_faithful"] else "a citation is unfaithful", q["citation_faithful"]))
    return out


def write_html(results: dict, failures: list[str], path) -> None:
    """One self-contained page (inline CSS and SVG, no CDN), from evals/report.html.j2."""
    env = Environment(loader=PackageLoader("evals", "."), autoescape=True, keep_trailing_newline=True)
    page = env.get_template("report.html.j2").render(
        results=results, failures=failures, product=results["variants"][PRODUCT], shown=SHOWN, fmt=_fmt,
        metrics=metrics, checks=_checks, highlight=_highlight, manifest_json=json.dumps(results["manifest"], indent=2),
        registers=REGISTERS, by_register=BY_REGISTER, splits=SPLITS, gated=GATED, failing=failing(results),
        thresholds=thresholds(results), limits={t.name: t for t in thresholds(results)}, product_name=PRODUCT,
    )  # fmt: skip
    path.write_text(page, encoding="utf-8")
