"""Converting a GGUF checkpoint, once, into a plain transformers folder (safetensors).

transformers reads GGUF with ``from_pretrained(folder, gguf_file=NAME)`` and
dequantizes every tensor to float at each load (30-70 s for the packaged models on
2 CPU cores). Converting once makes later loads take about a second, and the result
loads with a plain ``AutoModelForCausalLM.from_pretrained(path)`` — no gguf package,
no ``gguf_file`` argument.

A GGUF-loaded model refuses ``save_pretrained`` (it carries a GGUF quantizer), so we
build a fresh model from its config (without the quantization config) on the meta
device, assign the dequantized tensors to it, and save that.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ragdistill.errors import RagdistillError, require


def convert_gguf(gguf_path: Path, dest: Path, *, dtype: str = "float32") -> dict[str, Any]:
    """Write a safetensors model + tokenizer folder for ``gguf_path`` into ``dest``.

    ``dtype`` is the float type of the saved weights (``float32`` suits CPUs without
    native bf16). Returns metadata: architecture, parameter count, dtype, seconds.
    """
    require("gguf", extra="gguf")
    require("accelerate", extra="gguf")
    torch = require("torch", extra="hf")
    transformers = require("transformers", extra="hf")

    start = time.perf_counter()
    folder, name = str(gguf_path.parent), gguf_path.name
    torch_dtype = getattr(torch, dtype)
    try:
        loaded = transformers.AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch_dtype
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    except (ValueError, KeyError, OSError) as exc:
        raise RagdistillError(
            f"transformers {transformers.__version__} could not read the GGUF file "
            f"{gguf_path.name}: {exc}. Its architecture or quantization may be unsupported; "
            f"upgrade transformers and gguf"
        ) from exc

    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = dtype
    state = loaded.state_dict()

    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    # assign=True adopts the loaded tensors instead of copying them into fresh ones,
    # so the conversion holds one copy of the weights, not two.
    _, unexpected = model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    still_meta = [n for n, p in model.named_parameters() if p.is_meta]
    if unexpected or still_meta:
        raise RagdistillError(
            f"converting {gguf_path.name}: the GGUF weights do not fit the "
            f"{type(model).__name__} built from its config (missing {still_meta[:5]}, "
            f"unexpected {unexpected[:5]}); report this with your transformers version"
        )
    if getattr(loaded, "generation_config", None) is not None:
        model.generation_config = loaded.generation_config
    del loaded, state

    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    if not any(dest.glob("*.safetensors")):
        raise RagdistillError(
            f"converting {gguf_path.name}: save_pretrained wrote no safetensors file in {dest}"
        )
    return {
        "converted_from": gguf_path.name,
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": dtype,
        "convert_seconds": round(time.perf_counter() - start, 1),
    }
