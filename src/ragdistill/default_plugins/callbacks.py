"""Built-in plugin: the TensorBoard training callback, registered as a third party's would be.

Registered only when the ``tensorboard`` package is installed (checked without importing
it); otherwise the hook reports it unavailable, with the command that installs it.
"""

from __future__ import annotations

from importlib.util import find_spec

from ragdistill.errors import MissingDependencyError
from ragdistill.hookspecs import RegisterCallback, hookimpl


@hookimpl
def register_callbacks(register: RegisterCallback) -> None:
    from ragdistill.tracking import INSTALL_HINT, TensorBoardCallback

    if find_spec("tensorboard") is None:
        raise MissingDependencyError(
            f"the 'tensorboard' training callback needs the 'tensorboard' package: {INSTALL_HINT}"
        )
    register("tensorboard", TensorBoardCallback)
