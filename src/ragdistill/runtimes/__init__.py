"""Runtime backends beyond the built-in torch one (:mod:`ragdistill.torch_runtime`)."""
