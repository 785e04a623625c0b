"""The one settings object a user sets (IVL_* variables, then .env, then these defaults): the index and
answering parts from below, plus what the chat server needs."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from chatbot.settings import AnswerSettings
from ivl_index.settings import load


class Settings(AnswerSettings):
    chat_host: str = Field("127.0.0.1", description="Address the chat listens on (0.0.0.0 exposes it to the network).")
    chat_port: int = Field(7860, ge=1, le=65535, description="Port the chat listens on.")
    chat_concurrency: int = Field(4, ge=1, le=64, description="Questions the chat answers at the same time.")
    chat_queue_size: int = Field(64, ge=1, le=10_000, description="Questions waiting beyond that before 'queue full'.")
    chat_auth: SecretStr | None = Field(
        None, description="'user:password' to require a login for the chat; unset means no login."
    )
    chat_allowed_hosts: str = Field(
        "", description="Comma-separated host names the chat answers to besides loopback and IVL_CHAT_HOST (the name "
        "people type when it is exposed); requests naming any other Host are refused (DNS rebinding).",
    )
    chat_max_request_kb: int = Field(
        2048, ge=16, le=1_000_000, description="Largest request body the chat accepts, in KB (a long conversation is "
        "sent back with each question)."
    )
    chat_login_attempts: int = Field(
        5, ge=1, le=1000, description="Failed logins from one address before its logins are refused for a while."
    )
    chat_login_window: float = Field(
        60, gt=0, le=86_400, description="Seconds a failed login counts for, and that a throttled address waits."
    )
    feedback: bool = Field(True, description="Offer thumbs up/down and append them to DATA_DIR/feedback.jsonl.")

    @field_validator("chat_auth")
    @classmethod
    def _auth_has_both_parts(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value()[1:-1]:
            raise ValueError("must be user:password")
        return value


def load_settings(**overrides) -> Settings:
    """Settings from the environment; overrides (keyword, by field name) win, as from CLI flags."""
    return load(Settings, **overrides)
