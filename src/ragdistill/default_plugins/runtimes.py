"""Built-in plugin: the torch runtime (CPU and CUDA) and the ONNX Runtime one."""

from __future__ import annotations

from ragdistill.hookspecs import RegisterRuntime, hookimpl


@hookimpl
def register_runtimes(register: RegisterRuntime) -> None:
    from ragdistill.runtimes.onnx import OnnxRuntime
    from ragdistill.torch_runtime import TorchRuntime

    register("torch", TorchRuntime)
    register("onnx", OnnxRuntime)  # [runtime] backend = "onnx"; --runtime onnx
