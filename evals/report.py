"""The eval's outputs: a terminal table (rich) and one self-contained HTML file (inline CSS and SVG, no CDN)."""

from __future__ import annotations

import html
import json

from evals.suite import deltas, newly_failing

SHOWN = ["pass_rate", "key_facts_vital", "key_fact_recall", "expected_source", "citation_validity",
         "citation_faithfulness", "abstention_recall", "abstention_precision", "must_not_say_violations",
         "recall@10", "mrr@10", "ndcg@10", "latency_p50_ms", "latency_p95_ms"]  # fmt: skip


def metrics(variant: dict) -> dict:
    return variant["summary"] | variant["retrieval"]


def _fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_table(results: dict, failures: list[str], baseline: dict | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

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


def _bars(categories: dict) -> str:
    """Pass rate per category as an inline SVG bar chart."""
    rows, height = [], 22
    for i, (name, c) in enumerate(categories.items()):
        y = i * height
        width = int(300 * c["pass_rate"])
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="12">{html.escape(name)} ({c["questions"]})</text>'
            f'<rect x="190" y="{y + 4}" width="{width}" height="14" fill="#2a7"></rect>'
            f'<rect x="{190 + width}" y="{y + 4}" width="{300 - width}" height="14" fill="#e55"></rect>'
            f'<text x="500" y="{y + 15}" font-size="12">{c["pass_rate"]:.2f}</text>'
        )
    return f'<svg width="560" height="{len(categories) * height}" role="img">{"".join(rows)}</svg>'


def _highlight(chunk: str, quote: str) -> str:
    at = chunk.find(quote)
    if at < 0:
        return f"<span class='bad'>quote not found in chunk</span><br>{html.escape(chunk)}"
    return html.escape(chunk[:at]) + "<mark>" + html.escape(quote) + "</mark>" + html.escape(chunk[at + len(quote) :])


def write_html(results: dict, failures: list[str], path) -> None:
    product = results["variants"]["hybrid"]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in results["variants"])
    rows = "".join(
        f"<tr><td>{m}</td>" + "".join(f"<td>{_fmt(metrics(v).get(m, ''))}</td>" for v in results["variants"].values()) + "</tr>"
        for m in SHOWN
    )
    questions = []
    for q in product["questions"]:
        cites = "".join(
            f"<li>[{c['n']}] {html.escape(c['title'])} — {html.escape(c['section'])}, {html.escape(c['date'])} "
            f"<code>{html.escape(c['chunk_id'])}</code><div class='chunk'>"
            f"{_highlight(results['chunks'].get(c['chunk_id'], {}).get('text', ''), c['quote'])}</div></li>"
            for c in q["citations"]
        )
        checks = {
            "passed": q["passed"], "vital facts": q["facts_vital"], "expected source": q["expected_source"],
            "citations valid": q["citation_valid"], "citations faithful": q["citation_faithful"],
            "abstained": q["abstained"], "should abstain": q["expected_abstain"],
        }  # fmt: skip
        verdicts = " ".join(
            f"<span class='{'ok' if v is True else 'bad' if v is False else 'na'}'>{html.escape(k)}: {html.escape(str(v))}</span>"
            for k, v in checks.items()
        )
        problems = "".join(f"<li>{html.escape(p)}</li>" for p in q["problems"])
        questions.append(
            f"<details class='q {'pass' if q['passed'] else 'fail'}'><summary>{html.escape(q['id'])} · "
            f"{html.escape(q['category'])} · {html.escape(q['question'])}</summary><p>{verdicts}</p>"
            f"<ul class='problems'>{problems}</ul><pre>{html.escape(q['answer'])}</pre><ol>{cites}</ol></details>"
        )
    fail_list = "".join(f"<li>{html.escape(f)}</li>" for f in failures) or "<li>none: all thresholds met</li>"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ivl eval</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
td:first-child {{ text-align: left; }} .ok {{ color: #186; }} .bad {{ color: #c22; font-weight: bold; }} .na {{ color: #888; }}
details.q {{ border-left: 4px solid #2a7; margin: .4em 0; padding-left: .6em; }} details.fail {{ border-color: #e55; }}
.chunk {{ font-size: .9em; color: #444; margin: .3em 0 .8em; }} mark {{ background: #ffe27a; }}
pre {{ white-space: pre-wrap; background: #f6f6f6; padding: .5em; }} span {{ margin-right: 1em; }}
</style></head><body>
<h1>ivl eval</h1>
<p>{product['summary']['questions']} questions in {results['seconds']} s. Manifest:</p>
<pre>{html.escape(json.dumps(results['manifest'], indent=2))}</pre>
<h2>Gate</h2><ul>{fail_list}</ul>
<h2>Metrics</h2><table><tr><th>metric</th>{head}</tr>{rows}</table>
<h2>Pass rate by category (product)</h2>{_bars(product['categories'])}
<h2>Questions (product)</h2>{''.join(questions)}
</body></html>"""
    path.write_text(page, encoding="utf-8")
