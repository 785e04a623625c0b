"""The learned files, each with one writer and one reader here, and a format version: the question-to-sentence
matcher and the plant detector (`ivl train`), and the calibration (`ivl calibrate`). A file of another version, or a damaged one, fails
with one line naming the command that rebuilds it.

The matcher's folder holds only what training changed in the bundled all-MiniLM-L6-v2 (every weight but the word-piece
embeddings, which training keeps frozen), in float16, beside a manifest (format version, base model and its
hash, training data hash, seed, metrics): about 21 MB instead of the whole model's 90. Before first use it is
materialised into a full sentence-transformers folder (base files plus these weights), so ingest, the ONNX
export and answering load it like any other model, by the name `MATCHER`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ivl_index.errors import CalibrationMissing, DetectorError, EncoderError

MATCHER_FORMAT = 1
MATCHER = "ivl-matcher"  # the IVL_EMBEDDING_MODEL name of the shipped matcher
SHIPPED = Path(__file__).resolve().parent / "data" / "matcher"
WEIGHTS, MANIFEST = "weights.safetensors", "manifest.json"
FROZEN = ("embeddings.word_embeddings.weight",)  # kept from the base model, so not stored
REBUILD = "run `ivl train` to rebuild it, or set IVL_EMBEDDING_MODEL=sentence-transformers/all-MiniLM-L6-v2"


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write(folder: Path, weights: dict[str, np.ndarray], manifest: dict) -> None:
    """Store the trained weights (all but FROZEN, as float16) and the manifest, replacing the folder whole."""
    from safetensors.numpy import save_file

    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    kept = {k: np.ascontiguousarray(v, dtype=np.float16) for k, v in sorted(weights.items()) if k not in FROZEN}
    save_file(kept, str(work / WEIGHTS))
    (work / WEIGHTS).chmod(0o644)  # safetensors writes owner-only; the file ships in the repository
    manifest = {"format": MATCHER_FORMAT, **manifest, "weights_sha256": file_hash(work / WEIGHTS)}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)


def read_manifest(folder: Path = SHIPPED) -> dict:
    """The manifest, checked: its format version and the hash of the weights it describes."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EncoderError(f"the matcher in {folder} cannot be read ({type(err).__name__}); {REBUILD}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MATCHER_FORMAT:
        raise EncoderError(f"the matcher in {folder} is of another format than this version reads; {REBUILD}")
    return manifest


def materialised(folder: Path, base: Path) -> Path:
    """A full sentence-transformers folder of the base model with the matcher's weights, made once per matcher
    (keyed by its weights' hash) in the user's cache ($XDG_CACHE_HOME/ivl, else ~/.cache/ivl); checked against
    the manifest and the base model before it is made."""
    manifest = read_manifest(folder)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ivl"
    target = cache / f"matcher-{manifest['weights_sha256'][:16]}"
    if (target / "model.safetensors").is_file():
        return target
    if file_hash(folder / WEIGHTS) != manifest["weights_sha256"]:
        raise EncoderError(f"the matcher's weights in {folder} do not match its manifest (damaged?); {REBUILD}")
    if file_hash(base / "model.safetensors") != manifest["base_sha256"]:
        raise EncoderError(f"the matcher was trained from another base model than {base}; {REBUILD}")
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(base / "model.safetensors"))
    trained = load_file(str(folder / WEIGHTS))
    unknown = trained.keys() - tensors.keys()
    if unknown:
        raise EncoderError(f"the matcher holds weights the base model lacks ({sorted(unknown)[0]}); {REBUILD}")
    tensors |= {k: v.astype(tensors[k].dtype) for k, v in trained.items()}
    try:
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=cache, prefix=target.name + "."))
    except OSError as err:
        raise EncoderError(
            f"cannot make the matcher's model folder in {cache} ({err.strerror or err}); point XDG_CACHE_HOME at a "
            "writable folder"
        ) from None
    try:
        shutil.copytree(base, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model.safetensors", "*.md"))
        save_file(tensors, str(work / "model.safetensors"), metadata={"format": "pt"})
        try:
            work.rename(target)
        except OSError:  # another process made it first: theirs is the same
            pass
    except OSError as err:  # a full disk, say
        raise EncoderError(f"cannot write the matcher's model folder in {cache} ({err.strerror or err})") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


# -- the calibration ----------------------------------------------------------------------------------------

CALIBRATION_FORMAT = 2
REFIT = "run `ivl calibrate` to rebuild it"


def write_calibration(path: Path, data: dict) -> None:
    """Check what was fitted as the reader will, then write it (format version first) in one replace."""
    data = {"format": CALIBRATION_FORMAT, **{k: v for k, v in data.items() if k != "format"}}
    check_calibration(data, path)
    work = path.with_name(path.name + ".partial")
    work.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    work.replace(path)


def read_calibration(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationMissing(f"{path} is missing; run `ivl calibrate` to create it") from None
    except (OSError, ValueError) as err:
        raise CalibrationMissing(f"{path} cannot be read ({type(err).__name__}); {REFIT}") from None
    check_calibration(data, path)
    return data


def check_calibration(data, path: Path) -> None:
    """The version, and every model's numbers finite and of matching shapes: a NaN would silently turn
    abstention off (every probability comparison false)."""
    if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
        raise CalibrationMissing(f"{path} is from another version of this tool; {REFIT}")
    try:
        for name in ("ranker", "abstention"):
            model = data[name]
            n = len(model["features"])
            arrays = [np.asarray(model[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
            if any(a.shape != (n,) for a in arrays) or not all(np.isfinite(a).all() for a in arrays):
                raise ValueError(f"{name} weights are not {n} finite numbers")
            if not np.isfinite(float(model["intercept"])) or (arrays[1] == 0).any():
                raise ValueError(f"{name} intercept or scale is not usable")
        cuts = [data["abstention"]["answer_at"], *(data["composition"][k] for k in ("add_at", "part_at", "other_source_at"))]
        if not all(isinstance(c, (int, float)) and np.isfinite(c) for c in cuts):
            raise ValueError("a threshold is not a finite number")
    except (KeyError, TypeError, ValueError) as err:
        raise CalibrationMissing(f"{path} is damaged ({err}); {REFIT}") from None


# -- the plant detector -------------------------------------------------------------------------------------

DETECTOR_FORMAT = 1
DETECTOR = Path(__file__).resolve().parent / "data" / "plant-detector"
RETRAIN = "run `ivl train --part plants` to rebuild it"


def write_detector(folder: Path, weights: np.ndarray, manifest: dict) -> None:
    """The detector's weights (float16, one per hashed feature) and its manifest (format, bias, cut, buckets,
    data hash, seed, metrics), checked as the reader will, then put in place whole."""
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    np.save(work / "weights.npy", np.ascontiguousarray(weights, dtype=np.float16))
    manifest = {"format": DETECTOR_FORMAT, **manifest, "weights_sha256": file_hash(work / "weights.npy")}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    read_detector(work)
    shutil.rmtree(folder, ignore_errors=True)
    work.rename(folder)


def read_detector(folder: Path = DETECTOR) -> tuple[np.ndarray, dict]:
    """(weights as float32, manifest), or one line naming the command that rebuilds them: damaged weights would
    let planted text through, or hide real sentences, with no other sign."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != DETECTOR_FORMAT:
            raise DetectorError(f"the plant detector in {folder} is of another format than this version reads; {RETRAIN}")
        if file_hash(folder / "weights.npy") != manifest.get("weights_sha256"):
            raise ValueError("weights do not match the manifest")
        weights = np.load(folder / "weights.npy", allow_pickle=False).astype(np.float32)
        numbers = [manifest["bias"], manifest["cut"]]
        if weights.shape != (manifest["buckets"],) or not np.isfinite(weights).all() or not np.isfinite(numbers).all():
            raise ValueError("weights, bias or cut are not finite numbers of the stated shape")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DetectorError(f"the plant detector in {folder} is missing or damaged ({err}); {RETRAIN}") from None
    return weights, manifest
