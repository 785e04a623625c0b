"""The Gradio chat. `build_app` makes the Blocks (tests drive `Handlers` without a server); `serve` launches it.

The conversation lives in per-session state as turns (question, answer, feedback); the screen is always drawn
from those turns, so "New conversation", a view switch and feedback all change the one record the answerer's
follow-ups also use. Rendering is in ivl/render.py, the clean Markdown for copy and export in ivl/export.py.
"""

# No `from __future__ import annotations` here: Gradio reads the gr.LikeData annotation at run time.
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

from chatbot.glossary import Glossary
from chatbot.models import Answer
from chatbot.render import escape_markdown
from chatbot.service import AnswerService
from ingest.loaders import load
from ivl.export import conversation_markdown
from ivl.guard import Guard, LoginThrottle, allowed_hosts, limit_connections, quiet_request_errors
from ivl.render import CLINICIAN, STUDENT, render_answer, render_section, section_at
from ivl.settings import Settings
from ivl.study import Study
from ivl_index.errors import QuestionError, UserError

INTRO = (
    "An information tool about **intravenous leiomyomatosis (IVL)**, grounded in two sources only: the "
    "GARD information page (NIH, last updated 2013) and a case report with literature review (Zhao & Tian, "
    "2026). Every sentence of an answer is quoted from them and numbered; when they do not answer, it says so. "
    "**It is not medical advice.**"
)
EXAMPLES = [
    "What is intravenous leiomyomatosis?",
    "How many cases of IVL have been reported?",
    "What are the symptoms of intravenous leiomyomatosis?",
    "How is IVL treated?",
    "What is the recurrence rate after myomectomy?",
    "What does adnexectomy mean?",
]
# System fonts only: Gradio's default theme fetches Inter from Google Fonts, an outbound request.
FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
PAGE = files("ivl").joinpath("page")
THANKS = "Thanks: your feedback was saved."
ASK_COMMENT = "Feedback saved. What was wrong? You can say below the conversation (optional)."
THANKS_COMMENT = "Thanks: your feedback and comment were saved."
FULL = "Feedback not saved: this chat's feedback file is full (whoever runs it can move it away or raise IVL_FEEDBACK_MAX_MB)."
DOWNLOAD_JS = """(text) => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/markdown" }));
  link.download = "ivl-conversation.md";
  document.body.appendChild(link);
  link.click();
  link.remove();
}"""


class FeedbackLog:
    """Thumbs up/down (and an optional comment) in a JSONL file, the only place a question is written. One record
    per answer shown (its turn id): a new verdict or a comment replaces the record, the same click replayed writes
    nothing, and the file stops growing at `max_bytes`, so no client can fill the disk."""

    def __init__(self, path: Path, max_bytes: int):
        self.path = path
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._saved: dict[str, tuple[str, str]] | None = None  # turn id -> (verdict, comment), read once

    def add(self, turn: str, answer: dict, verdict: str, comment: str = "") -> bool:
        """Save the record for `turn`; False when the file is full."""
        record = {
            "turn": turn,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "verdict": verdict,
            "question": answer["question"],
            "answer": answer["answer"],
            "citations": answer["citations"],
        } | ({"comment": comment} if comment else {})
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            if self._saved is None:
                self._saved = {r.get("turn", ""): (r["verdict"], r.get("comment", "")) for r in self._records()}
            if self._saved.get(turn) == (verdict, comment):
                return True
            size = self.path.stat().st_size if self.path.exists() else 0
            if size + len(line.encode()) > self.max_bytes:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if turn in self._saved:  # rewritten without the old record; a crash mid-write leaves the old file whole
                kept = [json.dumps(r, ensure_ascii=False) + "\n" for r in self._records() if r.get("turn") != turn]
                partial = self.path.with_suffix(".partial")
                partial.write_text("".join(kept) + line, encoding="utf-8")
                partial.replace(self.path)
            else:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line)
            self._saved[turn] = (verdict, comment)
        return True

    def _records(self) -> list[dict]:
        text = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]


class Passages:
    """chunk id -> (text, start offset): the passage a citation's quote is highlighted in. Read again when the
    answerer has moved to a new index version and a cited chunk is not known yet."""

    def __init__(self, answerer):
        self.answerer = answerer
        self.by_id: dict[str, tuple[str, int]] = {}

    def get(self, chunk_id: str) -> tuple[str, int] | None:
        if chunk_id not in self.by_id:
            self.by_id = {d.metadata["chunk_id"]: (d.page_content, int(d.metadata.get("start", -1))) for d in self.answerer.chunks()}
        return self.by_id.get(chunk_id)


@dataclass
class Handlers:
    """What the page does, as plain functions of (inputs, per-session state) -> outputs."""

    answerer: AnswerService
    settings: Settings
    glossary: Glossary = field(default_factory=Glossary.load)
    feedback: FeedbackLog | None = None
    passages: Passages | None = None

    def __post_init__(self):
        self.passages = self.passages or Passages(self.answerer)

    @staticmethod
    def new_session() -> dict:
        """questions: what the answerer's follow-ups read; turns: what the screen shows, one per question."""
        return {"questions": [], "turns": []}

    def show(self, session: dict, view: str) -> list[dict]:
        """The whole conversation drawn from the session's turns."""
        messages = []
        for i, turn in enumerate(session["turns"]):
            messages.append(_msg("user", escape_markdown(turn["question"][:2000]) or "…"))
            if turn["answer"] is not None:
                answer = Answer.model_validate(turn["answer"])
                reply = render_answer(answer, view, self.glossary, str(i), self.passages, turn["feedback"])
            else:
                reply = f"*{escape_markdown(turn['message'])}*"
            messages.append(_msg("assistant", reply))
        return messages

    def respond(self, message: str, history: list, view: str, session: dict, alone: bool = False):
        """One turn, as the answerer's `stream` gives it: progress while a model writes (the LLM path), then only
        the checked answer, or a clear message. A model's draft is never shown: a clinician who reads an
        unchecked claim has read it, even if it is replaced a second later. `history` is the chat as the page
        holds it, part of the `/ask` API's signature; the screen is redrawn from the session's turns instead.
        An empty question adds nothing. `alone`: read the question without the conversation ("Ask it on its own")."""
        session = {"questions": list(session["questions"]), "turns": list(session["turns"])}
        message = message if isinstance(message, str) else ""
        if not message.strip():
            yield self.show(session, view), "", session
            return
        shown = None  # the conversation so far, drawn once when a model's progress is first shown
        try:
            shown_words = -1
            for step in self.answerer.stream(message, [] if alone else session["questions"]):
                if isinstance(step, str):
                    words = len(step.split())
                    if words == shown_words:  # models stream a few characters at a time; redraw per word
                        continue
                    shown_words = words
                    shown = shown if shown is not None else self.show(session, view)
                    progress = f"*Writing the answer ({words} word{'s' * (words != 1)} so far); it appears once every claim is checked against its source…*"
                    yield shown + [_msg("user", escape_markdown(message[:2000])), _msg("assistant", progress)], "", session
                    continue
                session["questions"].append(step.question)
                self._add(session, _turn(step.question, answer=step.model_dump()))
                yield self.show(session, view), "", session
        except QuestionError as err:
            self._add(session, _turn(message[:200], message=str(err)))
            yield self.show(session, view), "", session
        except Exception as err:  # noqa: BLE001 -- a failing index must not crash the page; say what happened
            reason = str(err) if isinstance(err, UserError) else "knowledge base unavailable; try again in a moment"
            self._add(session, _turn(message[:2000], message=reason[:1].upper() + reason[1:]))
            yield self.show(session, view), message, session

    def respond_alone(self, message: str, view: str, session: dict):
        """The page's "Ask it on its own": the question asked again, read without the conversation."""
        for shown, _, state in self.respond(message, [], view, session, alone=True):
            yield shown, state

    def _add(self, session: dict, turn: dict) -> None:
        """Keep the last IVL_CHAT_MAX_TURNS turns (and questions for follow-ups): a conversation's memory, and the
        time and size of each redraw, stay bounded however long it runs."""
        keep = self.settings.chat_max_turns
        session["turns"] = [*session["turns"], turn][-keep:]
        session["questions"] = session["questions"][-keep:]

    def record_feedback(self, index, liked: bool | None, session: dict, view: str) -> tuple[list, dict, bool]:
        """Save a thumbs up/down and confirm it on the answer itself, just above the thumbs. Returns the redrawn
        conversation, the session, and whether to offer the optional comment (after a thumbs-down)."""
        position = index[0] if isinstance(index, (list, tuple)) else index
        turns = list(session["turns"])
        turn = turns[position // 2] if isinstance(position, int) and 0 <= position // 2 < len(turns) else None
        if self.feedback is None or turn is None or turn["answer"] is None:
            return self.show(session, view), session, False
        saved = self.feedback.add(turn["id"], turn["answer"], "up" if liked else "down")
        turns[position // 2] = turn | {"feedback": (THANKS if liked else ASK_COMMENT) if saved else FULL}
        session = session | {"turns": turns, "commenting": turn["id"] if saved and not liked else None}
        return self.show(session, view), session, saved and not liked

    def record_comment(self, comment: str, session: dict, view: str) -> tuple[list, dict]:
        """The optional comment after a thumbs-down, saved with the answer it is about."""
        turns = list(session["turns"])
        at = next((i for i, t in enumerate(turns) if t["id"] == session.get("commenting")), None)
        comment = (comment or "").strip()[: self.settings.max_question_chars]
        if self.feedback is None or at is None or not comment:
            return self.show(session, view), session
        saved = self.feedback.add(turns[at]["id"], turns[at]["answer"], "down", comment)
        turns[at] = turns[at] | {"feedback": THANKS_COMMENT if saved else FULL}
        session = session | {"turns": turns, "commenting": None}
        return self.show(session, view), session

    def export(self, session: dict) -> str:
        """The conversation as clean Markdown ("Export conversation")."""
        turns = [(t["question"], Answer.model_validate(t["answer"]) if t["answer"] else t["message"]) for t in session["turns"]]
        return conversation_markdown(turns)

    def study(self, question: str, attempt: str, study: Study) -> str:
        """The student's answer read against the item's key facts (stated, missed, or wrong with the value the
        sources give), then the brief answer and the cited one."""
        offered = study.offered.get(question)
        if offered is None:
            return "*Pick a question first.*"
        attempt = attempt if isinstance(attempt, str) else ""
        if len(attempt) > self.settings.max_question_chars:
            return f"*Your answer is longer than {self.settings.max_question_chars} characters; shorten it and try again.*"
        if attempt.strip():
            readings = study.read(offered.item, attempt)
            mine = f"**Your answer:** {escape_markdown(attempt.strip())}\n\n{study_verdict(readings, offered.answer)}"
        else:
            mine = "**Your answer:** *(none written: write one to see which key facts it states)*"
        cited = render_answer(offered.answer, STUDENT, self.glossary, "study", self.passages)
        return f"{mine}\n\n**In brief** (this tool's summary): {escape_markdown(offered.item.explain)}\n\n**The cited answer:**\n\n{cited}"


def study_verdict(readings: list, answer: Answer) -> str:
    """Per key fact, in three lines: stated, missed, wrong (what the student wrote, what the sources say, and the
    citation that says it)."""
    stated = [r.label for r in readings if r.verdict == "stated"]
    missed = [r.label for r in readings if r.verdict == "missing"]
    wrong = []
    for r in (r for r in readings if r.verdict == "wrong"):
        cite = next((f" [{c.n}]" for c in answer.citations if r.right and r.right in c.quote), "")
        said = f" (you wrote {escape_markdown(r.said)}; the sources say {escape_markdown(r.right)}{cite})" if r.said else ""
        wrong.append(escape_markdown(r.label) + said)
    lines = [("**Key facts you stated:** " + "; ".join(map(escape_markdown, stated))) if stated else ""]
    lines.append(("**Key facts you got wrong:** " + "; ".join(wrong)) if wrong else "")
    lines.append(("**Key facts you missed:** " + "; ".join(map(escape_markdown, missed))) if missed else "")
    if not missed and not wrong:
        lines.append("**You stated every key fact.**")
    return "\n\n".join(line for line in lines if line)


def _msg(role: str, content: str) -> dict:
    return {"role": role, "content": content}


def _turn(question: str, answer: dict | None = None, message: str | None = None) -> dict:
    """One question and what came of it; `id` names it in feedback.jsonl (its place shifts as old turns go)."""
    return {"id": uuid.uuid4().hex, "question": question, "answer": answer, "message": message, "feedback": ""}


def source_documents(answerer) -> list:
    """The documents behind the index, read from their files, for the Sources tab."""
    paths = dict.fromkeys(d.metadata.get("path") for d in answerer.chunks() if d.metadata.get("path"))
    docs = []
    for path in paths:
        try:
            docs.append(load(Path(path)))
        except UserError:
            continue  # the file moved since ingest; its chunks still answer, it just cannot be browsed
    return docs


def cited_place(docs: list, params: dict) -> tuple | None:
    """(document, section name, (start, end)) for a link from a citation (?doc=ID&at=START&to=END), if valid."""
    doc = next((d for d in docs if d.source_id == params.get("doc")), None)
    try:
        at, to = int(params.get("at", "")), int(params.get("to", ""))
    except ValueError:
        return None
    if doc is None or not 0 <= at < to <= len(doc.text) or to - at > 5000:
        return None
    section = section_at(doc, at)
    return (doc, section, (at, to)) if section else None


def build_app(answerer, settings: Settings):
    """The page: a header, the view selector, and one tab per use (ask, sources, study), each built by its own
    function below."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr  # lazy: set analytics off first; and only the chat needs gradio

    feedback = FeedbackLog(settings.data_dir / "feedback.jsonl", int(settings.feedback_max_mb * 2**20)) if settings.feedback else None
    handlers = Handlers(answerer, settings, feedback=feedback)
    with gr.Blocks(title="IVL literature chatbot", analytics_enabled=False) as demo:
        gr.Markdown("## Intravenous leiomyomatosis: cited answers", elem_id="title")
        gr.Markdown(INTRO, elem_id="intro")
        view = gr.Radio([CLINICIAN, STUDENT], value=CLINICIAN, label="View", info="Student adds plain-language definitions.", elem_id="view")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Ask", id="ask"):
                ask_tab(gr, handlers, view)
            with gr.Tab("Sources", id="sources"):
                sources_tab(gr, demo, tabs, source_documents(answerer))
            with gr.Tab("Study", id="study"):
                study_tab(gr, handlers, Study(answerer))
    return demo


def ask_tab(gr, handlers: Handlers, view) -> None:
    """The conversation, the question box, feedback (when kept), new conversation and export."""
    settings, feedback = handlers.settings, handlers.feedback
    session = gr.State(Handlers.new_session())
    chat = gr.Chatbot(
        show_label=False, height="auto", min_height=160, elem_id="chat", sanitize_html=True,
        buttons=["copy"], feedback_options=("Like", "Dislike") if feedback else None, autoscroll=False,
    )  # fmt: skip
    with gr.Row(visible=False, elem_id="comment-row") as comment_row:
        comment = gr.Textbox(
            placeholder="What was wrong with this answer? (optional)", show_label=False, scale=8,
            max_length=settings.max_question_chars, elem_id="comment",
        )  # fmt: skip
        send_comment = gr.Button("Send", scale=1, elem_id="send-comment")
    with gr.Row(elem_id="question-row"):
        box = gr.Textbox(
            placeholder="Ask about IVL, e.g. how it is treated", show_label=False, scale=8,
            max_length=settings.max_question_chars, elem_id="question",
        )  # fmt: skip
        send = gr.Button("Ask", variant="primary", scale=1, min_width=60, elem_id="send")
    with gr.Row():
        clear = gr.Button("New conversation", size="sm", elem_id="new-conversation")
        export = gr.Button("Export conversation", size="sm", elem_id="export")
    exported = gr.Textbox(visible=False)
    # "Ask it on its own" (ivl/page/chat.js fills these): in the page, hidden by CSS, so the script can reach them.
    alone = gr.Textbox(elem_id="alone", elem_classes="ivl-hidden", max_length=settings.max_question_chars)
    ask_alone = gr.Button(elem_id="ask-alone", elem_classes="ivl-hidden")
    gr.Examples(EXAMPLES, inputs=box, label="Example questions")

    submit = dict(fn=handlers.respond, inputs=[box, chat, view, session], outputs=[chat, box, session])
    box.submit(**submit, api_name="ask")
    send.click(**submit, api_name=False)
    ask_alone.click(handlers.respond_alone, inputs=[alone, view, session], outputs=[chat, session], api_name=False)
    fresh = lambda: ([], "", Handlers.new_session(), gr.update(visible=False))  # noqa: E731
    clear.click(fresh, outputs=[chat, box, session, comment_row], api_name=False)
    chat.clear(fresh, outputs=[chat, box, session, comment_row], api_name=False)
    view.change(handlers.show, inputs=[session, view], outputs=chat, api_name=False)
    export.click(handlers.export, inputs=session, outputs=exported, api_name=False).then(None, inputs=exported, js=DOWNLOAD_JS)
    if not feedback:
        return

    def on_like(data: gr.LikeData, state: dict, shown_view: str):
        shown, state, ask_comment = handlers.record_feedback(data.index, data.liked, state, shown_view)
        return shown, state, gr.update(visible=ask_comment)

    def on_comment(text: str, state: dict, shown_view: str):
        shown, state = handlers.record_comment(text, state, shown_view)
        return shown, state, "", gr.update(visible=False)

    chat.like(on_like, inputs=[session, view], outputs=[chat, session, comment_row], api_name=False)
    for trigger in (send_comment.click, comment.submit):
        trigger(on_comment, inputs=[comment, session, view], outputs=[chat, session, comment, comment_row], api_name=False)


def sources_tab(gr, demo, tabs, docs: list) -> None:
    """The documents section by section; a citation's link (?doc=&at=&to=) opens it at the quote."""
    by_title = {d.title: d for d in docs}
    first = docs[0] if docs else None
    names = [s.name for s in first.sections] if first else []
    gr.Markdown("Browse the documents the answers quote, section by section.")
    doc_pick = gr.Dropdown(list(by_title), value=first.title if first else None, label="Document")
    sec_pick = gr.Dropdown(names, value=names[0] if names else None, label="Section")
    reader = gr.Markdown(render_section(first, names[0]) if names else "", elem_id="reader")

    def on_doc(title):
        doc = by_title.get(title)
        names = [s.name for s in doc.sections] if doc else []
        return gr.update(choices=names, value=names[0] if names else None), render_section(doc, names[0]) if names else ""

    def on_load(request: gr.Request):
        place = cited_place(docs, dict(request.query_params) if request else {})
        if place is None:
            return gr.update(), gr.update(), gr.update(), gr.update()
        doc, section, span = place
        return (
            gr.Tabs(selected="sources"), gr.update(value=doc.title),
            gr.update(choices=[s.name for s in doc.sections], value=section), render_section(doc, section, span),
        )  # fmt: skip

    # `.input`, not `.change`: a section chosen by a citation link must not be reset by the document's change.
    doc_pick.input(on_doc, inputs=doc_pick, outputs=[sec_pick, reader], api_name=False)
    sec_pick.input(lambda t, s: render_section(by_title[t], s) if t in by_title else "", inputs=[doc_pick, sec_pick], outputs=reader, api_name=False)
    demo.load(on_load, outputs=[tabs, doc_pick, sec_pick, reader], api_name=False)


def study_tab(gr, handlers: Handlers, study: Study) -> None:
    """A question Ask answers right, the student's own answer, and what it stated, missed or got wrong."""
    gr.Markdown(
        "Answer in your own words, then see which key facts you stated, missed or got wrong, and compare with the "
        f"cited answer. {len(study.offered)} questions, each one Ask answers with its key facts, cited."
    )
    pick = gr.Dropdown(list(study.offered), label="Question", elem_id="study-question")
    attempt = gr.Textbox(label="Your answer", lines=3, max_length=handlers.settings.max_question_chars)
    check = gr.Button("Check my answer")
    result = gr.Markdown(elem_id="study-result")
    check.click(lambda q, a: handlers.study(q, a, study), inputs=[pick, attempt], outputs=result, api_name=False)


def theme():
    import gradio as gr  # lazy: see build_app

    return gr.themes.Default(font=FONTS, font_mono=["ui-monospace", "monospace"])


def serve(answerer, settings: Settings, **kwargs):
    """Build, queue and launch the chat; blocks unless prevent_thread_lock=True is passed (tests)."""
    from starlette.middleware import Middleware

    demo = build_app(answerer, settings)
    demo.queue(default_concurrency_limit=settings.chat_concurrency, max_size=settings.chat_queue_size)
    auth = tuple(settings.chat_auth.get_secret_value().split(":", 1)) if settings.chat_auth else None
    quiet_request_errors()
    limit_connections(settings.chat_max_header_kb * 1024, settings.chat_max_connections, settings.chat_idle_seconds)
    guard = Middleware(
        Guard,
        allowed_hosts=allowed_hosts(settings.chat_host, [h for h in settings.chat_allowed_hosts.split(",") if h.strip()]),
        max_body=settings.chat_max_request_kb * 1024,
        throttle=LoginThrottle(settings.chat_login_attempts, settings.chat_login_window),
    )
    demo.launch(
        app_kwargs={"middleware": [guard]},
        max_file_size="1kb",  # the app takes no files; the upload route is refused outright too (ivl/guard.py)
        server_name=settings.chat_host,
        server_port=settings.chat_port,
        share=False,
        auth=auth,
        state_session_capacity=settings.chat_sessions,
        theme=theme(),
        css=PAGE.joinpath("chat.css").read_text(encoding="utf-8"),
        js=PAGE.joinpath("chat.js").read_text(encoding="utf-8"),
        footer_links=[],
        **kwargs,
    )
    return demo
