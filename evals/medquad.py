"""General medical question-answer pairs for `ivl train`, cut from MedQuAD (Ben Abacha & Demner-Fushman 2019,
github.com/abachaa/MedQuAD, CC BY 4.0): so the matcher learns how questions meet the sentences that answer
them in general, not only which of the two shipped documents' sentences people ask about.

Each pair is a question and the first sentence of its answer (MedQuAD's answers open with the sentence that
answers; the rest is elaboration). Left out: the three subsets whose answers MedQuAD removed for copyright,
every document that mentions leiomyomatosis (other IVL text is how the product's generality is measured),
and answers whose first sentence is under 6 or over 60 words. A fixed-seed sample keeps the file small.

    python -m evals.medquad /path/to/MedQuAD-checkout   # writes evals/train-data/medquad.jsonl
"""

from __future__ import annotations

import json
import random
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from ivl_index.sentences import sentence_spans

OUT = Path(__file__).resolve().parent / "train-data" / "medquad.jsonl"
SKIPPED_SUBSETS = ("10_MPlus_ADAM_QA", "11_MPlusDrugs_QA", "12_MPlusHerbsSupplements_QA")  # answers removed
KEY_POINTS = re.compile(r"^Key Points\s*-\s*")  # CancerGov's answers open with a bulleted summary's label
EXCLUDE = re.compile(r"leiomyomatosis", re.IGNORECASE)
SAMPLE, SEED = 4000, 13


def pairs(root: Path):
    """(question, first answer sentence, subset, document id) for every usable pair, in file order."""
    for path in sorted(root.glob("*/*.xml")):
        subset = path.parent.name
        if subset in SKIPPED_SUBSETS:
            continue
        raw = path.read_text(encoding="utf-8", errors="replace")
        if EXCLUDE.search(raw):
            continue
        doc = ET.fromstring(raw)
        for qa in doc.iter("QAPair"):
            q, a = qa.find("Question"), qa.find("Answer")
            if q is None or a is None or not (q.text and a.text):
                continue
            answer = KEY_POINTS.sub("", " ".join(a.text.split()))
            spans = sentence_spans(answer)
            if not spans:
                continue
            first = answer[spans[0][0] : spans[0][1]]
            if 6 <= len(first.split()) <= 60:
                yield " ".join(q.text.split()), first, subset, doc.get("id", path.stem)


def main(root: Path) -> None:
    found = list(pairs(root))
    random.Random(SEED).shuffle(found)
    seen, out = set(), []
    for q, a, subset, doc in found:  # one pair per answer sentence: a repeated answer teaches nothing new
        if a in seen:
            continue
        seen.add(a)
        out.append({"question": q, "answer": a, "subset": subset, "document": doc})
        if len(out) == SAMPLE:
            break
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        for row in sorted(out, key=lambda r: (r["subset"], r["document"], r["question"])):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(found)} usable pairs, {len(out)} written to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
