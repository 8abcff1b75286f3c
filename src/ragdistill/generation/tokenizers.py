"""Whether a teacher and a student share a tokenizer, which token-level KD needs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ragdistill.errors import ConfigError

#: Losses that compare the teacher's and the student's next-token distributions.
LOGIT_LOSSES = frozenset({"token-kd", "reverse-kl", "gjsd", "logit-kl"})


def vocabulary_id(tokenizer: Any) -> str:
    """A fingerprint of a loaded tokenizer's token -> id map."""
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:16]


def local_vocabulary_id(name: str) -> str | None:
    """The fingerprint of ``name``'s tokenizer when its folder is already on disk (a path
    or a provisioned model), read from ``tokenizer.json`` without loading a model; else
    ``None`` (it is checked once the tokenizers load, before any teacher call)."""
    folder = Path(name)
    if not folder.is_dir():
        try:
            from ragdistill.models import cached_path
        except ImportError:
            return None
        found = cached_path(name)
        if found is None:
            return None
        folder = found
    path = folder / "tokenizer.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    vocab = dict((data.get("model") or {}).get("vocab") or {})
    if not vocab:
        return None
    for token in data.get("added_tokens") or []:
        vocab[token["content"]] = token["id"]
    return hashlib.sha256(json.dumps(sorted(vocab.items())).encode()).hexdigest()[:16]


def refuse_mismatch(teacher: str, student: str, losses: list[str]) -> ConfigError:
    return ConfigError(
        f"losses {', '.join(losses)} compare token distributions and need one tokenizer, "
        f"but the teacher's ({teacher}) and the student's ({student}) differ. Use the "
        f'sequence-level loss instead ([[losses]] name = "sequence-kd"), which trains on '
        f"the teacher's answer text, or a student that shares the teacher's tokenizer "
        f"(e.g. a layer-pruned copy of the teacher: keep_layers)"
    )


def check_shared_tokenizer(
    teacher: str | None, student: str, student_tokenizer: Any, losses: list[str], *, option: str
) -> None:
    """Raise unless ``teacher``'s tokenizer (a model name or folder) is the student's.

    ``option`` names the recipe setting that gives the teacher's tokenizer when the
    teacher (an API model) cannot say it.
    """
    from ragdistill.errors import RagdistillError
    from ragdistill.hf._loading import _resolve, load_tokenizer

    hint = (
        f"losses {', '.join(losses)} need the teacher's tokenizer: set {option} to the "
        "model or folder whose tokenizer the teacher uses"
    )
    if teacher is None:
        raise ConfigError(hint)
    try:
        teacher_tok = load_tokenizer(_resolve(str(teacher)))
    except RagdistillError as exc:
        raise ConfigError(f"{hint} ({teacher!r} did not load: {exc})") from None
    if vocabulary_id(teacher_tok) != vocabulary_id(student_tokenizer):
        raise refuse_mismatch(str(teacher), student, losses)


def check_logit_recipe(
    logit: list[str], *, top_logprobs: int, table: str, teacher: Any, student: Any, where: str
) -> None:
    """What a recipe with token-level losses ``logit`` must have, before any model loads:
    stored top-k log-probs (``[<table>] top_logprobs``), and a teacher and a student
    (model names or folders) whose tokenizers, where already on disk, are the same."""
    if top_logprobs == 0:
        raise ConfigError(
            f"{where}: losses {', '.join(logit)} learn from the teacher's token "
            f"log-probabilities: set [{table}] top_logprobs = 20 (the top-k kept per "
            'position), or use name = "sequence-kd"'
        )
    if isinstance(teacher, str) and isinstance(student, str):
        ids = local_vocabulary_id(teacher), local_vocabulary_id(student)
        if None not in ids and ids[0] != ids[1]:
            raise ConfigError(f"{where}: {refuse_mismatch(teacher, student, logit)}")
