"""The answering part of the settings: retrieval, sentence choice, abstention and the optional LLM.
It extends the index part (ivl_index/settings.py); the chat adds its own part on top (ivl/settings.py)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from ivl_index.settings import IndexSettings


class AnswerSettings(IndexSettings):
    k_dense: int = Field(10, ge=1, le=100, description="Chunks the dense (Chroma) retriever returns.")
    k_bm25: int = Field(10, ge=1, le=100, description="Chunks the BM25 retriever returns.")
    weight_dense: float = Field(0.5, ge=0, le=1, description="Weight of the dense ranking in reciprocal rank fusion.")
    weight_bm25: float = Field(0.5, ge=0, le=1, description="Weight of the BM25 ranking in reciprocal rank fusion.")
    rrf_c: int = Field(60, ge=1, le=1000, description="RRF constant: larger flattens the rank discount.")
    k_final: int = Field(8, ge=1, le=50, description="Fused chunks whose sentences the answerer considers.")
    k_sentences: int = Field(
        10, ge=0, le=100, description="Sentences searched directly by embedding, beside the retrieved chunks'."
    )
    exact_search_max: int = Field(
        20_000,
        ge=0,
        le=1_000_000,
        description="Largest collection (chunks or sentences) searched by exact cosine over all its vectors, so "
        "one index always gives one answer; a larger one is searched by Chroma's approximate HNSW, over-fetched "
        "and re-ranked exactly.",
    )
    sentence_cache: int = Field(
        20_000,
        ge=0,
        le=10_000_000,
        description="Sentences (text, place, vector) kept in memory between questions so that passages asked "
        "about again skip the index; about 2 KB each with the default model; 0 turns it off.",
    )
    answer_max_sentences: int = Field(4, ge=1, le=10, description="Most quoted sentences in one answer.")
    answer_max_words: int = Field(
        90, ge=10, le=1000, description="Word budget of an answer: further sentences join only while they fit "
        "(the lead sentence always does)."
    )
    abstain_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Probability that the sources answer a question below which the answer abstains; unset uses "
        "the value `ivl calibrate` fitted (chatbot/data/calibration.json).",
    )
    max_question_chars: int = Field(2000, ge=10, le=100_000, description="Longest question accepted, in characters.")

    llm: str = Field(
        "none",
        description="'none' for the built-in extractive answerer, or a LangChain chat model spec as "
        "init_chat_model takes it ('ollama:llama3.1', 'openai:gpt-4o-mini'); keys come from the provider's "
        "own environment variables or IVL_LLM_API_KEY.",
    )
    llm_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server (vLLM, llama.cpp).")
    llm_api_key: SecretStr | None = Field(None, description="API key for the LLM backend; never logged.")
    llm_timeout: float = Field(30.0, gt=0, le=600, description="Seconds to wait for the LLM before falling back.")
    llm_min_kept: float = Field(
        0.5, ge=0, le=1, description="Share of the LLM's sentences that must pass the citation checks, else fall back."
    )
    llm_max_words: int = Field(
        150, ge=10, le=5000, description="Stop reading a model's answer after this many words (it is asked for at "
        "most IVL_ANSWER_MAX_SENTENCES short sentences); what was read is checked as usual.",
    )
    llm_concurrency: int = Field(4, ge=1, le=64, description="LLM calls in flight at the same time.")

    @field_validator("llm")
    @classmethod
    def _llm_spec(cls, value: str) -> str:
        if value != "none" and ":" not in value:
            raise ValueError("must be 'none' or 'provider:model', e.g. 'ollama:llama3.1'")
        return value

    @model_validator(mode="after")
    def _weights_not_both_zero(self):
        if self.weight_dense + self.weight_bm25 == 0:
            raise ValueError("IVL_WEIGHT_DENSE and IVL_WEIGHT_BM25 cannot both be 0")
        return self
