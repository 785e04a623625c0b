"""The eval's outputs: a terminal table (rich) and one self-contained HTML file (inline CSS and SVG, no CDN)."""

from __future__ import annotations

import json

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape
from rich.console import Console
from rich.table import Table

from evals.suite import deltas, newly_failing

SHOWN = ["pass_rate", "key_facts_vital", "key_fact_recall", "expected_source", "citation_validity",
         "citation_faithfulness", "abstention_recall", "abstention_precision", "must_not_say_violations",
         "recall@10", "mrr@10", "ndcg@10", "latency_p50_ms", "latency_p95_ms"]  # fmt: skip


def metrics(variant: dict) -> dict:
    return variant["summary"] | variant["retrieval"]


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_table(results: dict, failures: list[str], baseline: dict | None = None) -> None:

    console = Console(stderr=True)
    table = Table(title=f"ivl eval — {results['variants']['hybrid']['summary']['questions']} questions, {results['seconds']} s")
    table.add_column("metric")
    for name in results["variants"]:
        table.add_column(name + (" (product)" if name == "hybrid" else ""), justify="right")
    if baseline:
        table.add_column("baseline → now", justify="right")
    change = deltas(results, baseline) if baseline else {}
    for m in SHOWN:
        row = [m] + [_fmt(metrics(v).get(m, "")) for v in results["variants"].values()]
        if baseline:
            old, new = change.get(m, ("", ""))
            row.append(f"{_fmt(old)} → {_fmt(new)}" if old != "" else "")
        table.add_row(*row)
    console.print(table)
    cats = Table(title="pass rate by category (product)")
    cats.add_column("category")
    cats.add_column("questions", justify="right")
    cats.add_column("pass rate", justify="right")
    for name, c in results["variants"]["hybrid"]["categories"].items():
        cats.add_row(name, str(c["questions"]), f"{c['pass_rate']:.2f}")
    console.print(cats)
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
    return {
        "passed": q["passed"], "vital facts": q["facts_vital"], "expected source": q["expected_source"],
        "citations valid": q["citation_valid"], "citations faithful": q["citation_faithful"],
        "abstained": q["abstained"], "should abstain": q["expected_abstain"],
    }  # fmt: skip


def write_html(results: dict, failures: list[str], path) -> None:
    """One self-contained page (inline CSS and SVG, no CDN), from evals/report.html.j2."""
    env = Environment(loader=PackageLoader("evals", "."), autoescape=True, keep_trailing_newline=True)
    page = env.get_template("report.html.j2").render(
        results=results, failures=failures, product=results["variants"]["hybrid"], shown=SHOWN, fmt=_fmt,
        metrics=metrics, checks=_checks, highlight=_highlight, manifest_json=json.dumps(results["manifest"], indent=2),
    )  # fmt: skip
    path.write_text(page, encoding="utf-8")
