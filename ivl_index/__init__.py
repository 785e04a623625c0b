"""The index contract: what ingest writes and the answerer reads.

Documents and their citation metadata, sentence ids and spans, the Chroma store and its version folders,
the encoders, the settings both sides share, and the one family of errors a user can cause. Nothing here
imports `ingest`, `chatbot`, `evals` or `ivl` (the lint contract in pyproject.toml keeps it so).
"""
