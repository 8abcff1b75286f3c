"""The generator student: a Hugging Face causal LM, trained in full, with LoRA adapters
(peft), and/or with only some of its decoder layers kept.

Its artifact is a plain transformers folder that the ``hf-causal-lm`` generator
(:class:`~ragdistill.hf.generator.CausalLMGenerator`) loads back; the built module
(:class:`~ragdistill.generation.causal_lm_model.CausalLMStudentModel`) encodes
prompts and answers exactly as that generator reads them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

from ragdistill.errors import ConfigError, require
from ragdistill.hf._loading import DType
from ragdistill.students import Student

if TYPE_CHECKING:
    from ragdistill.generation.causal_lm_model import CausalLMStudentModel

#: The LoRA settings and their defaults (peft's ``LoraConfig`` ``r``, ``lora_alpha``,
#: ``lora_dropout``, ``target_modules``). ``"all-linear"`` adapts every linear layer of
#: the decoder, not the output layer.
LORA_DEFAULTS: dict[str, Any] = {
    "r": 16,
    "alpha": 32,
    "dropout": 0.05,
    "target_modules": "all-linear",
    "top_layers": None,
}

#: Config lists with one entry per decoder layer, cut down with the layers.
_PER_LAYER_CONFIG = ("layer_types", "mlp_layer_types")


class CausalLMStudent(Student):
    """A causal LM student, saved as a folder the ``hf-causal-lm`` generator loads.

    * ``model``: a packaged model name (``SmolLM2-135M-Instruct``), a folder or a hub id.
    * ``lora``: train LoRA adapters instead of the weights, e.g. ``{r = 16, alpha = 32,
      dropout = 0.05, target_modules = "all-linear"}`` (any key may be left out; these
      are the defaults); ``top_layers = N`` puts adapters on the last N decoder layers
      only, so backpropagation stops there (much cheaper steps on a CPU). The saved artifact has them merged in: a plain model.
    * ``keep_layers``: keep only these decoder layers (``[0, 2, 4, ...]``) of a
      Llama/Qwen2/SmolLM/Mistral-style model, a smaller and faster student.
    * ``max_length``: prompt and answer tokens per training row; a longer row loses its
      oldest prompt tokens, never the answer (the generator truncates prompts the same
      way at inference).
    * ``gradient_checkpointing``: recompute activations in the backward pass, trading
      compute for memory on long prompts.
    * ``freeze_embeddings``: keep the token-embedding table fixed (and the output layer
      with it when the two are tied). LoRA freezes every base weight anyway.
    * ``device``, ``dtype``: where and in what precision the model trains (``"auto"``
      device picks CUDA, then MPS, then CPU).
    """

    stage: ClassVar[Literal["generator"]] = "generator"
    loader: ClassVar[str] = "hf-causal-lm"

    def __init__(
        self,
        model: str,
        lora: dict[str, Any] | None = None,
        keep_layers: list[int] | None = None,
        max_length: int = 1024,
        gradient_checkpointing: bool = False,
        freeze_embeddings: bool = False,
        device: str = "cpu",
        dtype: DType = "float32",
    ) -> None:
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"student.model must name a causal LM or its folder, got {model!r}")
        if keep_layers is not None and (
            not keep_layers or sorted(set(keep_layers)) != list(keep_layers) or min(keep_layers) < 0
        ):
            raise ConfigError(
                "student.keep_layers must list distinct ascending layer indices >= 0 "
                f"(e.g. [0, 2, 4]), got {keep_layers}"
            )
        if max_length < 8:
            raise ConfigError(
                f"student.max_length must be >= 8 tokens (prompt and answer), got {max_length}"
            )
        if dtype not in get_args(DType):
            raise ConfigError(f"student.dtype must be one of {get_args(DType)}, got {dtype!r}")
        self.model = model
        self.lora = None if lora is None else check_lora(lora)
        self.keep_layers = keep_layers
        self.max_length = max_length
        self.gradient_checkpointing = gradient_checkpointing
        self.freeze_embeddings = freeze_embeddings
        self.device = device
        self.dtype = dtype

    def build(self) -> CausalLMStudentModel:
        transformers = require("transformers", extra="hf")

        from ragdistill.generation.causal_lm_model import CausalLMStudentModel
        from ragdistill.hf._loading import (
            dtype_kwargs,
            load_pretrained,
            load_tokenizer,
            torch_device,
        )

        device = torch_device(self.device)
        tokenizer = load_tokenizer(self.model)
        model = load_pretrained(
            transformers.AutoModelForCausalLM,
            self.model,
            what="student causal language model",
            **dtype_kwargs(self.dtype),
        )
        if self.keep_layers is not None:
            prune_layers(model, self.keep_layers)
        if self.freeze_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        if self.gradient_checkpointing:
            # The non-reentrant variant back-propagates into layers whose inputs need no
            # gradient, as under LoRA, where the embeddings are frozen. transformers 5.x
            # renamed the method (the old name warns); 4.x has only the old one.
            enable = getattr(model, "activation_checkpointing_enable", None)
            (enable or model.gradient_checkpointing_enable)({"use_reentrant": False})
        if self.lora is not None:
            model = add_lora(model, self.lora)
        model.to(device)
        return CausalLMStudentModel(model, tokenizer, max_length=self.max_length)

    def load_options(self) -> dict[str, Any]:
        """Nothing beyond the path: the folder holds the model, its tokenizer (and chat
        template) and its generation config; the generator uses the model's own context
        length, as a teacher of the same family would."""
        return {}


def check_lora(lora: dict[str, Any]) -> dict[str, Any]:
    """``lora`` checked and completed with :data:`LORA_DEFAULTS`."""
    if not isinstance(lora, dict):
        raise ConfigError(f"student.lora must be a table of LoRA settings, got {lora!r}")
    if unknown := sorted(set(lora) - set(LORA_DEFAULTS)):
        raise ConfigError(
            f"student.lora has unknown key(s) {unknown}; the known keys are "
            f"{', '.join(LORA_DEFAULTS)}"
        )
    full = {**LORA_DEFAULTS, **lora}
    r, alpha, dropout, targets, top = (full[key] for key in LORA_DEFAULTS)
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ConfigError(
            f"student.lora.top_layers (adapters on the last N decoder layers only) must be an "
            f"integer >= 1, got {top!r}"
        )
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ConfigError(f"student.lora.r (the adapters' rank) must be an integer >= 1, got {r!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ConfigError(
            f"student.lora.alpha (the scaling, often 2 * r) must be > 0, got {alpha!r}"
        )
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError(f"student.lora.dropout must be in [0, 1), got {dropout!r}")
    names = [targets] if isinstance(targets, str) else targets
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(
            'student.lora.target_modules must be "all-linear" or a list of module names '
            f'(e.g. ["q_proj", "v_proj"]), got {targets!r}'
        )
    return full


def add_lora(model: Any, lora: dict[str, Any]) -> Any:
    """``model`` wrapped by peft with LoRA adapters (only they train)."""
    peft = require("peft", package="peft")
    extra: dict[str, Any] = {}
    targets = lora["target_modules"]
    if lora.get("top_layers"):
        # Adapters on the last layers only: backpropagation then stops there, which on a
        # CPU cuts a step's cost by more than the share of layers left out.
        import torch

        layers = decoder_layers(model)
        n = len(layers)
        if targets == "all-linear":  # peft wants module names when it picks layers
            targets = sorted({name.rsplit(".", 1)[-1] for name, mod in layers[0].named_modules()
                              if isinstance(mod, torch.nn.Linear)})  # fmt: skip
        extra = {"layers_to_transform": list(range(max(0, n - lora["top_layers"]), n)),
                 "layers_pattern": "layers"}  # fmt: skip
    config = peft.LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=targets,
        task_type="CAUSAL_LM",
        **extra,
    )
    return peft.get_peft_model(model, config)


def decoder_layers(model: Any) -> Any:
    """The ``ModuleList`` of decoder layers of a Llama-style causal LM (``model.model.layers``)."""
    import torch

    n = getattr(model.config, "num_hidden_layers", None)
    layers = getattr(getattr(model, "model", None), "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or len(layers) != n:
        raise ConfigError(
            f"student.keep_layers cannot prune {type(model).__name__}: only models with "
            "their decoder layers at model.model.layers (Llama, Qwen2, SmolLM, Mistral...) "
            "are supported; remove student.keep_layers to train every layer"
        )
    return layers


def prune_layers(model: Any, keep: list[int]) -> None:
    """Keep only the decoder layers at indices ``keep`` (ascending), in place.

    The kept layers are renumbered 0..n-1 (the KV cache stores each layer's keys under
    its attention's ``layer_idx``) and the config follows, so the model generates, and
    ``save_pretrained`` + ``from_pretrained`` rebuild the same model: the layer count,
    the per-layer lists (``layer_types``) and Qwen2's ``max_window_layers`` (the layers
    below it use full attention).
    """
    import torch

    layers = decoder_layers(model)
    n = len(layers)
    if max(keep) >= n:
        raise ConfigError(
            f"student.keep_layers {keep} refers to layer {max(keep)}, but the model has "
            f"{n} layers (0..{n - 1})"
        )
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    for new_idx, layer in enumerate(kept):
        for module in layer.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                # torch types a Module's unknown attributes as Tensor | Module.
                module.layer_idx = new_idx  # type: ignore[assignment]
    model.model.layers = kept
    config = model.config
    for key in _PER_LAYER_CONFIG:
        values = getattr(config, key, None)
        if isinstance(values, list) and len(values) == n:
            setattr(config, key, [values[i] for i in keep])
    window = getattr(config, "max_window_layers", None)
    if isinstance(window, int):
        config.max_window_layers = sum(i < window for i in keep)
    config.num_hidden_layers = len(keep)
