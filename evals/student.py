"""Reading a student's answer against a Study item's key facts: "stated", "missed" or "wrong", per vital fact.

Three readers, in order, for each key fact:
1. Numbers. A fact with a `number` (or whose patterns hold one, "3-6 months") is stated when the answer holds
   that number; it is wrong when the answer states another number of the same kind (a percent for a percent,
   a year for a year, mg for mg) that neither this item's sources nor another of its key facts hold:
   "57% after myomectomy" -> wrong, "the sources say 75%".
2. The eval's patterns (evals/labelled.py `Fact.found_in`), on the answer spelled as the patterns expect.
3. Meaning. The answer, its sentences and its clauses, embedded by the answerer's own encoder (no second
   model), against the fact's references: its name, its patterns read as phrases, the item's gold sentences and
   `explain`. A unit's score is its best cosine to a reference less `question_weight` x its cosine to the
   question (a vague answer that restates the topic is close to both); the best score at or above the cut
   states the fact, unless the unit that matched holds a negation or an opposite word its reference does not
   ("it is not benign"): then it is wrong. A found pattern is checked for the opposite claim in its clause too.

The cut, the question weight and the negation rule are fitted on the tune answers (`ivl train --part study`,
`fit` below) and read from one file, evals/student-reading.json, by `load_fit`.

>>> numbers("75% after myomectomy, 7.6 % after radical surgery; in 1896")
[Number(value=75.0, kind='percent', text='75%'), Number(value=7.6, kind='percent', text='7.6 %'), Number(value=1896.0, kind='year', text='1896')]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.labelled import Fact, Item, load_items
from ivl_index.errors import CalibrationMissing

FIT_FORMAT = 1
FIT_FILE = Path(__file__).resolve().parent / "student-reading.json"
ANSWERS = Path(__file__).resolve().parent / "train-data" / "study"
LABELS = ("stated", "missing", "wrong")
FOLDS = 5

Encode = Callable[[list[str]], np.ndarray]  # texts -> unit-length rows


def encoder(embeddings) -> Encode:
    """The answerer's encoder (its `embed_documents`) as unit-length rows."""

    def encode(texts: list[str]) -> np.ndarray:
        vecs = np.asarray(embeddings.embed_documents(list(texts)), dtype=np.float32)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)

    return encode


UNITS = [  # (kind, pattern after the number); first match wins
    ("percent", r"\s?(?:%|per ?cent)"),
    ("mg", r"\s?(?:mg|milligrams?)\b"),
    ("size", r"\s?(?:cm|mm|centimet(?:er|re)s?|millimet(?:er|re)s?)\b"),
    ("months", r"\s?(?:-\s?)?(?:months?|mo)\b"),
    ("weeks", r"\s?(?:-\s?)?weeks?\b"),
    ("days", r"\s?(?:-\s?)?days?\b"),
    ("years", r"\s?(?:-\s?)?(?:years?|yrs?|y/?o)\b"),
    ("cases", r"\s?(?:cases?|patients?|reports?)\b"),
]
NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)")
NEGATIONS = re.compile(
    r"\b(?:not|no|never|neither|nor|without|cannot|isn'?t|doesn'?t|don'?t|aren'?t|wasn'?t|won'?t)\b|n't\b"
)
# Word pairs of opposite sense; a clause holding one side where its reference holds the other says the opposite.
OPPOSITES = [("benign", "malignant"), ("known", "unknown"), ("continuous", "discontinuous"),
             ("dependent", "independent"), ("suitable", "unsuitable"), ("within", "outside")]  # fmt: skip


@dataclass(frozen=True)
class Number:
    value: float
    kind: str
    text: str


@dataclass(frozen=True)
class Reading:
    """One key fact read in a student's answer: `said` is the student's number when it is wrong, `right` the
    value the sources give."""

    label: str  # the fact's name
    verdict: str  # "stated" | "missing" | "wrong"
    said: str = ""
    right: str = ""
    score: float = 0.0  # best cosine (meaning), for the fit


WORDS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
TENS = {w: 10 * n for n, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if n > 1}
SPELLED = re.compile(
    rf"\b(?:({'|'.join(TENS)})(?:[- ]({'|'.join(WORDS)}))?|({'|'.join(WORDS)}))(?:\s+(hundred|thousand))?\b",
    re.IGNORECASE,
)


def digits(text: str) -> str:
    """Spelled numbers up to the thousands as digits: "forty-eight years" -> "48 years", "two hundred" -> "200".
    (Written by hand: a few lines, where a parsing library would be a dependency for one use.)"""

    def value(m: re.Match) -> str:
        n = TENS.get((m.group(1) or "").lower(), 0) + WORDS.get((m.group(2) or m.group(3) or "").lower(), 0)
        n *= {"hundred": 100, "thousand": 1000}.get((m.group(4) or "").lower(), 1)
        return str(n)

    return SPELLED.sub(value, text)


def numbers(text: str) -> list[Number]:
    """Every number in the text (spelled ones too), with its kind from the word after it ("plain" when none; a
    bare 4-digit number from 1700 to 2099 is a year)."""
    found = []
    text = digits(text)
    for m in NUMBER.finditer(text):
        raw = m.group(1).rstrip(",")
        try:
            value = float(raw.replace(",", ""))
        except ValueError:
            continue
        after = text[m.end() :]
        kind, end = "plain", m.end()
        for name, unit in UNITS:
            u = re.match(unit, after, re.IGNORECASE)
            if u:
                kind, end = name, m.end() + (u.end() if name in ("percent", "mg", "size") else 0)
                break
        if kind == "plain" and re.fullmatch(r"1[7-9]\d\d|20\d\d", raw):
            kind = "year"
        found.append(Number(value, kind, text[m.start() : end].strip()))
    return found


def same_kind(a: str, b: str) -> bool:
    """A number without a unit may stand for any kind ("75 after myomectomy")."""
    return a == b or "plain" in (a, b)


def _normal(text: str) -> str:
    """British spellings and hyphens as the fact patterns expect them: "smooth-muscle tumour" -> "smooth muscle tumor"."""
    return re.sub(r"(?<=[a-z])our\b", "or", text.lower().replace("-", " "))


def by_pattern(fact: Fact, text: str) -> bool:
    """The eval's patterns, on the text as written or spelled as the patterns expect."""
    return fact.found_in(_normal(text)) or fact.found_in(text)


def units(text: str) -> list[str]:
    """The answer, its sentences, and its clauses (split at , ; : and the words "and", "but", "whereas")."""
    text = " ".join(text.split())
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    clauses = [
        c.strip() for s in sentences for c in re.split(r"[,;:]|\b(?:and|but|whereas|while)\b", s) if len(c.strip()) > 2
    ]
    return list(dict.fromkeys([text, *sentences, *clauses]))


def polarity(text: str) -> int:
    """+1 or -1: negations counted, and the second word of an opposite pair counted as one more."""
    low = text.lower()
    flips = len(NEGATIONS.findall(low)) + sum(1 for _, b in OPPOSITES if re.search(rf"\b{b}\b", low))
    return -1 if flips % 2 else 1


def references(item: Item, fact: Fact) -> list[str]:
    """What the fact means, in words: its name, its patterns read as phrases, the gold sentences, `explain`."""
    phrases = [re.sub(r"\\b|[\\^$()?\[\]|]", " ", p) for p in fact.any]
    return list(dict.fromkeys(t.strip() for t in [fact.label, *phrases, *item.gold, item.explain] if t and t.strip()))


def fact_number(item: Item, fact: Fact) -> Number | None:
    """The fact's number with its kind, as the item's sources write it ("75%"), or from its patterns ("3-6 months")."""
    texts = [*item.gold, item.explain]
    if fact.number is not None:
        for n in (n for t in texts for n in numbers(t)):
            if abs(n.value - fact.number) <= fact.tolerance:
                return n
        return Number(fact.number, "plain", f"{fact.number:g}")
    for p in fact.any:
        found = numbers(re.sub(r"\\b|[\\^$()?]", "", p))
        if found:
            return found[-1]
    return None


NEGATION_MODES = ("off", "student", "either")


@dataclass(frozen=True)
class Fit:
    threshold: float  # meaning score at or above which a fact is credited
    negation: str  # when the matched clause says the opposite: "off" (never), "student" (a negation or opposite
    # word in the student's clause only, not in the reference it matched), "either" (the two differ in polarity)
    opposite_is: str = "wrong"  # what a detected opposite claim is called: "wrong", or "missing" (not credited)
    question_weight: float = 0.0  # meaning score = cosine to the fact's references - this x cosine to the question
    # (an answer that only restates the question's topic is close to both)

    def opposite(self, student: int, reference: int) -> bool:
        if self.negation == "student":
            return student < 0 < reference
        return self.negation == "either" and student != reference


def load_fit(path: Path = FIT_FILE) -> Fit:
    """The fitted reading, from the one file `ivl train --part study` writes."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CalibrationMissing(f"{path} cannot be read ({type(err).__name__}); run `ivl train --part study`") from None
    if not isinstance(data, dict) or data.get("format") != FIT_FORMAT:
        raise CalibrationMissing(f"{path} is from another version of this tool; run `ivl train --part study`")
    try:
        return Fit(
            float(data["threshold"]), str(data["negation"]), str(data["opposite_is"]), float(data["question_weight"])
        )
    except (KeyError, TypeError, ValueError):
        raise CalibrationMissing(f"{path} is damaged; run `ivl train --part study`") from None


@dataclass(frozen=True)
class Scored:
    """One fact against one answer, per unit of the answer: its best cosine to the fact's references, its cosine to
    the question, and the polarity of the unit and of the reference it matched best."""

    best: np.ndarray
    question: np.ndarray
    mine: np.ndarray
    theirs: np.ndarray

    def at(self, weight: float) -> tuple[float, int, int]:
        """(meaning score, the matched unit's polarity, its reference's polarity) with this question weight."""
        if not len(self.best):
            return 0.0, 1, 1
        margin = self.best - weight * self.question
        u = int(np.argmax(margin))
        return float(margin[u]), int(self.mine[u]), int(self.theirs[u])


NOTHING = Scored(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))


class Reader:
    """Reads answers for the items given, with the encoder the answerer uses (references embedded once)."""

    def __init__(self, items: Iterable[Item], encode: Encode):
        self.encode = encode
        self._seen: dict[str, np.ndarray] = {}  # unit text -> vector
        self.refs: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}  # vectors, polarities
        items = list(items)
        texts = {(item.id, i): references(item, f) for item in items for i, f in enumerate(item.facts) if f.vital}
        every = list(dict.fromkeys([*(i.question for i in items), *(t for ts in texts.values() for t in ts)]))
        vectors = dict(zip(every, encode(every) if every else []))  # one call: the encoder batches
        self.questions = {item.id: vectors[item.question] for item in items}
        for key, ts in texts.items():
            self.refs[key] = (np.stack([vectors[t] for t in ts]), np.array([polarity(t) for t in ts]))

    def prepare(self, attempts: Iterable[str]) -> None:
        """Embed the units of many answers in one call (a batch is many times faster than one answer at a time)."""
        parts = list(dict.fromkeys(p for a in attempts for p in units(a) if p not in self._seen))
        if parts:
            self._seen.update(zip(parts, self.encode(parts)))

    def _vectors(self, parts: list[str]) -> np.ndarray:
        new = [p for p in parts if p not in self._seen]
        if new:
            self._seen.update(zip(new, self.encode(new)))
        vecs = np.stack([self._seen[p] for p in parts]) if parts else np.zeros((0, 1))
        if len(self._seen) > 4096:  # a chat runs for weeks: keep only what this answer needs
            self._seen = {p: self._seen[p] for p in parts}
        return vecs

    def scores(self, item: Item, attempt: str) -> dict[int, Scored]:
        """For each vital fact, the answer's units scored against it (see Scored)."""
        parts = units(attempt)
        if not parts:
            return {}
        vecs = self._vectors(parts)
        question = vecs @ self.questions[item.id]
        mine = np.array([polarity(p) for p in parts])
        out = {}
        for i, fact in enumerate(item.facts):
            if fact.vital:
                refs, signs = self.refs[(item.id, i)]
                sims = vecs @ refs.T
                best = sims.argmax(axis=1)
                out[i] = Scored(sims.max(axis=1), question, mine, signs[best])
        return out

    def read(self, item: Item, attempt: str, fit: Fit) -> dict[int, Reading]:
        """Index in item.facts -> its reading, for each vital fact."""
        scored = self.scores(item, attempt)
        return {i: verdict(item, i, attempt, scored.get(i, NOTHING), fit) for i, f in enumerate(item.facts) if f.vital}


def _nearest(item: Item, said: Number) -> Fact | None:
    """The number fact a stated number is a wrong version of: the one of its kind nearest in ratio (57% -> 75%,
    not 7.6%)."""
    kin = [(f, n) for f in item.facts if f.vital and (n := fact_number(item, f)) and same_kind(said.kind, n.kind)]
    ratio = lambda n: abs(np.log(max(said.value, 1e-9) / max(n.value, 1e-9)))  # noqa: E731
    return min(kin, key=lambda fn: ratio(fn[1]))[0] if kin else None


def by_letter(item: Item, index: int, attempt: str) -> tuple[Reading, int, int] | None:
    """The number and pattern readers: a reading (with the polarity of the clause holding a found pattern and of
    the fact's name, for the negation rule), or None when meaning must decide."""
    fact = item.facts[index]
    label = fact.label
    target = fact_number(item, fact)
    said = numbers(attempt)
    if target is not None:
        right = fact.number if fact.number is not None else target.value
        tolerance = fact.tolerance if fact.number is not None else 0.0
        if any(abs(n.value - right) <= tolerance for n in said) or (
            fact.number is None and fact.found_in(_normal(attempt))
        ):
            return Reading(label, "stated", right=target.text), 1, 1
        known = {n.value for t in [*item.gold, item.explain, item.question] for n in numbers(t)}
        known |= {f.number for f in item.facts if f.number is not None}
        wrong = [
            n for n in said if same_kind(n.kind, target.kind) and n.value not in known and _nearest(item, n) is fact
        ]
        if wrong:
            return Reading(label, "wrong", said=wrong[0].text, right=target.text), 1, 1
        if fact.number is not None:
            return Reading(label, "missing", right=target.text), 1, 1
    if by_pattern(fact, attempt):
        clause = next((c for c in units(attempt)[1:] if by_pattern(fact, c)), attempt)
        return Reading(label, "stated"), polarity(clause), polarity(references(item, fact)[0])
    return None


def verdict(item: Item, index: int, attempt: str, scored: Scored, fit: Fit, letter=False) -> Reading:
    """One key fact read in the answer: numbers first, then the eval's patterns, then meaning (see the module).
    `letter`: by_letter's result when already known (the fit reads each answer many times)."""
    early = by_letter(item, index, attempt) if letter is False else letter
    if early is not None:
        reading, mine, theirs = early
        if reading.verdict == "stated" and fit.opposite(mine, theirs):
            return Reading(reading.label, fit.opposite_is)
        return reading
    label = item.facts[index].label
    score, mine, theirs = scored.at(fit.question_weight)
    if score >= fit.threshold:
        return Reading(label, fit.opposite_is if fit.opposite(mine, theirs) else "stated", score=score)
    return Reading(label, "missing", score=score)


# -- the labelled answers, the fit and its figures ------------------------------------------------------------


def load_answers(split: str, folder: Path = ANSWERS) -> list[dict]:
    """The labelled student answers of one split ("tune" or "test"), with label keys as ints."""
    rows = []
    for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append(row | {"labels": {int(k): v for k, v in row["labels"].items()}})
    return rows


def literal(item: Item, attempt: str) -> dict[int, str]:
    """Before this reader: the eval's patterns alone ("stated" or "missing", never "wrong")."""
    return {i: "stated" if by_pattern(f, attempt) else "missing" for i, f in enumerate(item.facts) if f.vital}


def figures(pairs: Sequence[tuple[str, str]]) -> dict:
    """(truth, predicted) pairs -> accuracy and per-label precision and recall."""
    truth = np.array([t for t, _ in pairs])
    pred = np.array([p for _, p in pairs])
    out = {"facts": len(pairs), "accuracy": round(float((truth == pred).mean()), 4) if len(pairs) else 0.0}
    for label in ("stated", "wrong"):
        called, real = pred == label, truth == label
        out[f"{label}_precision"] = round(float((called & real).sum() / called.sum()), 4) if called.sum() else None
        out[f"{label}_recall"] = round(float((called & real).sum() / real.sum()), 4) if real.sum() else None
        out[f"{label}_count"] = int(real.sum())
    return out


def _prepared(reader: Reader, rows: list[dict], items: dict[str, Item]) -> list[tuple[Item, dict, dict, dict]]:
    """(item, row, scores, the letter readers' results) per answer: all a fit needs, computed once."""
    reader.prepare(r["answer"] for r in rows)
    out = []
    for r in (r for r in rows if r["item"] in items):
        item = items[r["item"]]
        letters = {
            i: by_letter(item, i, r["answer"]) for i in r["labels"] if i < len(item.facts) and item.facts[i].vital
        }
        out.append((item, r, reader.scores(item, r["answer"]), letters))
    return out


def _before(prepared) -> list[tuple[str, str]]:
    """(truth, predicted by the eval's patterns alone) for every labelled vital fact."""
    pairs = []
    for item, row, _, _ in prepared:
        before = literal(item, row["answer"])
        pairs += [(t, before[i]) for i, t in row["labels"].items() if i in before]
    return pairs


def _predict(prepared, fit: Fit) -> list[tuple[str, str, str]]:
    """(item id, truth, predicted) for every labelled vital fact."""
    out = []
    for item, row, scored, letters in prepared:
        for i, truth in row["labels"].items():
            if i in letters:
                read = verdict(item, i, row["answer"], scored.get(i, NOTHING), fit, letters[i])
                out.append((item.id, truth, read.verdict))
    return out


WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def _choose(prepared) -> Fit:
    """The cut, question weight and negation rule with the most facts right on these answers."""
    cuts = np.arange(-0.3, 0.9, 0.01)  # a grid: a midpoint between two tune scores would fit their noise
    best, best_right = Fit(0.5, "off"), -1
    modes = [("off", "wrong")] + [(n, o) for n in NEGATION_MODES[1:] for o in ("wrong", "missing")]
    for weight in WEIGHTS:
        for negation, opposite_is in modes:
            for cut in cuts:
                fit = Fit(round(float(cut), 4), negation, opposite_is, weight)
                right = sum(t == p for _, t, p in _predict(prepared, fit))
                if right > best_right:
                    best, best_right = fit, right
    return best


def fit(encode: Encode, out: Path = FIT_FILE, folder: Path = ANSWERS) -> dict:
    """Fit the cut, question weight and negation rule on the tune answers; figures out of fold (by item) on tune, then on
    the test answers (read only to report, never to choose)."""
    items = {i.id: i for i in load_items("tune") if i.study}
    reader = Reader(items.values(), encode)
    tune = _prepared(reader, load_answers("tune", folder), items)
    chosen = _choose(tune)
    ids = sorted(items)
    fold_of = {item_id: n % FOLDS for n, item_id in enumerate(ids)}
    oof = []
    for f in range(FOLDS):
        inside = [p for p in tune if fold_of[p[0].id] != f]
        held = [p for p in tune if fold_of[p[0].id] == f]
        oof += [(t, p) for _, t, p in _predict(held, _choose(inside))]
    result = {
        "format": FIT_FORMAT,
        "threshold": chosen.threshold,
        "negation": chosen.negation,
        "opposite_is": chosen.opposite_is,
        "question_weight": chosen.question_weight,
        "tune_answers": len(tune),
        "tune_before": figures(_before(tune)),
        "tune_out_of_fold": figures(oof),
        "cross_validation": f"{FOLDS} folds by item, tune answers only",
        "note": "written by `ivl train --part study` from evals/train-data/study/tune.jsonl; do not edit by hand",
    }
    if (folder / "test.jsonl").is_file():
        test = _prepared(reader, load_answers("test", folder), items)
        result["test_answers"] = len(test)
        result["test_before"] = figures(_before(test))
        result["test_after"] = figures([(t, p) for _, t, p in _predict(test, chosen)])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result
