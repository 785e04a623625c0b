"""The validator alone, fed broken answers: each broken claim goes, and nothing left means abstain."""

from __future__ import annotations

import re

from chatbot.models import ABSTAIN, NOT_ADVICE, Citation
from chatbot.render import markers
from chatbot.validator import Claim, Draft, validate

PASSAGE = "IVL is rare, with only about 200 cases reported in the medical literature. The exact cause of IVL remains unknown."
PASSAGES = {"gard-ivl:aaa": PASSAGE}


def cite(n, quote, chunk_id="gard-ivl:aaa"):
    return Citation(n=n, source_id="gard-ivl", title="Intravenous leiomyomatosis", section="Summary", date="2013-11-01",
                    url="https://rarediseases.info.nih.gov/diseases/10802/intravenous-leiomyomatosis", quote=quote,
                    chunk_id=chunk_id)  # fmt: skip


GOOD = "The exact cause of IVL remains unknown."


def run(claims, citations, notices=()):
    return validate(Draft("q", claims, citations, list(notices)), PASSAGES, covered="They cover q.")


def test_a_good_claim_survives_with_its_marker():
    answer = run([Claim(GOOD, [1])], {1: cite(1, GOOD)})
    assert not answer.abstained and answer.answer == f"{GOOD} [1]" and markers(answer.answer) == [1]


def test_uncited_claim_is_removed():
    answer = run([Claim("IVL is always fatal.", []), Claim(GOOD, [2])], {2: cite(2, GOOD)})
    assert answer.sentences == [GOOD] and [c.n for c in answer.citations] == [1]  # renumbered from 2


def test_marker_pointing_nowhere_is_removed():
    assert run([Claim(GOOD, [7])], {1: cite(1, GOOD)}).abstained


def test_citation_to_a_chunk_that_was_not_retrieved_is_removed():
    assert run([Claim(GOOD, [1])], {1: cite(1, GOOD, chunk_id="zhao-tian-2026:zzz")}).abstained


def test_quote_not_in_its_chunk_is_removed():
    assert run([Claim(GOOD, [1])], {1: cite(1, "The cause of IVL is smoking.")}).abstained


def test_changed_number_is_not_supported_by_its_quote():
    quote = "IVL is rare, with only about 200 cases reported in the medical literature."
    answer = run([Claim(quote.replace("200", "2000"), [1]), Claim(GOOD, [2])], {1: cite(1, quote), 2: cite(2, GOOD)})
    assert answer.sentences == [GOOD]


def test_claim_supported_only_by_another_citation_is_removed():
    quote = "IVL is rare, with only about 200 cases reported in the medical literature."
    # The claim is true of passage 2's quote, but it cites 1.
    assert run([Claim(GOOD, [1])], {1: cite(1, quote), 2: cite(2, GOOD)}).abstained


def test_nothing_left_abstains_with_the_fixed_sentence_and_no_citations():
    answer = run([Claim("Made up.", [1])], {1: cite(1, "Made up.")})
    assert answer.abstained and answer.answer.startswith(ABSTAIN) and answer.citations == []


def test_quoted_markup_is_inert_and_never_a_marker():
    passage = {"x:1": "Stains were used [hematoxylin; Figs. 10 and 11] and <img src=x onerror=alert(1)> ![a](http://e/x.png)"}
    quote = passage["x:1"]
    answer = validate(Draft("q", [Claim(quote, [1])], {1: cite(1, quote, "x:1")}), passage, covered="They cover q.")
    assert markers(answer.answer) == [1]
    # Escaped, so Markdown shows them as text: no tag, no image, no link.
    assert not re.search(r"(?<!\\)<img|(?<!\\)!(?<!\\)\[", answer.answer)
    assert "\\<img" in answer.answer and "\\!\\[a\\]" in answer.answer


def test_notices_render_only_with_claims():
    answer = run([Claim(GOOD, [1])], {1: cite(1, GOOD)}, notices=[NOT_ADVICE])
    assert answer.answer.endswith(f"*{NOT_ADVICE}*")
