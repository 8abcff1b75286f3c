"""The peer arm: the recipe's student distilled by sentence-transformers' own recipe.

A user who wants a small embedder would otherwise reach for sentence-transformers'
model-distillation example (``examples/sentence_transformer/training/distillation/
model_distillation.py``): when the student is narrower than the teacher, fit PCA on the
teacher's embeddings and add the components to the teacher as a bias-free Dense layer;
then train the student with ``losses.MSELoss`` against the (reduced) teacher embeddings
in ``SentenceTransformerTrainer``. This module runs that recipe on exactly what
ragdistill's embedder pipeline trains on, so the benchmark table shows what ragdistill
adds over it:

- the same training texts (``plan_texts`` with the recipe's ``max_texts``, ``seed`` and
  dev split; the dev texts are held out here too, and unused),
- the same teacher vectors, read from ragdistill's teacher cache (texts ragdistill already
  labelled cost no teacher call),
- the same student, built by the recipe's student plugin (layer pruning, projection)
  under the recipe's seed,
- the same optimizer steps, batch size, learning rate, warmup, weight decay, gradient
  clipping and seed.

ragdistill's embedder puts no query/document prefixes on these models, so a single text
column serves both kinds of text, as in the example.

The PCA matrix is applied to the cached vectors in numpy (``teacher @ components.T``, no
centring, which is what the example's bias-free Dense layer computes), since the teacher
is never run here.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ragdistill.recipes import Recipe

log = logging.getLogger(__name__)

PEER_JSON = "peer.json"
#: The PCA matrix fitted on the teacher vectors, kept so a resumed run trains towards
#: the very targets the killed one did.
PCA_FILE = "pca.npz"
#: Written into each trainer checkpoint: the training seconds up to it, so a resumed
#: run reports the time of the whole training, as ragdistill's ``train/seconds`` does.
SECONDS_FILE = "peer_seconds.json"


def train_peer(recipe: Recipe, out: Path, *, show_progress: bool = True) -> Path:
    """Train the peer of an embedder ``recipe`` under ``out``; returns ``out / "model"``.

    The returned folder is a plain SentenceTransformer (``SentenceTransformer(folder)``,
    ``ragdistill.loading.load_arm(str(folder), stage="embedder")``). ``out / "peer.json"``
    records what ran. A finished peer of the same recipe is returned without training; a
    killed run resumes from the trainer's last checkpoint under ``out / "checkpoints"``.
    """
    from ragdistill.recipes import recipe_fingerprints

    out = Path(out)
    model_dir = out / "model"
    fingerprint, *earlier = recipe_fingerprints(recipe)
    record = _read_record(out)
    if record and record.get("fingerprint") not in (fingerprint, *earlier):
        # Checkpoints or targets of another recipe must not be resumed into this one.
        raise ValueError(
            f"{out} holds the peer of another recipe ({record.get('recipe_name')!r}); "
            "remove the folder or pick another one"
        )
    if record.get("finished") and (model_dir / "modules.json").is_file():
        return model_dir
    if recipe.stage != "embedder":
        raise ValueError(
            f"the peer arm distills embedders; this recipe's stage is {recipe.stage!r}"
        )
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    texts, vectors, labelling = _teacher_targets(recipe, show_progress=show_progress)
    st, train_length = _student(recipe)
    student_dim = _dimension(st)
    components, explained = _pca(out, vectors, student_dim, seed=recipe.train.seed)
    targets = vectors if components is None else vectors @ components.T
    prepared = time.perf_counter() - started
    _write_record(out, {"fingerprint": fingerprint, "recipe_name": recipe.name, "finished": False})

    result = _fit(recipe, st, texts, targets, out, train_length, show_progress=show_progress)
    model_dir.mkdir(parents=True, exist_ok=True)
    st.save(str(model_dir))
    _write_record(
        out,
        {
            "fingerprint": fingerprint,
            "recipe_name": recipe.name,
            "finished": True,
            "recipe": "sentence-transformers model distillation (PCA-reduced teacher, MSELoss)",
            "texts": len(texts),
            "labelling": labelling,
            "teacher_dim": int(vectors.shape[1]),
            "student_dim": student_dim,
            "pca_explained_variance": explained,
            **result,
            "prepare_seconds": round(prepared, 1),
            "versions": _versions(),
        },
    )
    return model_dir


def training_plan(recipe: Recipe) -> tuple[Any, Any]:
    """The training texts ``distill_embedder`` plans for ``recipe`` (its dev split held out
    exactly as ragdistill holds it out, so both arms train on the same texts) and the
    recipe's teacher behind its cache."""
    from ragdistill.config import build
    from ragdistill.distill.cached_teacher import CachedEmbedder
    from ragdistill.registry import default_registry
    from ragdistill.stages.embedder.pipeline import plan_texts

    registry = default_registry()
    dataset = build(registry.dataset(recipe.data.dataset), recipe.data.options, "data").load()
    plan = plan_texts(dataset, max_texts=recipe.train.max_texts, seed=recipe.train.seed,
                      eval_fraction=recipe.train.eval_fraction)  # fmt: skip
    teacher = build(
        registry.teacher("embedder", recipe.teacher.kind), recipe.teacher.options, "teacher"
    )
    cached = CachedEmbedder(teacher, root=Path(recipe.cache_dir) if recipe.cache_dir else None)
    return plan, cached


def _teacher_targets(
    recipe: Recipe, *, show_progress: bool
) -> tuple[list[str], np.ndarray, dict[str, dict[str, int]]]:
    """The training texts of ``distill_embedder`` and the teacher's cached vectors of them
    (the peer evaluates nothing during training and leaves the dev split unused)."""
    from ragdistill.teacher_cache import embedding_keys

    plan, cached = training_plan(recipe)
    labelling: dict[str, dict[str, int]] = {}
    for input_type in ("document", "query"):
        stats = cached.fill(plan.of_type(input_type), input_type, show_progress=show_progress)
        labelling[input_type] = {"total": stats.total, "computed": stats.computed}
    keys = [k for t, kind in zip(plan.texts, plan.types) for k in embedding_keys([t], kind)]
    vectors = np.asarray(cached.cache.get(keys), dtype=np.float32)
    return list(plan.texts), vectors, labelling


def _student(recipe: Recipe) -> tuple[Any, int | None]:
    """The recipe's student, built as ragdistill builds it: its SentenceTransformer and
    the input length it trains on (``train_max_seq_length``)."""
    from ragdistill.config import build
    from ragdistill.registry import default_registry
    from ragdistill.students.seeding import seeded_init

    registry = default_registry()
    student = build(
        registry.student("embedder", recipe.student.kind), recipe.student.options, "student"
    )
    # Seeded as in the pipeline: a projection layer starts from the same weights in both arms.
    with seeded_init(recipe.train.seed):
        model = student.build()
    st = getattr(model, "st", None)
    if st is None or not hasattr(st, "save"):
        raise ValueError(
            f"the peer arm needs a sentence-transformers student; student.kind = "
            f"{recipe.student.kind!r} builds a {type(model).__name__}"
        )
    return st, getattr(model, "train_max_seq_length", None)


def _pca(
    out: Path, vectors: np.ndarray, dim: int, *, seed: int
) -> tuple[np.ndarray | None, float | None]:
    """``(components [dim, teacher_dim], explained variance)``, or ``(None, None)`` when
    the teacher is no wider than the student. Fitted once; a rerun reads ``pca.npz``."""
    width = vectors.shape[1]
    if dim > width:
        raise ValueError(
            f"the student's {dim}-d output is wider than the teacher's {width}-d: "
            "sentence-transformers' distillation recipe only reduces the teacher (PCA)"
        )
    if dim == width:
        return None, None
    saved = out / PCA_FILE
    if saved.is_file():
        with np.load(saved) as data:
            if data["components"].shape == (dim, width):
                return data["components"], float(data["explained"])
    if len(vectors) < dim:
        raise ValueError(
            f"PCA to the student's {dim} dimensions needs at least {dim} training texts; "
            f"the plan has {len(vectors)}"
        )
    try:
        from sklearn.decomposition import PCA  # type: ignore[import-untyped,unused-ignore]
    except ImportError:  # the same fit by SVD of the centred vectors
        centred = vectors.astype(np.float64) - vectors.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        components = vt[:dim]
        explained = float((s[:dim] ** 2).sum() / (s**2).sum())
    else:
        # A fixed random_state: sklearn picks a randomized solver for large inputs.
        pca = PCA(n_components=dim, random_state=seed).fit(vectors)
        components, explained = pca.components_, float(pca.explained_variance_ratio_.sum())
    components = np.asarray(components, dtype=np.float32)
    np.savez(saved, components=components, explained=explained)
    return components, explained


def _fit(
    recipe: Recipe,
    st: Any,
    texts: list[str],
    targets: np.ndarray,
    out: Path,
    train_length: int | None,
    *,
    show_progress: bool,
) -> dict[str, Any]:
    """Train ``st`` towards ``targets`` with sentence-transformers' trainer and MSELoss."""
    try:
        from datasets.arrow_dataset import Dataset  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "the peer arm trains with SentenceTransformerTrainer, which needs `datasets`: "
            'pip install "sentence-transformers[train]"'
        ) from exc
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    try:
        from sentence_transformers.sentence_transformer.losses import MSELoss
    except ImportError:  # sentence-transformers < 6 (6 deprecates the old path)
        # The old path is gone from the installed 6.x, so mypy cannot resolve it.
        from sentence_transformers.losses import MSELoss  # type: ignore[import-not-found,no-redef]
    from transformers import TrainerCallback
    from transformers.trainer_utils import get_last_checkpoint

    from ragdistill.config import build
    from ragdistill.distill.loop import steps_per_epoch
    from ragdistill.registry import default_registry

    spec = recipe.train
    # ragdistill's step count: its epochs drop a last batch of one, and accumulation may
    # run the last step into the next epoch. max_steps makes the trainer take as many.
    total = -(-steps_per_epoch(len(texts), spec.batch_size) * spec.epochs
              // spec.gradient_accumulation_steps)  # fmt: skip
    if spec.max_steps is not None:
        total = min(total, spec.max_steps)
    runtime = build(
        default_registry().runtime(recipe.runtime.backend), recipe.runtime.options, "runtime"
    )
    on_cpu = str(runtime.training_device()).startswith("cpu")
    precision = "no" if on_cpu else spec.mixed_precision  # the CPU trains in fp32
    checkpoints = out / "checkpoints"
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints),
        max_steps=total,
        per_device_train_batch_size=spec.batch_size,
        gradient_accumulation_steps=spec.gradient_accumulation_steps,
        learning_rate=spec.learning_rate,
        # An integer, counted as ragdistill counts it (transformers 5 dropped warmup_ratio).
        warmup_steps=int(total * spec.warmup_ratio),
        weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm,
        seed=spec.seed,
        data_seed=spec.seed,
        use_cpu=on_cpu,
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        save_strategy="steps",
        save_steps=spec.checkpoint_every,
        save_total_limit=spec.keep_checkpoints,
        logging_steps=max(1, min(50, total // 10)),
        report_to="none",
        disable_tqdm=not show_progress,
        dataloader_num_workers=0,
    )
    # The 2-D array goes in as is (a list of float32 rows in Arrow): python lists of a
    # large corpus's vectors would take gigabytes.
    train_dataset = Dataset.from_dict({"sentence": texts, "label": targets.astype(np.float32)})
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    earlier = 0.0
    if resume is not None and (Path(resume) / SECONDS_FILE).is_file():
        earlier = float(json.loads((Path(resume) / SECONDS_FILE).read_text())["seconds"])
    started = time.perf_counter()

    class Seconds(TrainerCallback):
        """Notes the training seconds so far in each checkpoint, for a resumed run."""

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = checkpoints / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                seconds = earlier + time.perf_counter() - started
                (folder / SECONDS_FILE).write_text(json.dumps({"seconds": seconds}))

    trainer = SentenceTransformerTrainer(
        model=st,
        args=args,
        train_dataset=train_dataset,
        loss=MSELoss(st),
        callbacks=[Seconds()],
    )
    # ragdistill's student reads only train_max_seq_length tokens while it trains (its
    # forward lowers max_seq_length per batch); the trainer tokenizes through the model's
    # preprocess, which reads the same setting, so lowering it for the run does the same.
    # The saved model keeps its full max_seq_length.
    full_length = st.max_seq_length
    if train_length is not None:
        st.max_seq_length = min(full_length or train_length, train_length)
    try:
        output = trainer.train(resume_from_checkpoint=resume)
    finally:
        st.max_seq_length = full_length
    seconds = earlier + time.perf_counter() - started
    losses_logged = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    return {
        "steps": int(trainer.state.global_step),
        "planned_steps": total,
        "epochs": spec.epochs,
        "batch_size": spec.batch_size,
        "learning_rate": spec.learning_rate,
        "warmup_steps": int(total * spec.warmup_ratio),
        "weight_decay": spec.weight_decay,
        "seed": spec.seed,
        "precision": precision,
        "train_max_seq_length": train_length,
        "resumed_from": Path(resume).name if resume else None,
        "seconds": round(seconds, 1),
        "final_loss": losses_logged[-1] if losses_logged else output.training_loss,
    }


def _dimension(st: Any) -> int:
    get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(get())


def _read_record(out: Path) -> dict[str, Any]:
    path = out / PEER_JSON
    if not path.is_file():
        return {}
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def _write_record(out: Path, record: dict[str, Any]) -> None:
    # Whole or not at all: a kill mid-write must not leave a record that fails to parse.
    tmp = out / f".{PEER_JSON}.tmp"
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(out / PEER_JSON)


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for name in ("ragdistill", "sentence-transformers", "transformers", "torch", "datasets",
                 "scikit-learn", "numpy"):  # fmt: skip
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
