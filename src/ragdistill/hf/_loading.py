"""What the Hugging Face components share: model-name resolution, lazy loading, devices.

Nothing here imports torch or transformers at module level; components load their model
on first use (from a worker thread too, hence :data:`MODEL_LOAD_LOCK`), so building one
from a recipe is cheap and checks only its options.

Every model name goes through :func:`_resolve` before a library reads it: a local folder
is checked there (:func:`~ragdistill.artifact_checks.check_model_folder`: no pickle-format
weights, no module or shard outside it), whichever component or student loads it. A hub
id left to transformers is loaded with ``use_safetensors=True`` (:func:`load_pretrained`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from ragdistill.artifact_checks import check_model_folder
from ragdistill.errors import ConfigError, RagdistillError, require

T = TypeVar("T")
DType = Literal["float32", "bfloat16", "float16", "auto"]

#: Held by every model load in ragdistill (:class:`Lazy`, :func:`load_pretrained`).
#: transformers' ``from_pretrained`` turns weight tying off by swapping the class attribute
#: ``PreTrainedModel.tie_weights`` for the length of a load, so two loads in two threads
#: (the router's shadow arm, two A/B arms) can restore it in the wrong order and leave
#: tying off for the rest of the process: tied weights (T5's embeddings, a tied LM head)
#: then stay on the meta device. See huggingface/transformers#44940. Reentrant: a
#: component's loader may load its parts through :func:`load_pretrained`.
MODEL_LOAD_LOCK = threading.RLock()


def _resolve(name: str, *, trust_remote_code: bool = False) -> str:
    """A local path for ``name`` when the project can provision it, else ``name`` unchanged.

    A local folder is checked before it is returned (see the module doc); with
    ``trust_remote_code`` its ``modules.json`` may name classes outside
    sentence-transformers.
    """
    try:
        from ragdistill.models import resolve_model
    except ImportError:  # model provisioning is optional; hub ids and paths still work
        path = name
    else:
        path = str(resolve_model(name))
    if Path(path).is_dir():
        check_model_folder(path, trust_remote_code=trust_remote_code)
    return path


class Lazy(Generic[T]):
    """A value built once, on first :meth:`get`, safely from several threads.

    Builds run one at a time across the process (:data:`MODEL_LOAD_LOCK`), not only per
    value: the factories load models, and concurrent loads are not safe in transformers.
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None

    def __getstate__(self) -> dict[str, Any]:
        # A copy or an unpickled component rebuilds its model on first use: a loaded
        # model need not travel with its description.
        return {"_factory": self._factory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._factory = state["_factory"]
        self._value = None

    def get(self) -> T:
        if self._value is None:
            with MODEL_LOAD_LOCK:
                if self._value is None:
                    self._value = self._factory()
        return self._value

    @property
    def loaded(self) -> bool:
        return self._value is not None


class ModelNamed:
    """Mixin: ``describe()`` records the model name as given (before resolution)."""

    model: str

    def describe(self) -> dict[str, Any]:
        base: dict[str, Any] = super().describe()  # type: ignore[misc]
        return {**base, "model": self.model}


def check_model_name(model: Any) -> str:
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"model must be a non-empty model name or folder, got {model!r}")
    return model


def check_positive(**values: int | None) -> None:
    for key, value in values.items():
        if value is not None and value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")


def torch_device(device: str) -> Any:
    """``"auto"`` picks CUDA, then MPS, then CPU; anything else goes to ``torch.device``."""
    torch = require("torch", extra="hf")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"device {device!r} is not a torch device: {exc}") from None


def dtype_kwargs(dtype: str) -> dict[str, Any]:
    """``from_pretrained`` keyword for ``dtype`` (``torch_dtype`` before transformers 4.56)."""
    torch = require("torch", extra="hf")
    transformers = require("transformers", extra="hf")
    value = "auto" if dtype == "auto" else getattr(torch, dtype)
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return {"dtype": value} if (major, minor) >= (4, 56) else {"torch_dtype": value}


def load_pretrained(
    loader: Any,
    name: str,
    *,
    what: str,
    trust_remote_code: bool = False,
    weights: bool = True,
    **kwargs: Any,
) -> Any:
    """``loader.from_pretrained(resolved name)``; a failure names the model and the fix.

    A local folder is checked first (:func:`_resolve`). A name left to the library (a hub
    id) is loaded with ``use_safetensors=True`` when ``weights`` (not for a tokenizer), so
    a repository with pickle weights only is refused rather than read.
    """
    path = _resolve(name, trust_remote_code=trust_remote_code)
    shown = name if path == name else f"{name!r} (resolved to {path!r})"
    if weights and not Path(path).is_dir():
        kwargs.setdefault("use_safetensors", True)
    try:
        with MODEL_LOAD_LOCK:
            loaded = loader.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError) as exc:
        raise RagdistillError(
            f"could not load {what} {shown}: {exc}. Give a local model folder or a hub id, and "
            f"download it first when running offline"
        ) from exc
    if weights and "device_map" not in kwargs:
        _check_materialized(loaded, f"{what} {shown}")
    return loaded


def _check_materialized(model: Any, shown: str) -> None:
    """Refuse a model with weights left on the meta device (never loaded nor initialized)."""
    named = getattr(model, "named_parameters", None)
    if named is None:
        return
    empty = [n for n, p in named() if p.is_meta]
    if empty:
        raise RagdistillError(
            f"{shown} loaded with {len(empty)} weights never filled in ({', '.join(empty[:3])}). "
            f"If they are tied weights, another thread loaded a model at the same time outside "
            f"ragdistill (transformers' loading is not thread-safe): load models one at a time, "
            f"or in a fresh process"
        )


def load_tokenizer(name: str, *, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    transformers = require("transformers", extra="hf")
    return load_pretrained(
        transformers.AutoTokenizer,
        name,
        what="tokenizer",
        trust_remote_code=trust_remote_code,
        weights=False,
        **kwargs,
    )


def context_length(model: Any, tokenizer: Any, cap: int | None = None) -> int:
    """Tokens the model accepts: the smallest of its config, its tokenizer and ``cap``."""
    limits = [cap] if cap else []
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
            break
    # Tokenizers without a limit report a huge sentinel (int(1e30)); ignore it.
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    return min(limits) if limits else 512


def clip_text(tokenizer: Any, text: str, max_tokens: int) -> str:
    """``text`` cut to at most ``max_tokens`` tokens (its start kept)."""
    if max_tokens < 1:
        return ""
    ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=max_tokens)
    if len(ids["input_ids"]) < max_tokens:
        return text
    return str(tokenizer.decode(ids["input_ids"], skip_special_tokens=True))


def render_chat(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text for ``messages``, ending where the assistant's reply begins.

    Uses the tokenizer's chat template; a model without one (a base LM) gets a plain
    ``role: content`` transcript.
    """
    if getattr(tokenizer, "chat_template", None):
        return str(
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        )
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])
