"""The labelled question set, parsed once into typed items: `questions.yaml` is the `tune` split (everything
may be fitted on it), `questions-test.yaml` the frozen `test` split (nothing is fitted on it; `ivl eval` gates
on it). The two are split by paraphrase group: no group is on both sides (a test checks it)."""

from __future__ import annotations

import re
import warnings
from functools import cache
from importlib.resources import files
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

Split = Literal["tune", "test"]
SPLIT_FILES: dict[str, str] = {"tune": "questions.yaml", "test": "questions-test.yaml"}
REGISTERS = ("clinician", "lay", "student")


class Fact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    any: list[str] = Field(default_factory=list, description="regex alternatives, case-insensitive")
    number: float | None = None
    tolerance: float = 0.0
    vital: bool = True
    name: str = Field("", description="how a report names the fact; by default its first alias or its number")

    @property
    def label(self) -> str:
        """'75', 'surgical resection': what a maintainer reads when the fact is missing."""
        if self.name:
            return self.name
        if self.number is not None:
            return f"{self.number:g}"
        if not self.any:
            return "?"
        first = re.sub(r"\[(\w)\w*\]", r"\1", self.any[0])  # "Birc[hk]" -> "Birch"
        return re.sub(r"\\b|\[- \]\?|[\\^$()?]", "", first)

    def found_in(self, text: str) -> bool:
        if self.number is not None:
            numbers = (float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text))
            return any(abs(n - self.number) <= self.tolerance for n in numbers)
        return any(re.search(p, text, re.IGNORECASE) for p in self.any)


with warnings.catch_warnings():
    # `register` shadows ABCMeta.register, a class-level method items never use; the field keeps its plain name.
    warnings.filterwarnings("ignore", message='Field name "register"')

    class Item(BaseModel):
        model_config = ConfigDict(extra="forbid")
        id: str
        group: str = Field(description="paraphrase group: the items that ask the same thing in different ways")
        register: Literal["clinician", "lay", "student"]
        split: Split = "tune"  # set from the file the item is in
        category: str
        question: str
        history: list[str] = Field(default_factory=list)
        facts: list[Fact] = Field(default_factory=list)
        sources: list[str] = Field(default_factory=list)
        gold: list[str] = Field(default_factory=list)
        abstain: bool | Literal["any"] = False
        must_not_say: list[str] = Field(default_factory=list)
        study: bool = False
        explain: str = ""


@cache
def _load(split: Split) -> tuple[Item, ...]:
    raw = yaml.safe_load(files("evals").joinpath(SPLIT_FILES[split]).read_text(encoding="utf-8"))
    return tuple(Item.model_validate(entry | {"split": split}) for entry in raw)


def load_items(split: Split | None = None) -> tuple[Item, ...]:
    """The items of one split, or of both (tune first)."""
    return _load(split) if split else _load("tune") + _load("test")
