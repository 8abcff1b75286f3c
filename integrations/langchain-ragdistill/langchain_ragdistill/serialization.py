"""LangChain serialisation (``dumpd``/``dumps`` and ``load``/``loads``) of the adapters
that LangChain's own base classes make serialisable: the chat model and the query
runnables. The payload holds the description (``model=`` an artifact directory or model
name, or ``teacher=`` a kind, with ``load_options``), never the weights::

    from langchain_core.load import dumpd, load
    from langchain_ragdistill import ChatRagdistill, refuse_widening_options

    data = dumpd(ChatRagdistill.from_artifact("runs/smol/student", max_tokens=64))
    llm = load(
        data,
        allowed_objects=[ChatRagdistill],
        valid_namespaces=["langchain_ragdistill"],
        init_validator=refuse_widening_options,
    )

``load`` builds the object, and so checks the artifact, at once. An adapter around a
component built in code has no description: it serialises as "not implemented", as
LangChain does for what it cannot rebuild. ``RagdistillEmbeddings`` and
``RagdistillRerank`` derive from LangChain classes that are not serialisable; copy or
pickle them instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from langchain_core.load.serializable import Serializable, to_json_not_implemented

from langchain_ragdistill import _hints
from langchain_ragdistill._base import ComponentFields
from ragdistill.artifacts import refused_load_option
from ragdistill.errors import ConfigError

#: Options a payload may set although a manifest may not: they choose the model to load,
#: which is what a payload is for.
_CHOOSES_MODEL = frozenset({"model", "members", "revision"})


class SerializableComponent(ComponentFields):
    """Mixin for adapters whose LangChain base class is ``Serializable``."""

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @property
    def lc_attributes(self) -> dict[str, Any]:
        # runtime is excluded from model_dump (it may be an object); a name is kept.
        return {"runtime": self.runtime} if isinstance(self.runtime, str) else {}

    def to_json(self) -> Any:
        if not self._described or not (self.runtime is None or isinstance(self.runtime, str)):
            return to_json_not_implemented(self)
        return Serializable.to_json(cast("Serializable", self))


def refuse_widening_options(class_path: tuple[str, ...], kwargs: dict[str, Any]) -> None:
    """An ``init_validator`` for LangChain's ``load``/``loads``: a payload may choose the
    model an adapter loads, but not widen what the load may do.

    Refuses, in an adapter's ``load_options`` or ``runtime_options`` at any depth, the
    options an artifact manifest may not set either (``trust_remote_code``, servers,
    credentials, files elsewhere: :func:`ragdistill.artifacts.refused_load_option`) and
    ``allow_network``, and a ``teacher`` kind that talks to a server. Then applies
    LangChain's default check (no jinja2 templates).
    """
    from langchain_core.load.load import default_init_validator

    default_init_validator(class_path, kwargs)
    if class_path[:1] != ("langchain_ragdistill",):
        return
    where = class_path[-1]
    for field in ("load_options", "runtime_options"):
        _refuse(kwargs.get(field), f"{where}.{field}")
    adapter = _hints.CLASSES.get(class_path[-1])
    kind = kwargs.get("teacher")
    if adapter is not None and isinstance(kind, str):
        from ragdistill.loading import is_network_loader
        from ragdistill.registry import default_registry

        if is_network_loader(default_registry().teacher(adapter.stage, kind)):
            raise ConfigError(
                f"{where}: teacher {kind!r} sends requests to a server; a payload may not "
                "choose one (build it yourself with from_teacher)"
            )


def _refuse(options: Any, where: str) -> None:
    if isinstance(options, Mapping):
        for key, value in options.items():
            reason = None if key in _CHOOSES_MODEL else refused_load_option(str(key))
            if key == "allow_network":
                reason = "lets the load talk to a server"
            if reason is not None:
                raise ConfigError(
                    f"{where}.{key} {reason}; a serialised payload may not set it (pass it "
                    "yourself: from_artifact(path, load_options={...}))"
                )
            _refuse(value, f"{where}.{key}")
    elif isinstance(options, list | tuple):
        for i, value in enumerate(options):
            _refuse(value, f"{where}[{i}]")
