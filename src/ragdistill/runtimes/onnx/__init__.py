"""The ``onnx`` runtime: embedders and cross-encoders on ONNX Runtime, fp32 or int8.

Registered by :mod:`ragdistill.default_plugins.runtimes`; nothing here imports torch or
onnxruntime until an artifact loads.
"""

from ragdistill.runtimes.onnx.runtime import OnnxRuntime

__all__ = ["OnnxRuntime"]
