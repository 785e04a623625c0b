"""The Gradio chat. `build_app` makes the Blocks (tests drive its handlers without a server); `launch` serves it.

Everything shown that came from a user or a document is escaped before rendering, and the chatbot's own
HTML sanitizer stays on: a question or a document can never run script or load anything.
"""

# No `from __future__ import annotations` here: Gradio reads the gr.LikeData annotation at run time.
import html
import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import yaml

from chatbot.models import Answer
from chatbot.render import escape_markdown
from evals.labelled import load_items
from ingest.loaders import load
from ivl.settings import Settings
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
    "How often should imaging be done after surgery for IVL?",
]
CLINICIAN, STUDENT = "Clinician", "Student"
# System fonts only: Gradio's default theme fetches Inter from Google Fonts, an outbound request.
FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
CSS = """
.ivl-sources { margin-top: .5em; font-size: .92em; }
.ivl-sources ol { padding-left: 1.4em; }
.ivl-sources blockquote { margin: .3em 0; padding-left: .6em; border-left: 3px solid #999; }
.ivl-note { margin: .3em 0; padding: .3em .6em; background: #fff7e0; border-left: 3px solid #c90; }
.ivl-glossary { margin-top: .6em; font-size: .92em; }
"""


def _safe_url(url: str) -> str:
    return url if re.match(r"^https?://[^\s\"'<>]+$", url or "") else ""


@dataclass
class Glossary:
    entries: list[dict]

    @staticmethod
    def load() -> "Glossary":
        return Glossary(yaml.safe_load(files("chatbot").joinpath("data/glossary.yaml").read_text(encoding="utf-8")))

    def terms_in(self, text: str) -> list[dict]:
        return [e for e in self.entries if any(re.search(rf"(?i)\b{re.escape(m)}\b", text) for m in e["match"])]


def render_sources(answer: Answer) -> str:
    """Numbered sources under an answer: details visible, the quoted passage expandable in place."""
    items = []
    for c in answer.citations:
        url = _safe_url(c.url)
        link = f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">{html.escape(url)}</a>' if url else ""
        items.append(
            f'<li value="{c.n}"><b>{html.escape(c.title)}</b> — {html.escape(c.section)} · {html.escape(c.date)} · '
            f"<i>{html.escape(c.evidence)}</i><br>{link}"
            f"<details><summary>Quoted passage [{c.n}]</summary><blockquote>{html.escape(c.quote)}</blockquote></details>"
            + (f'<div class="ivl-note"><b>Editor\'s note</b> (not the source\'s words): {html.escape(c.note)}</div>' if c.note else "")
            + "</li>"
        )
    return f'<div class="ivl-sources"><b>Sources</b><ol>{"".join(items)}</ol></div>'


def render_glossary(answer: Answer, glossary: Glossary) -> str:
    found = glossary.terms_in(" ".join(answer.sentences))
    if not found:
        return ""
    rows = "".join(
        f"<li><b>{html.escape(e['term'])}</b> — <i>Definition:</i> {html.escape(e['definition'])}</li>" for e in found
    )
    return (
        '<div class="ivl-glossary"><b>Terms explained</b> <i>(general definitions from this tool\'s glossary, '
        f"not claims from the sources)</i><ul>{rows}</ul></div>"
    )


def render_answer(answer: Answer, view: str, glossary: Glossary) -> str:
    if answer.abstained:
        return f"> ⓘ **Not in the sources.** {answer.answer}"
    text = f"{answer.answer}\n\n{render_sources(answer)}"
    if view == STUDENT:
        text += render_glossary(answer, glossary)
    return text


class FeedbackLog:
    """Thumbs up/down appended to a JSONL file; the only place a question is written to disk."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def add(self, answer: dict, verdict: str) -> None:
        record = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "verdict": verdict,
            "question": answer["question"],
            "answer": answer["answer"],
            "citations": answer["citations"],
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")


@dataclass
class Handlers:
    """What the page does, as plain functions of (inputs, per-session state) -> outputs."""

    answerer: object
    settings: Settings
    glossary: Glossary = field(default_factory=Glossary.load)
    feedback: FeedbackLog | None = None

    @staticmethod
    def new_session() -> dict:
        return {"questions": [], "answers": {}}

    def respond(self, message: str, history: list, view: str, session: dict):
        """One turn, as the answerer's `stream` gives it: progress while a model writes (the LLM path), then only
        the checked answer, or a clear message. A model's draft is never shown: a clinician who reads an
        unchecked claim has read it, even if it is replaced a second later."""
        session = {"questions": list(session["questions"]), "answers": dict(session["answers"])}
        history = list(history or [])
        message = message if isinstance(message, str) else ""
        shown = _msg("user", escape_markdown(message[:2000]))
        try:
            shown_words = -1
            for step in self.answerer.stream(message, session["questions"]):
                if isinstance(step, str):
                    words = len(step.split())
                    if words == shown_words:  # models stream a few characters at a time; redraw per word
                        continue
                    shown_words = words
                    progress = f"*Writing the answer ({words} word{'s' * (words != 1)} so far); it appears once every claim is checked against its source…*"
                    yield history + [shown, _msg("assistant", progress)], "", session
                    continue
                session["questions"].append(step.question)
                done = history + [_msg("user", escape_markdown(step.question)), _msg("assistant", render_answer(step, view, self.glossary))]
                session["answers"][len(done) - 1] = step.model_dump()
                yield done, "", session
        except QuestionError as err:
            asked = escape_markdown(message[:200]) if message.strip() else "…"
            yield history + [_msg("user", asked), _msg("assistant", f"*{escape_markdown(str(err))}*")], "", session
        except Exception as err:  # noqa: BLE001 -- a failing index must not crash the page; say what happened
            reason = str(err) if isinstance(err, UserError) else "knowledge base unavailable; try again in a moment"
            reply = _msg("assistant", f"*{escape_markdown(reason[:1].upper() + reason[1:])}*")
            yield history + [shown, reply], message, session

    def record_feedback(self, index, liked: bool | None, session: dict) -> str:
        if self.feedback is None:
            return ""
        position = index[0] if isinstance(index, (list, tuple)) else index
        answer = session["answers"].get(position)
        if answer is None:
            return ""
        self.feedback.add(answer, "up" if liked else "down")
        return "Thanks — your feedback was saved."

    def study(self, question: str, attempt: str, items: dict) -> str:
        item = items.get(question)
        if item is None:
            return "*Pick a question first.*"
        try:
            answer = self.answerer.answer(item.question, item.history)
        except UserError as err:
            return f"*{escape_markdown(str(err))}*"
        mine = escape_markdown(attempt.strip()) if attempt and attempt.strip() else "*(no answer written)*"
        return (
            f"**Your answer:** {mine}\n\n**In brief** (this tool's summary): {escape_markdown(item.explain)}\n\n"
            f"**The cited answer:**\n\n{render_answer(answer, STUDENT, self.glossary)}"
        )


def _msg(role: str, content: str) -> dict:
    return {"role": role, "content": content}


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


def render_section(doc, section_name: str) -> str:
    section = next((s for s in doc.sections if s.name == section_name), None)
    meta = doc.citation_meta()
    url = _safe_url(meta["url"])
    head = (
        f"### {escape_markdown(doc.title)}\n\n"
        f"{escape_markdown(meta['by'])} · {escape_markdown(meta['date'])} · *{escape_markdown(meta['evidence'])}*  \n"
        + (f"[{url}]({url})  \n" if url else "")
        + f"Licence: {escape_markdown(meta['licence'] or 'not stated')}\n\n"
    )
    if section is None:
        return head
    note = "" if section.indexed else "*This section is shown for reference; answers do not quote it.*\n\n"
    body = "\n\n".join(escape_markdown(p) for p in doc.text[section.start : section.end].split("\n\n") if p.strip())
    return f"{head}#### {escape_markdown(section.name)}\n\n{note}{body}"


def build_app(answerer, settings: Settings):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr  # lazy: set analytics off first; and only the chat needs gradio

    feedback = FeedbackLog(settings.data_dir / "feedback.jsonl") if settings.feedback else None
    handlers = Handlers(answerer, settings, feedback=feedback)
    docs = source_documents(answerer)
    by_title = {d.title: d for d in docs}
    study_items = {i.question: i for i in load_items("tune") if i.study}

    with gr.Blocks(title="IVL literature chatbot", analytics_enabled=False) as demo:
        session = gr.State(Handlers.new_session())
        gr.Markdown("## Intravenous leiomyomatosis: cited answers")
        gr.Markdown(INTRO, elem_id="intro")
        view = gr.Radio([CLINICIAN, STUDENT], value=CLINICIAN, label="View", info="Student adds plain-language definitions.", elem_id="view")
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                chat = gr.Chatbot(
                    label="Answers", height=520, elem_id="chat", sanitize_html=True, buttons=["copy", "copy_all"],
                    feedback_options=("Like", "Dislike") if feedback else None,
                )  # fmt: skip
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Ask about IVL, e.g. how it is treated", show_label=False, scale=8,
                        max_length=settings.max_question_chars, elem_id="question",
                    )  # fmt: skip
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="send")
                gr.Examples(EXAMPLES, inputs=box, label="Example questions")
                status = gr.Markdown(elem_id="feedback-status")
                clear = gr.Button("New conversation", size="sm")
            with gr.Tab("Sources", id="sources"):
                gr.Markdown("Browse the documents the answers quote, section by section.")
                first = docs[0] if docs else None
                doc_pick = gr.Dropdown(list(by_title), value=first.title if first else None, label="Document")
                sec_pick = gr.Dropdown([s.name for s in first.sections] if first else [], value=first.sections[0].name if first and first.sections else None, label="Section")
                reader = gr.Markdown(render_section(first, first.sections[0].name) if first and first.sections else "", elem_id="reader")
            with gr.Tab("Study", id="study"):
                gr.Markdown("Answer in your own words, then compare with the cited answer.")
                pick = gr.Dropdown(list(study_items), label="Question", elem_id="study-question")
                attempt = gr.Textbox(label="Your answer", lines=3, max_length=settings.max_question_chars)
                check = gr.Button("Show the answer")
                result = gr.Markdown(elem_id="study-result")

        submit = dict(fn=handlers.respond, inputs=[box, chat, view, session], outputs=[chat, box, session])
        box.submit(**submit, api_name="ask")
        send.click(**submit, api_name=False)
        clear.click(lambda: ([], "", Handlers.new_session()), outputs=[chat, box, session])
        if feedback:
            def on_like(data: gr.LikeData, state: dict) -> str:
                return handlers.record_feedback(data.index, data.liked, state)

            chat.like(on_like, inputs=[session], outputs=[status])

        def on_doc(title):
            doc = by_title.get(title)
            names = [s.name for s in doc.sections] if doc else []
            return gr.update(choices=names, value=names[0] if names else None), render_section(doc, names[0]) if names else ""

        doc_pick.change(on_doc, inputs=doc_pick, outputs=[sec_pick, reader])
        sec_pick.change(lambda t, s: render_section(by_title[t], s) if t in by_title else "", inputs=[doc_pick, sec_pick], outputs=reader)
        check.click(lambda q, a: handlers.study(q, a, study_items), inputs=[pick, attempt], outputs=result)
    return demo


def theme():
    import gradio as gr  # lazy: see build_app

    return gr.themes.Default(font=FONTS, font_mono=["ui-monospace", "monospace"])


def serve(answerer, settings: Settings, **kwargs):
    """Build, queue and launch the chat; blocks unless prevent_thread_lock=True is passed (tests)."""
    demo = build_app(answerer, settings)
    demo.queue(default_concurrency_limit=settings.chat_concurrency, max_size=settings.chat_queue_size)
    auth = tuple(settings.chat_auth.get_secret_value().split(":", 1)) if settings.chat_auth else None
    demo.launch(
        server_name=settings.chat_host,
        server_port=settings.chat_port,
        share=False,
        auth=auth,
        theme=theme(),
        css=CSS,
        footer_links=[],
        **kwargs,
    )
    return demo
