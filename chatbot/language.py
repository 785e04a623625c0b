"""Whether a text is in English, the only language the matcher, the checks and the plant detector read: a
sentence in another language is never quoted (no check here could tell a planted order in Korean from a
finding), and a question in another language is told so rather than matched at random.

Written by hand because no language identifier ships in the locked dependencies: letters mostly outside the
Latin alphabet; function words of the common European and Latin-script languages outnumbering English ones;
or no English function word at all beside a foreign one or a word with diacritics. A Latin term in an English sentence ("leiomyomatosis intravenosa") changes neither count.
"""

from __future__ import annotations

import re
import unicodedata

ENGLISH = frozenset(
    "the of and to in is was were are be been with for that this these those which from by as at or not it its "
    "after before may can has have had than into who whom whose their there when while if but also all any "
    "we our she her he his on an with more most other such both between during under over about because should "
    "must will would could was how what why your you patients patient tumor tumour surgery case cases".split()
)
# Frequent function words of other languages written in Latin letters, none of them also an English word.
OTHER = frozenset(
    # French, Spanish, Portuguese, Italian, Catalan
    "le la les des du et est une dans pour que qui sur pas avec sont aux ont cette ces être "
    "el los las y es con por una del para lo se como más pero sus está son "
    "os em um uma não ao dos das pelo pela são mais "
    "il di che della delle gli nel nella sono anche alla è "
    # German, Dutch, Swedish, Danish, Norwegian
    "der die das und ist mit von zu den nicht auf ein eine dem sich des auch wird bei oder "
    "het een van zijn niet wordt ook voor bij naar "
    "och att är som med för inte av ett på til ikke og er "
    # Polish, Czech, Turkish, Indonesian, Vietnamese, Romanian
    "się nie jest na że oraz jak są przez dla jako je se ve bir bu ile için olan da yang dan untuk tidak dengan "
    "adalah ini itu dari pada của và các không là được cho những trong şi sau pentru este care".split()
)
WORD = re.compile(r"[^\W\d_]+")


def _latin(ch: str) -> bool:
    return ch.isascii() or unicodedata.name(ch, "").startswith("LATIN")


def in_another_script(question: str) -> bool:
    """A question, not a sentence: true when at least half its letters are outside the Latin alphabet ("ما هو
    IVL؟", "IVL是什么", short as they are); a Greek letter or two in an English question ("β-hCG") leaves it English."""
    letters = [ch for ch in question if ch.isalpha()]
    latin = sum(unicodedata.name(ch, "").startswith("LATIN") for ch in letters)
    return len(letters) - latin >= max(latin, 1)


def in_english(text: str) -> bool:
    """False only on clear evidence of another language; short or mixed text counts as English."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 8 and sum(map(_latin, letters)) < 0.5 * len(letters):
        return False
    words = [w.lower() for w in WORD.findall(text)]
    english = sum(w in ENGLISH for w in words)
    other = sum(w in OTHER for w in words)
    accented = sum(any(not c.isascii() for c in w) for w in words)  # "récidive", "wykazała", "şikâyetiyle"
    return not ((other >= 2 and other > 2 * english) or (english == 0 and len(words) >= 4 and other + accented >= 1))
