"""The labelled question set (evals/questions.yaml), parsed once into typed items."""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field


class Fact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    any: list[str] = Field(default_factory=list, description="regex alternatives, case-insensitive")
    number: float | None = None
    tolerance: float = 0.0
    vital: bool = True

    def found_in(self, text: str) -> bool:
        if self.number is not None:
            numbers = (float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text))
            return any(abs(n - self.number) <= self.tolerance for n in numbers)
        return any(re.search(p, text, re.IGNORECASE) for p in self.any)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
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
def load_items() -> tuple[Item, ...]:
    raw = yaml.safe_load(files("evals").joinpath("questions.yaml").read_text(encoding="utf-8"))
    return tuple(Item.model_validate(entry) for entry in raw)
