"""Built-in plugin: the torch runtime (CPU and CUDA)."""

from __future__ import annotations

from ragdistill.hookspecs import RegisterRuntime, hookimpl


@hookimpl
def register_runtimes(register: RegisterRuntime) -> None:
    from ragdistill.torch_runtime import TorchRuntime

    register("torch", TorchRuntime)
