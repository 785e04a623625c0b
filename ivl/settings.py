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
    chat_max_header_kb: int = Field(
        16, ge=1, le=1024, description="Largest request head (request line and headers) the chat reads, in KB."
    )
    chat_max_connections: int = Field(
        200, ge=4, le=100_000, description="Open connections the chat holds at once; more are answered 503 and closed "
        "(each browser tab holds a few)."
    )
    chat_idle_seconds: int = Field(
        10, ge=1, le=3600, description="Seconds a connection may wait for its request to arrive, or idle between "
        "requests, before it is closed."
    )
    chat_max_turns: int = Field(
        50, ge=1, le=10_000, description="Turns one conversation keeps (and shows); older ones are dropped, so a "
        "long conversation costs no more per question than a short one."
    )
    chat_sessions: int = Field(
        1000, ge=1, le=1_000_000, description="Conversations kept in memory at once; the least recently used is "
        "forgotten beyond that."
    )
    feedback: bool = Field(True, description="Offer thumbs up/down and save them in DATA_DIR/feedback.jsonl.")
    feedback_max_mb: float = Field(
        20, gt=0, le=100_000, description="Largest DATA_DIR/feedback.jsonl may grow, in MB; beyond it feedback is "
        "refused (and says so) until the file is moved away."
    )

    @field_validator("chat_auth")
    @classmethod
    def _auth_has_both_parts(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value()[1:-1]:
            raise ValueError("must be user:password")
        return value


def load_settings(**overrides) -> Settings:
    """Settings from the environment; overrides (keyword, by field name) win, as from CLI flags."""
    return load(Settings, **overrides)
