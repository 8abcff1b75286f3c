"""Built-in plugin: the model sources ``local``, ``pypi`` and ``hf``.

Registered through ``register_model_sources`` exactly as a third-party source would be
(e.g. an ``s3:`` source in a pip-installable plugin).
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterModelSource, hookimpl


@hookimpl
def register_model_sources(register: RegisterModelSource) -> None:
    from ragdistill.models.hub import HubSource
    from ragdistill.models.local import LocalSource
    from ragdistill.models.packaged import PackagedSource

    register("local", LocalSource)
    register("pypi", PackagedSource)
    register("hf", HubSource)
