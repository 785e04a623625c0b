"""Multi-turn conversations: is the conversation used exactly when a question cannot stand alone, and is the
later turn then answered? `conversations-tune.jsonl` may be fitted on; `conversations-test.jsonl` was written
by a writer who saw only the corpus, and nothing is fitted on it.

A turn "used the conversation" when the query the product searched differs from the one it searches for the
same question asked alone. A later turn is answered right when the answer does not abstain and cites a gold
sentence or states a key fact; an unanswerable turn is right when it abstains.
"""

from __future__ import annotations

import json
from pathlib import Path

from evals.checks import gold
from ivl_index.sentences import squash

HERE = Path(__file__).resolve().parent
FILES = {"tune": HERE / "conversations-tune.jsonl", "test": HERE / "conversations-test.jsonl"}


def load(split: str) -> list[dict]:
    return [json.loads(line) for line in FILES[split].read_text(encoding="utf-8").splitlines() if line.strip()]


def _right(turn: dict, answer) -> bool:
    if turn.get("kind") == "unanswerable":
        return answer.abstained
    if answer.abstained:
        return False
    text = squash(answer.answer).lower()
    cites_gold = any(gold(c.quote, turn.get("gold", [])) for c in answer.citations)
    return cites_gold or any(squash(f).lower() in text for f in turn.get("facts", []))


def score(answerer, split: str) -> dict:
    """Figures over the later turns of one split's conversations."""
    rows = []
    for conv in load(split):
        history: list[str] = []
        for i, turn in enumerate(conv["turns"]):
            q = turn["question"]
            if i:
                used = answerer.retrieve(q, history).query != answerer.retrieve(q, []).query
                rows.append({"id": conv["id"], "turn": i, "needs": not turn["standalone"], "used": used,
                             "right": _right(turn, answerer.answer(q, history))})  # fmt: skip
            history.append(q)
    needs = [r for r in rows if r["needs"]]
    alone = [r for r in rows if not r["needs"]]

    def share(part, key):
        return round(sum(r[key] for r in part) / len(part), 4) if part else 0.0

    return {
        "later_turns": len(rows),
        "followup_used_when_needed": share(needs, "used"),
        "followup_kept_out_when_standalone": round(1 - share(alone, "used"), 4) if alone else 0.0,
        "right_when_needed": share(needs, "right"),
        "right_when_standalone": share(alone, "right"),
        "turns": rows,
    }
