"""The `ivl` command, the top of the house: nothing imports it. Each verb imports the layers it needs inside
itself (chromadb, onnxruntime, gradio, torch take seconds), so each verb pays only for what it uses.
Every error a user can cause ends here, once, as one line (`user_errors`)."""

from __future__ import annotations

import functools
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperCommand

from ivl.settings import Settings, load_settings
from ivl_index.errors import IndexMissing, QuestionError, UserError

if TYPE_CHECKING:  # answering imports stay inside the verbs that answer (startup time)
    from chatbot.service import AnswerService

app = typer.Typer(
    help="Cited answers about intravenous leiomyomatosis (IVL).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,  # plain help: no type labels such as <bool> or <list[Path]> on every flag
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"ivl {version('ivl-chatbot')}")
        raise typer.Exit()


@app.callback()
def _group(
    show_version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Cited answers about intravenous leiomyomatosis (IVL), from a GARD page and a 2026 case report."""


def _fail(message: str, code: int = 1):
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(verb):
    """A UserError anywhere under a verb ends it with its message on one line, exit status 1."""

    @functools.wraps(verb)
    def run(*args, **kwargs):
        try:
            return verb(*args, **kwargs)
        except UserError as err:
            _fail(str(err))

    return run


@app.command()
@user_errors
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(metavar="PATH", hidden=True)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (steps still go to stderr).")] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Also remove from the index every document not given in this run, and say which.")
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Let a file replace the indexed document whose source id it shares though it came from a file of another name (refused otherwise).")
    ] = False,
) -> None:
    """Chunk and embed documents (files or folders; default: the corpus folder) into the index, keeping every
    other document already in it; unchanged chunks are not embedded again. `ivl remove` removes one."""
    from ingest.pipeline import run_ingest

    report = run_ingest(load_settings(), paths or None, progress=as_json or sys.stderr.isatty(), prune=prune, replace=replace)
    if as_json:
        typer.echo(json.dumps(report.json()))
        return
    if report.rebuilt:
        typer.echo(f"Rebuilt: {report.rebuilt}")
    for path, source_id in report.duplicates.items():
        typer.echo(f"Skipped {path}: it repeats {source_id}")
    for source_id, title in report.removed.items():
        typer.echo(f"Removed {source_id} ({title}): not among the documents given (--prune)")
    typer.echo(
        f"{report.documents} documents, {report.chunks} chunks: {report.added} added, {report.deleted} deleted, "
        f"{report.skipped} unchanged; {report.embedded} texts embedded in {report.seconds:.1f} s"
    )
    typer.echo(f"Questions will be embedded with: {report.query_encoder}")


@app.command()
@user_errors
def remove(
    source_ids: Annotated[list[str], typer.Argument(metavar="SOURCE_ID", hidden=True)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
) -> None:
    """Remove the document SOURCE_ID (several may be given) from the index, all its chunks and sentences, and
    say what was removed. An id the index does not hold removes nothing and lists the ids it holds."""
    from ingest.pipeline import remove_documents

    removed = remove_documents(load_settings(), source_ids)
    if as_json:
        typer.echo(json.dumps({"removed": removed}))
        return
    for source_id, title in removed.items():
        typer.echo(f"Removed {source_id} ({title})")


def _answerer(settings: Settings, extractive_only: bool = False) -> AnswerService:
    """The answerer over the built index (building the index first when there is none yet), wrapped in the
    LLM answerer when IVL_LLM names a model."""
    from chatbot.answerer import Answerer
    from ingest.pipeline import run_ingest

    try:
        answerer = Answerer(settings)
    except IndexMissing:
        typer.echo(f"No index yet: building it from {settings.corpus_dir} first (ivl ingest)...", err=True)
        run_ingest(settings, progress=False)
        answerer = Answerer(settings)
    if settings.llm == "none" or extractive_only:
        return answerer
    from chatbot.llm import LLMAnswerer, make_chat_model

    return LLMAnswerer(answerer, make_chat_model(settings), settings)


def _source_lines(answer) -> list[str]:
    """The numbered sources; a quote is printed only where the answer does not already say it word for word."""
    lines = []
    for c in answer.citations:
        lines += [f"[{c.n}] {c.title} — {c.section} ({c.date}; {c.evidence})", f"    {c.url}"]
        if c.record:
            lines.append(f"    From the source's record (not the source's own words): {c.quote}")
        elif " ".join(c.quote.split()) not in {" ".join(s.split()) for s in answer.sentences}:
            lines.append(f"    “{c.quote}”")
        if c.note:
            lines.append(f"    Editor's note (not the source's words): {c.note}")
    if answer.related:
        lines.append("\nClosest passages (not an answer; judge for yourself):")
    for r in answer.related:
        lines += [f"  - {r.title} — {r.section}", f"    “{r.quote}”"]
    return lines


def _print_answer(answer) -> None:
    """On a terminal, the Markdown rendered; piped, plain unwrapped text (no escapes, no hard line breaks)."""
    definition = (
        f"Definition of {answer.definition.term} (this tool's glossary, not the sources): {answer.definition.text}\n"
        if answer.definition else ""
    )  # fmt: skip
    if not sys.stdout.isatty():
        from chatbot.render import plain, source_refs  # lazy, like every answering import here

        if definition:
            typer.echo(definition)
        typer.echo(source_refs(plain(answer.answer)))
        if answer.citations:
            typer.echo("\nSources")
        for line in _source_lines(answer):
            typer.echo(line)
        typer.echo("")
        return
    from rich.console import Console  # lazy: rich's Markdown pulls in markdown-it and pygments
    from rich.markdown import Markdown

    from chatbot.render import source_refs

    console = Console()
    if definition:
        console.print(definition, markup=False, highlight=False)
    console.print(Markdown(source_refs(answer.answer)))
    if answer.citations:
        console.print("\n[bold]Sources[/bold]")
    for line in _source_lines(answer):
        console.print(line, markup=False, highlight=False)


class AnyTextQuestion(TyperCommand):
    """`ivl ask`: any text is the question, even "-what is IVL" or "-h pain?", and unquoted words are joined
    into one. Only an argument that is exactly one of the command's options (all flags) is an option."""

    def parse_args(self, ctx, args):
        options = {name for param in self.get_params(ctx) for name in (*param.opts, *param.secondary_opts)}
        flags = [a for a in args if a in options]
        words = [a for a in args if a not in options and a != "--"]
        return super().parse_args(ctx, [*flags, "--", " ".join(words)] if words else flags)


@app.command(cls=AnyTextQuestion)
@user_errors
def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION", hidden=True)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per question.")] = False,
) -> None:
    """Answer QUESTION from the sources, every sentence cited; abstain when they do not answer it. QUESTION "-"
    reads one question per line from stdin."""
    answerer = _answerer(load_settings())
    questions = (line.rstrip("\n") for line in sys.stdin) if question == "-" else [question]
    failed = False
    for q in questions:
        if question == "-" and not q.strip():
            continue
        try:
            answer = answerer.answer(q)
        except QuestionError as err:  # one bad question in a batch: say so and go on
            failed = True
            if as_json:
                typer.echo(json.dumps({"question": q, "error": str(err)}))
            else:
                typer.echo(f"error: {err}", err=True)
            continue
        if as_json:
            typer.echo(json.dumps(answer.model_dump(), ensure_ascii=False))
            sys.stdout.flush()
        else:
            _print_answer(answer)
    if failed and question != "-":
        raise typer.Exit(1)


@app.command()
@user_errors
def calibrate() -> None:
    """Choose the abstention thresholds on evals/questions.yaml and write chatbot/data/calibration.json."""
    from evals.calibrate import calibrate as run

    settings = load_settings()
    _answerer(settings, extractive_only=True)  # builds the index if needed
    result = run(settings)
    typer.echo(json.dumps(result, indent=2))


class Part(StrEnum):
    all = "all"
    matcher = "matcher"
    plants = "plants"
    study = "study"


@app.command()
@user_errors
def train(
    out: Annotated[Path | None, typer.Option(help="Folder to write the matcher to (default: the shipped one, ivl_index/data/matcher).", metavar="FOLDER")] = None,
    leave_out: Annotated[str | None, typer.Option(help="Train without the questions about this source id (to measure how the matcher does on a document it never saw).", metavar="SOURCE_ID")] = None,
    epochs: Annotated[int, typer.Option(min=1, max=20, help="Passes over the training pairs.")] = 2,
    medquad: Annotated[int, typer.Option(min=0, max=4000, help="General medical pairs from MedQuAD to train on (0: none).", metavar="N")] = 2000,
    part: Annotated[Part, typer.Option(help="What to train: the matcher (minutes), the plant detector (seconds), both (all), or the Study tab's answer reader (a minute; not part of all: it reads with the index's encoder, so refit it after `ivl ingest`).")] = Part.all,
) -> None:
    """Fine-tune the bundled MiniLM into the question-to-sentence matcher (fixed seed; minutes on 2 cores) and fit
    the plant detector (ivl_index/data/plant-detector); after the matcher, run `ivl ingest` and `ivl calibrate`."""
    settings = load_settings()
    say = lambda m: typer.echo(m, err=True)  # noqa: E731
    metrics = {}
    if part in (Part.all, Part.plants):
        from evals.plants import train as fit_detector
        from evals.trainset import Locator
        from ivl_index.learned import DETECTOR

        metrics["plant_detector"] = fit_detector(DETECTOR, [s.text for s in Locator(settings.corpus_dir).sentences], say=say)
    if part in (Part.all, Part.matcher):
        from evals.train import Recipe
        from evals.train import train as run
        from ivl_index.learned import SHIPPED

        metrics["matcher"] = run(settings.corpus_dir, out or SHIPPED, Recipe(epochs=epochs, medquad=medquad), leave_out, say=say)
    if part == Part.study:
        from evals.student import FIT_FILE, encoder
        from evals.student import fit as fit_reader

        metrics["study"] = fit_reader(encoder(_answerer(settings, extractive_only=True).encoder), out / "student-reading.json" if out else FIT_FILE)
    typer.echo(json.dumps(metrics, indent=1))


@app.command()
@user_errors
def chat(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: IVL_CHAT_HOST).", metavar="HOST")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: IVL_CHAT_PORT).", min=1, max=65535, metavar="PORT")
    ] = None,
) -> None:
    """Serve the chat (Gradio); builds the index first if there is none."""
    settings = load_settings()
    settings = settings.model_copy(update={k: v for k, v in {"chat_host": host, "chat_port": port}.items() if v is not None})
    _port_free(settings.chat_host, settings.chat_port)  # before anything is printed or loaded
    answerer = _answerer(settings)
    from ivl.ui import serve  # lazy: gradio takes seconds to import

    typer.echo(f"IVL chat: http://{settings.chat_host}:{settings.chat_port}  (Ctrl+C to stop)")
    try:
        serve(answerer, settings)
    except OSError as err:
        _port_free(settings.chat_host, settings.chat_port)  # taken while the index loaded
        _fail(f"cannot serve on {settings.chat_host}:{settings.chat_port} ({err})")


def _port_free(host: str, port: int) -> None:
    """A busy or unusable address ends in one line naming the flag to change."""
    import socket

    try:
        socket.getaddrinfo(host, port)
    except socket.gaierror:  # create_server would say only "Unknown error -2"
        _fail(f"cannot resolve the host name {host!r}; set IVL_CHAT_HOST (or --host) to an address such as 127.0.0.1 "
              "or 0.0.0.0, or a name this machine resolves")  # fmt: skip
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as err:
        import os

        reason = os.strerror(err.errno) if err.errno else str(err)
        _fail(f"cannot listen on {host}:{port} ({reason}); choose another with --port (or --host)")


@app.command(name="eval")
@user_errors
def evaluate(
    out: Annotated[Path | None, typer.Option(help="Folder for results.json and report.html (default: DATA_DIR/eval).", metavar="FOLDER")] = None,
    baseline: Annotated[Path | None, typer.Option(help="An earlier results.json to compare against.", metavar="FILE")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results JSON on stdout.")] = False,
    llm: Annotated[bool, typer.Option("--llm", help="Also run the suite through the IVL_LLM answerer.")] = False,
) -> None:
    """Score answers against the labelled facts; exit 1 when a threshold fails or anything regressed."""
    from evals.report import print_table, write_html
    from evals.suite import gate, read_baseline, run_suite

    settings = load_settings()
    if llm and settings.llm == "none":
        _fail("--llm needs a model: set IVL_LLM (e.g. ollama:llama3.1)")
    old = read_baseline(baseline) if baseline else None  # before the run: a wrong file fails at once
    llm_answerer = _answerer(settings) if llm else None
    _answerer(settings, extractive_only=True)  # builds the index if needed
    results = run_suite(settings, progress=sys.stderr.isatty(), llm=llm_answerer)
    failures = gate(results, old)
    results["failures"] = failures
    folder = out or settings.data_dir / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    write_html(results, failures, folder / "report.html")
    # The table on stdout (`ivl eval > file` keeps it), unless stdout carries the JSON, which must stay pure.
    print_table(results, failures, old, file=sys.stderr if as_json else sys.stdout)
    typer.echo(f"results: {folder / 'results.json'}  report: {folder / 'report.html'}", err=True)
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False))
    if failures:
        raise typer.Exit(1)


@app.command()
@user_errors
def bench(
    scales: Annotated[str, typer.Option(help="Synthetic corpus sizes beyond 1x, comma-separated (1000 took 71 minutes of ingest on 2 cores).", metavar="N,N")] = "10,100",
    repeats: Annotated[int, typer.Option(min=1, help="Repeats per measurement; medians are reported.", metavar="N")] = 3,
    out: Annotated[Path | None, typer.Option(help="Folder for bench.json, bench.md, bench-scale.png (default DATA_DIR/bench).", metavar="FOLDER")] = None,
    parts: Annotated[str, typer.Option(help="Which measurements, comma-separated: warm,cold,serve,ingest,scale (scale includes memory).", metavar="PART,PART")] = "warm,cold,serve,ingest,scale",
    work_dir: Annotated[Path | None, typer.Option(help="An empty folder to build the bench's indexes in, kept afterwards (default: a temporary folder, removed).", metavar="FOLDER")] = None,
) -> None:
    """Benchmark latency (vs the floor and a plain LangChain RAG), cold start, ingest, scale, memory, concurrency."""
    from evals.bench import markdown, run_bench

    settings = load_settings()
    try:
        factors = [int(x) for x in scales.split(",") if x]
    except ValueError:
        _fail(f"--scales takes whole numbers separated by commas, e.g. 10,100 (got {scales!r})")
    chosen = [p for p in parts.split(",") if p]
    results = run_bench(settings, factors, repeats, out or settings.data_dir / "bench", chosen, work_dir)
    typer.echo(markdown(results))
