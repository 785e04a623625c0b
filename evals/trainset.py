"""What `ivl train` learns from, none of it from the `test` split: (question, sentence that answers it) pairs.

- `synthetic`: evals/train-data/synthetic/*.jsonl, questions in four registers written from the corpus alone by
  writers who never saw the code or the test split (evals/train-data/README.md says how); each names the passages
  that answer it, quoted verbatim, which are mapped here to the indexed sentences that hold them.
- `tune`: the gold passages of the tune split (evals/questions.yaml, `labelled_pairs`); left out by default
  (train.Recipe.tune).
- `medquad`: general medical pairs (evals/medquad.py; CC BY 4.0).

A pair's group is what cross-validation keeps together: the paraphrase group for tune items, the gold sentence
for synthetic ones (every question about one sentence is one group), the MedQuAD document for MedQuAD.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from evals.labelled import Item, Split, load_items
from ingest.pipeline import load_all
from ivl_index.sentences import sentence_spans, squash

DATA = Path(__file__).resolve().parent / "train-data"
SYNTHETIC = DATA / "synthetic"
MEDQUAD = DATA / "medquad.jsonl"
REGISTERS = ("clinician", "lay", "student", "sources")


@dataclass(frozen=True)
class Sentence:
    source_id: str
    section: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Pair:
    question: str
    positives: tuple[str, ...]  # the texts of the sentences that answer it
    group: str
    source_id: str  # "medquad" for general pairs
    register: str
    origin: str  # synthetic | tune | medquad


class Locator:
    """The corpus's indexed sentences (as ingest splits them), and the ones a quoted passage lies in."""

    def __init__(self, corpus_dir: Path):
        docs = load_all([corpus_dir])
        self.texts = {d.source_id: d.text for d in docs}
        self.sentences = [
            Sentence(d.source_id, sec.name, s, e, d.text[s:e])
            for d in docs for sec in d.sections if sec.indexed for s, e in sentence_spans(d.text, sec.start, sec.end)
        ]  # fmt: skip

    def sentences_of(self, passage: str, source_id: str | None = None) -> list[Sentence]:
        want = squash(passage)
        if not want:
            return []
        for sid, text in self.texts.items():
            if source_id and sid != source_id:
                continue
            at = text.find(passage)
            if at < 0:  # rare: a quote across a line break; compared with whitespace folded instead
                hits = [s for s in self.sentences if s.source_id == sid and (want in squash(s.text) or squash(s.text) in want)]
                if hits:
                    return hits
                continue
            end = at + len(passage)
            return [s for s in self.sentences if s.source_id == sid and s.start < end and at < s.end]
        return []


def synthetic_pairs(locator: Locator, folder: Path = SYNTHETIC) -> tuple[list[Pair], int]:
    """Pairs from the written questions (answerable and false-premise: the passage that corrects the premise
    answers the question); returns them and how many questions had a passage that could not be found."""
    pairs, lost = [], 0
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("kind") == "unanswerable" or not row.get("gold"):
                continue
            found = [s for g in row["gold"] for s in locator.sentences_of(g, row.get("source") or None)]
            if not found:
                lost += 1
                continue
            texts = tuple(dict.fromkeys(s.text for s in found))
            pairs.append(Pair(row["question"], texts, "s:" + texts[0][:80], found[0].source_id, row.get("register", ""), "synthetic"))
    return pairs, lost


def synthetic_unanswerable(folder: Path = SYNTHETIC) -> list[Item]:
    """The written questions the sources do not answer, as labelled items (each its own group): the matcher
    never trains on them, so `ivl calibrate` may fit the abstention on them beside the tune split's."""
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if row.get("kind") == "unanswerable":
                n = f"syn-u-{len(out) + 1}"
                register = row.get("register") if row.get("register") in ("clinician", "lay") else "student"
                out.append(Item(id=n, group=n, register=register, category="near-domain", question=row["question"], abstain=True))
    return out


def labelled_pairs(split: Split, locator: Locator) -> list[Pair]:
    """A split's labelled questions with gold passages, each paired with the indexed sentences that hold them."""
    out = []
    for item in load_items(split):
        if item.abstain is True or not item.gold:
            continue
        found = [s for g in item.gold for s in locator.sentences_of(g)]
        if found:
            texts = tuple(dict.fromkeys(s.text for s in found))
            out.append(Pair(item.question, texts, f"{split[0]}:{item.group}", found[0].source_id, item.register, split))
    return out


def medquad_pairs(path: Path = MEDQUAD, limit: int | None = None) -> list[Pair]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Pair(r["question"], (r["answer"],), "m:" + r["document"], "medquad", "", "medquad") for r in rows[:limit]]


def data_hash(pairs: list[Pair]) -> str:
    """Names the training data exactly (order included): the manifest's record of what a matcher learnt from."""
    digest = hashlib.sha256()
    for p in pairs:
        digest.update(json.dumps([p.question, p.positives, p.group, p.origin]).encode())
    return digest.hexdigest()
