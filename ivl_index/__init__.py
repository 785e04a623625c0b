"""The index contract: what ingest writes and the answerer reads.

Documents and their citation metadata, sentence ids and spans, the Chroma store and its version folders,
the encoders, the settings both sides share, and the one family of errors a user can cause. Nothing here
imports `ingest`, `chatbot`, `evals` or `ivl` (the lint contract in pyproject.toml keeps it so).
"""

import os

# onnxruntime (1.31, as locked) starts Microsoft's 1DS telemetry when it is imported: a native thread that
# resolves mobile.events.data.microsoft.com every few seconds, unseen by Python's socket module. It reads
# ORT_DISABLE_TELEMETRY (not ONNXRUNTIME_DISABLE_TELEMETRY) when it loads, so it is set here, before any
# module of this product imports anything: every command, the chat and the tests import this package first.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
