"""Training checkpoints in safetensors + JSON (no pickle), written atomically.

A checkpoint folder holds ``model.safetensors`` (student and loss parameters),
``optimizer.safetensors`` (AdamW moments, flattened), ``rng.safetensors`` and
``state.json`` (step, epoch, scheduler, RNG seeds, recipe fingerprint, metrics). It is
written to a temporary folder and renamed, so a kill leaves either the old or the new
checkpoint, never half of one. A full disk raises :class:`~ragdistill.errors.DiskFullError`
(the folder, the space the checkpoint needs) and removes the partial folder; the last
complete checkpoint stays, and the rerun after space is freed resumes from it.

With ``train.metric_for_best`` the weights of the best evaluation so far are kept beside
them in ``best-N`` (``model.safetensors`` and ``state.json``: step, metric, value), also
written atomically. A folder per step, not one ``best`` renamed in place: a resumed run's
checkpoint names the best step it knew, and that folder must still be there even if a
later best was written before the kill.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ragdistill.artifacts import disk_space_for

PREFIX = "step-"
BEST_PREFIX = "best-"


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for index, slots in state["state"].items():
        for key, value in slots.items():
            name = f"{index}.{key}"
            if torch.is_tensor(value):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _module_weights(modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    return _dedupe_shared(
        {
            f"{prefix}.{name}": tensor.detach().cpu().contiguous()
            for prefix, module in modules.items()
            for name, tensor in module.state_dict().items()
        }
    )


def save_checkpoint(
    folder: Path,
    *,
    step: int,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write ``folder/step-N`` and prune all but the newest ``keep`` checkpoints."""
    final = folder / f"{PREFIX}{step:08d}"
    tmp = folder / f".tmp-{PREFIX}{step:08d}"
    weights = _module_weights(modules)
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    rng = {"torch": torch.get_rng_state()}
    full_state = {
        **state,
        "step": step,
        "optimizer": opt_meta,
        "scheduler": scheduler.state_dict(),
        "python_rng": _jsonable(random.getstate()),
        "numpy_rng": _jsonable(np.random.get_state()),
    }
    state_json = json.dumps(full_state, default=_default)
    tensors = [*weights.values(), *opt_tensors.values(), *rng.values()]
    needed = sum(t.numel() * t.element_size() for t in tensors) + len(state_json)
    try:
        with disk_space_for(folder, f"checkpoint step {step}", needed):
            folder.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            save_file(weights, tmp / "model.safetensors")
            save_file(opt_tensors, tmp / "optimizer.safetensors")
            save_file(rng, tmp / "rng.safetensors")
            (tmp / "state.json").write_text(state_json)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a partial checkpoint: free its space
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in sorted(folder.glob(f"{PREFIX}*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(p for p in folder.glob(f"{PREFIX}*") if (p / "state.json").is_file())
    return found[-1] if found else None


def load_checkpoint(
    path: Path,
    *,
    modules: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNGs in place; returns ``state.json``."""
    load_weights(path, modules)
    state: dict[str, Any] = json.loads((path / "state.json").read_text())
    optimizer.load_state_dict(
        _unflatten_optimizer(load_file(path / "optimizer.safetensors"), state["optimizer"])
    )
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(load_file(path / "rng.safetensors")["torch"])
    random.setstate(_tupled(state["python_rng"]))
    np.random.set_state(_tupled(state["numpy_rng"]))
    return state


def load_weights(path: Path, modules: dict[str, torch.nn.Module]) -> None:
    """Load ``path/model.safetensors`` (a checkpoint's or a best folder's) into ``modules``."""
    weights = load_file(path / "model.safetensors")
    for prefix, module in modules.items():
        own = {k[len(prefix) + 1 :]: v for k, v in weights.items() if k.startswith(prefix + ".")}
        module.load_state_dict(own, strict=True)


def save_best(
    folder: Path, *, step: int, modules: dict[str, torch.nn.Module], state: dict[str, Any]
) -> Path:
    """Write the weights of the best evaluation to ``folder/best-N``, atomically.

    Only weights (no optimizer): training never resumes from here, the artifact is
    restored to them at the end. Older best folders stay until :func:`prune_best`.
    """
    final = folder / f"{BEST_PREFIX}{step:08d}"
    tmp = folder / f".tmp-{BEST_PREFIX}{step:08d}"
    weights = _module_weights(modules)
    state_json = json.dumps({**state, "step": step})
    needed = sum(t.numel() * t.element_size() for t in weights.values()) + len(state_json)
    try:
        with disk_space_for(folder, f"best weights of step {step}", needed):
            folder.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            save_file(weights, tmp / "model.safetensors")
            (tmp / "state.json").write_text(state_json)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final


def best_checkpoint(folder: Path, step: int) -> Path | None:
    """The complete ``best-N`` folder of ``step``, if there is one."""
    path = folder / f"{BEST_PREFIX}{step:08d}"
    return path if (path / "state.json").is_file() else None


def prune_best(folder: Path, keep_step: int | None) -> None:
    """Remove every best folder but ``keep_step``'s, once a checkpoint names that step."""
    keep = None if keep_step is None else f"{BEST_PREFIX}{keep_step:08d}"
    for old in folder.glob(f"{BEST_PREFIX}*"):
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
    for partial in folder.glob(f".tmp-{BEST_PREFIX}*"):
        shutil.rmtree(partial, ignore_errors=True)


def _dedupe_shared(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors sharing memory (tied embeddings): store clones.
    seen: set[int] = set()
    out = {}
    for name, tensor in weights.items():
        ptr = tensor.data_ptr()
        out[name] = tensor.clone() if ptr in seen else tensor
        seen.add(ptr)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    return value


def _tupled(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        return np.array(value["__ndarray__"], dtype=value["dtype"])
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value


def _default(value: Any) -> Any:
    if torch.is_tensor(value):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")
