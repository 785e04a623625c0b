"""The eval's outputs: a terminal table (rich) and one self-contained HTML file (inline CSS and SVG, no CDN)."""

from __future__ import annotations

import json
import sys

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape
from rich.console import Console
from rich.table import Table

from evals.labelled import REGISTERS
from evals.suite import GATED, PRODUCT, SPLITS, deltas, newly_failing

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


def print_table(results: dict, failures: list[str], baseline: dict | None = None) -> None:
    """Figures first, then what failed: the failing test questions and their missing facts, then the gate."""
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)  # a log keeps the columns readable
    product = results["variants"][PRODUCT]
    n = {split: product["splits"][split]["summary"]["questions"] for split in SPLITS}
    table = Table(title=f"ivl eval — test split ({n['test']} questions, gated); tune: {n['tune']}; {results['seconds']} s")
    table.add_column("metric (test)")
    for name in results["variants"]:
        table.add_column(name + (" (product)" if name == PRODUCT else ""), justify="right")
    table.add_column("product on tune", justify="right")
    if baseline:
        table.add_column("baseline → now", justify="right")
    change = deltas(results, baseline) if baseline else {}
    for m in SHOWN:
        row = [m] + [_fmt(metrics(v).get(m, "")) for v in results["variants"].values()]
        row.append(_fmt(metrics(product, "tune").get(m, "")))
        if baseline:
            old, new = change.get(m, ("", ""))
            row.append(f"{_fmt(old)} → {_fmt(new)}" if old != "" else "")
        table.add_row(*row)
    console.print(table)
    registers = Table(title="product by register: test | tune")
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
    if baseline:
        for q in newly_failing(results, baseline):
            console.print(f"[red]newly failing:[/red] {q}")
    for f in failures:
        console.print(f"[red]FAIL[/red] {f}", markup=True, highlight=False)
    if not failures:
        console.print("[green]all thresholds met[/green]")


def _highlight(chunk: str, quote: str) -> Markup:
    """The chunk with the quote marked, escaped."""
    at = chunk.find(quote)
    if at < 0:
        return Markup("<span class='bad'>quote not found in chunk</span><br>") + chunk
    return escape(chunk[:at]) + Markup("<mark>") + quote + Markup("</mark>") + chunk[at + len(quote) :]


def _checks(q: dict) -> dict:
    """Each check as True (good), False (bad) or None (not applicable): a correct abstention is good."""
    expected = q["expected_abstain"]
    right = None if expected == "any" else q["abstained"] == expected
    return {
        "passed": q["passed"], "vital facts": q["facts_vital"], "expected source": q["expected_source"],
        "citations valid": q["citation_valid"], "citations faithful": q["citation_faithful"],
        ("abstained" if q["abstained"] else "answered") + (" (either is honest)" if expected == "any" else ""): right,
    }  # fmt: skip


def write_html(results: dict, failures: list[str], path) -> None:
    """One self-contained page (inline CSS and SVG, no CDN), from evals/report.html.j2."""
    env = Environment(loader=PackageLoader("evals", "."), autoescape=True, keep_trailing_newline=True)
    page = env.get_template("report.html.j2").render(
        results=results, failures=failures, product=results["variants"][PRODUCT], shown=SHOWN, fmt=_fmt,
        metrics=metrics, checks=_checks, highlight=_highlight, manifest_json=json.dumps(results["manifest"], indent=2),
        registers=REGISTERS, by_register=BY_REGISTER, splits=SPLITS, gated=GATED, failing=failing(results),
    )  # fmt: skip
    path.write_text(page, encoding="utf-8")
