"""Rebuild corpus/*.md from the raw extractions in ../shared/seeds (run once, output committed).

Usage: python corpus/build_from_seeds.py [SEEDS_DIR]

Every repair is a plain string operation on the seed text, and the script checks at the end that the
case report keeps every word of the article body as published: only the header block, the
correspondence block and the "Abstract." label leave it, and only section headings are added.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SENTENCE_END = (".", "?", "!", ":", ")", "]")


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, whitespace-only blocks dropped."""
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def front_matter(meta: dict) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100) + "---\n"


def render(meta: dict, title: str, sections: list[tuple[str, list[str]]]) -> str:
    out = [front_matter(meta), f"\n# {title}\n"]
    for name, paras in sections:
        out.append(f"\n## {name}\n")
        for para in paras:
            out.append(f"\n{para}\n")
    return "".join(out)


GARD_REFS = re.compile(r"(?:\[\d+\])+$")


def build_gard(seed: str) -> str:
    updated = sorted(set(re.findall(r"(?m)^Last updated: .*$", seed)))
    assert len(updated) == 1, updated  # every section carries the same line; it is kept once, in Source details
    paras = paragraphs(re.sub(r"(?m)^Last updated: .*$", "", seed))
    assert paras[1] == "Intravenous leiomyomatosis", paras[1]
    body = paras[2:]
    section_refs: dict[str, list[int]] = {}
    named = ["Summary", "Signs and symptoms", "Treatment"]
    sections: list[tuple[str, list[str]]] = []
    for name, para in zip(named, body[:3]):
        refs = GARD_REFS.search(para)
        assert refs, para[-40:]
        section_refs[name] = [int(n) for n in re.findall(r"\d+", refs.group())]
        sections.append((name, [para[: refs.start()]]))
    rest = body[3:]
    research_end = next(i for i, p in enumerate(rest) if p.startswith("These resources provide"))
    questions_start = next(i for i, p in enumerate(rest) if p.startswith("Questions sent to GARD"))
    references_start = next(i for i, p in enumerate(rest) if p.startswith("1. "))
    bullets = lambda ps: [re.sub(r"(?m)^\s*•\s*", "- ", p) for p in ps]  # noqa: E731 (local one-liner)
    details = [
        paras[0],  # the page's own masthead: who publishes it
        updated[0],
        "Publisher (from the source record): Genetic and Rare Diseases Information Center (GARD), NCATS, NIH.",
        "Licence (from the source record): US government work (public domain).",
    ]
    sections.insert(0, (DETAILS, details))
    sections += [
        ("Research", bullets(rest[:research_end])),
        ("Resources", bullets(rest[research_end:questions_start])),
        ("Questions", bullets(rest[questions_start:references_start])),
        ("References", [re.sub(r"\s*\n\s*", "\n", "\n".join(rest[references_start:]))]),
    ]
    meta = {
        "source_id": "gard-ivl",
        "title": "Intravenous leiomyomatosis",
        "publisher": "Genetic and Rare Diseases Information Center (GARD), NCATS, NIH",
        "date": "2013-11-01",
        "date_note": "sections last updated 2013-11-01",
        "url": "https://rarediseases.info.nih.gov/diseases/10802/intravenous-leiomyomatosis",
        "licence": "US government work (public domain)",
        "evidence": "government information page",
        "unindexed_sections": ["Research", "Resources", "Questions", "References"],
        "section_references": section_refs,
    }
    return render(meta, "Intravenous leiomyomatosis", sections)


DETAILS = "Source details"  # the source's own dating, authorship and licence lines: answers about the source only


CAPTION = re.compile(r"^Figure (\d+)\. ")


def join_cut(paras: list[str]) -> list[str]:
    """Rejoin paragraphs that a page break or a caption cut mid-sentence.

    ["a filling defect. Concurrently,", "minimal pelvic effusion"] -> ["a filling defect. Concurrently, minimal pelvic effusion"]
    """
    out: list[str] = []
    for para in paras:
        if out and not out[-1].endswith(SENTENCE_END) and (para[0].islower() or para[0] == ">"):
            out[-1] = f"{out[-1]} {para}"
        else:
            out.append(para)
    return out


def build_case_report(seed: str) -> tuple[str, str]:
    paras = paragraphs(seed)
    header, paras = paras[:6], paras[6:]
    assert header[0].startswith("Intravenous leiomyomatosis of the uterus") and header[-1].startswith("DOI:")
    captions = sorted((p for p in paras if CAPTION.match(p)), key=lambda p: int(CAPTION.match(p).group(1)))
    assert [int(CAPTION.match(c).group(1)) for c in captions] == list(range(1, 12))
    correspondence = [p for p in paras if p.startswith(("Correspondence to:", "Key words:"))]
    keywords = [k.strip() for k in correspondence[1].removeprefix("Key words:").split(",")]
    paras = [p for p in paras if p not in captions and p not in correspondence]
    assert paras[0].startswith("Abstract. ")
    paras[0] = paras[0].removeprefix("Abstract. ")
    headings = {
        "Introduction",
        "Case report",
        "Discussion",
        "Acknowledgements",
        "Funding",
        "Availability of data and materials",
        "Authors' contributions",
        "Ethics approval and consent to participate",
        "Patient consent for publication",
        "Competing interests",
        "References",
    }
    sections: list[tuple[str, list[str]]] = [("Abstract", [])]
    for para in paras:
        if para in headings:
            sections.append((para, []))
        elif para.startswith("Copyright ©"):
            copyright_line = para
        else:
            sections[-1][1].append(para)
    sections = [(name, join_cut(ps)) for name, ps in sections]
    for name, ps in sections:
        if name == "References":
            ps[:] = ["\n".join(ps)]
    sections.insert(sections.index(next(s for s in sections if s[0] == "Acknowledgements")), ("Figures", captions))
    details = [
        "Authors: " + re.sub(r"\^\{[\d,]+\}|[¹²]", "", header[1]).title().replace(" And ", " and ") + ".",
        *header[2:4],  # affiliations
        "Journal (from the source record): Experimental and Therapeutic Medicine, 2026.",
        header[4],  # Received ...; Accepted ...
        header[5],  # DOI: ...
        copyright_line,
        "Licence (from the source record): CC BY-NC-ND 4.0: verbatim copies with attribution, non-commercial, "
        "no derivatives.",
    ]
    sections.insert(0, (DETAILS, details))
    meta = {
        "source_id": "zhao-tian-2026",
        "title": "Intravenous leiomyomatosis of the uterus: A case report and literature review",
        "authors": ["Yuzhen Zhao", "Fei Tian"],
        "affiliations": [re.sub(r"^[¹²]", "", a) for a in header[2:4]],
        "journal": "Experimental and Therapeutic Medicine",
        "date": "2026",
        "date_note": "received 2025-12-15, accepted 2026-03-27",
        "doi": "10.3892/etm.2026.13183",
        "url": "https://doi.org/10.3892/etm.2026.13183",
        "licence": "CC BY-NC-ND 4.0 (verbatim copies with attribution, non-commercial, no derivatives)",
        "evidence": "single-patient case report with literature review",
        "keywords": keywords,
        "unindexed_sections": [
            "Acknowledgements",
            "Funding",
            "Availability of data and materials",
            "Authors' contributions",
            "Ethics approval and consent to participate",
            "Patient consent for publication",
            "Competing interests",
            "References",
        ],
    }
    return render(meta, meta["title"], sections), "\n".join(correspondence)


def words(text: str) -> Counter:
    return Counter(text.split())


def check_case_report(seed: str, built: str, removed: str) -> None:
    """The built body holds exactly the seed body's words, less what was removed, plus added headings."""
    body = re.sub(r"(?m)^#+ ", "", built.split("\n---\n", 1)[1])
    body = re.sub(rf"(?s)\n{DETAILS}\n.*?(?=\nAbstract\n)", "\n", body)  # made from the header block
    seed_paras = paragraphs(seed)
    copyright_line = next(p for p in seed_paras if p.startswith("Copyright ©"))
    expected = words("\n".join(seed_paras[6:])) - words(removed) - Counter(["Abstract."]) - words(copyright_line)
    added = words(seed_paras[0]) + Counter(["Abstract", "Figures"])
    assert words(body) == expected + added, (expected + added - words(body), words(body) - expected - added)


def main(seeds: Path) -> None:
    gard = build_gard((seeds / "gard-ivl.txt").read_text(encoding="utf-8"))
    (HERE / "gard-ivl.md").write_text(gard, encoding="utf-8")
    seed = (seeds / "zhao-tian-2026-case-report.txt").read_text(encoding="utf-8")
    report, removed = build_case_report(seed)
    check_case_report(seed, report, removed)
    (HERE / "zhao-tian-2026.md").write_text(report, encoding="utf-8")
    print("wrote corpus/gard-ivl.md and corpus/zhao-tian-2026.md")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "seeds")
