"""Exceptions ragdistill raises. Each message names the input at fault and what to do."""

from __future__ import annotations

from types import ModuleType


class RagdistillError(Exception):
    """Base class: the CLI prints these without a traceback."""


class ConfigError(RagdistillError, ValueError):
    """A recipe, option or argument is invalid; raised before any work starts."""


class PluginError(RagdistillError):
    """A plugin is broken: it failed to import, misspelled a hook or reused a name."""


class UnknownNameError(ConfigError, KeyError):
    """A name (teacher, loss, dataset, model...) that nothing registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ContractError(RagdistillError, TypeError):
    """A component broke its stage contract (wrong output shape, type or count)."""


class ChecksumError(RagdistillError):
    """A file's sha256 differs from the one recorded; the file is not used."""


class DiskFullError(RagdistillError, OSError):
    """A checkpoint or artifact write ran out of disk space; the message names the folder
    and about how much space the write needs. A rerun after freeing space resumes."""


class MissingDependencyError(RagdistillError, ImportError):
    """An optional library is needed for this feature; the message says what to install."""


def require(module: str, *, extra: str | None = None, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise a :class:`MissingDependencyError` naming the pip command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f"ragdistill[{extra}]" if extra else (package or module.split(".")[0])
        raise MissingDependencyError(
            f"This feature needs the {module!r} module: pip install '{what}'"
        ) from exc
