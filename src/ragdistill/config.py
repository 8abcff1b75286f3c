"""Options models built from a constructor's signature, validated before any work.

A plugin author writes a normal typed ``__init__``; ragdistill derives a pydantic model
from it (``extra="forbid"``) so a recipe's ``[teacher]`` table is checked, key by key,
before a model is loaded. A typo fails with the key's name and the closest valid one.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ragdistill.errors import ConfigError

_FORBID = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())


@cache
def options_model(target: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of the keyword arguments ``target`` (a class or function) accepts."""
    func = target.__init__ if inspect.isclass(target) else target
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolved forward refs: fall back to no type checks
        hints = {}
    fields: dict[str, Any] = {}
    extra_allowed = False
    for i, (name, param) in enumerate(inspect.signature(func).parameters.items()):
        if i == 0 and inspect.isclass(target) and name == "self":
            continue
        if param.kind is param.VAR_KEYWORD:
            extra_allowed = True
            continue
        if param.kind is param.VAR_POSITIONAL:
            continue
        default = ... if param.default is param.empty else param.default
        fields[name] = (hints.get(name, Any), default)
    config = ConfigDict(**{**_FORBID, "extra": "allow" if extra_allowed else "forbid"})
    model_name = f"{getattr(target, '__qualname__', 'target')}Options".replace(".", "_")
    return create_model(model_name, __config__=config, **fields)


def validate_options(
    target: Callable[..., Any], options: Mapping[str, Any], *, where: str
) -> dict[str, Any]:
    """Validate ``options`` for ``target``; raise :class:`ConfigError` naming ``where.key``."""
    model = options_model(target)
    try:
        validated = model(**dict(options))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where=where, model=model)) from None
    return {k: getattr(validated, k) for k in validated.model_fields_set | set(options)}


def format_validation_error(exc: ValidationError, *, where: str, model: type[BaseModel]) -> str:
    """One line per problem: ``where.key: what is wrong -> how to fix it``."""
    lines = []
    for err in exc.errors():
        valid = _fields_at(model, err["loc"][:-1])
        loc = ".".join(str(p) for p in err["loc"])
        key = ".".join(part for part in (where, loc) if part) or "value"
        if err["type"] == "extra_forbidden":
            hint = suggest(str(err["loc"][-1]), valid)
            fix = f"did you mean {hint!r}?" if hint else f"valid keys: {', '.join(valid) or 'none'}"
            lines.append(f"{key}: unknown key; {fix}")
        elif err["type"] == "missing":
            lines.append(f"{key}: required key is missing; add it")
        else:
            lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def suggest(name: str, candidates: typing.Iterable[str]) -> str | None:
    """The closest candidate to a misspelled ``name``, if any is close enough."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def _fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """Field names of the (nested) model that ``path`` leads to, for suggestions."""
    current: Any = model
    for part in path:
        field = getattr(current, "model_fields", {}).get(part) if isinstance(part, str) else None
        if field is None:
            if isinstance(part, int):
                continue  # list index: the element type is the list's own annotation
            return []
        annotation = field.annotation
        for arg in (annotation, *typing.get_args(annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
                break
        else:
            return []
    return list(getattr(current, "model_fields", {}))


def build(cls: type, options: dict[str, Any], where: str) -> Any:
    """Instantiate a registered class from validated recipe options."""
    from_options = getattr(cls, "from_options", None)
    if from_options is not None:
        return from_options(options, where=where)
    instance = cls(**validate_options(cls, options, where=where))
    instance.options = dict(options)
    return instance


def in_table(table: str, message: str) -> str:
    """``message`` prefixed with the recipe table it is about: ``[table] message``.

    A message already prefixed by a nested table (``[members[1]] ...``, from an ensemble
    building its members) is joined to it: ``[teacher.members[1]] ...``.
    """
    if message.startswith("[") and "] " in message:
        inner, rest = message[1:].split("] ", 1)
        return f"[{table}.{inner}] {rest}"
    return f"[{table}] {message}"


def build_checked(cls: type, options: Mapping[str, Any], table: str) -> Any:
    """:func:`build` for recipe validation: any ``ValueError`` its ``__init__`` raises (a
    range check; :class:`ConfigError` is one) becomes a :class:`ConfigError` naming
    ``[table]``. A component must load nothing in ``__init__`` for this to stay cheap."""
    try:
        return build(cls, dict(options), table)
    except ValueError as exc:
        raise ConfigError(in_table(table, str(exc))) from None


def article(word: str | None) -> str:
    """ "a" or "an" before ``word``, for messages that name a stage ("an embedder")."""
    return "an" if (word or "")[:1] in tuple("aeiou") else "a"
