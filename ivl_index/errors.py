"""Every error a user can cause, in one family: the CLI and the chat catch `UserError` once and show its
message as one line, never a traceback. Each message says what to do next."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix or retry; the message is shown as it is."""


class SettingsError(UserError, ValueError):
    """A bad setting, naming the variable to fix and how."""


class IngestError(UserError):
    """A document or data folder ingest cannot use (bad file, full disk); the index is left as it was."""


class EncoderError(UserError):
    """The embedding model, or its ONNX copy, cannot be loaded."""


class IndexMissing(UserError):
    """No index has been built yet."""


class IndexEmpty(UserError):
    """The index holds no document to answer from (every one was removed)."""


class DetectorError(UserError):
    """The plant detector's shipped weights are missing, damaged or of another version."""


class ModelMismatch(UserError):
    """The index was built with another embedding model."""


class KnowledgeBaseUnavailable(UserError):
    """The Chroma server cannot be reached, or the local index cannot be opened or searched."""


class QuestionError(UserError, ValueError):
    """A question that cannot be asked (empty, too long); the message says what to do instead."""


class CalibrationMissing(UserError):
    """The abstention thresholds file is missing."""


class LLMError(UserError):
    """IVL_LLM names a model that cannot be set up; the message says what to install or set."""
