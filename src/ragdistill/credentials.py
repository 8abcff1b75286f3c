"""Credentials never live in a recipe or in anything ragdistill writes.

A recipe is copied around (``recipe.json`` in the run folder, the artifact's
``ragdistill.json``, a repository), so a key written in it travels with every copy.
:func:`refuse_secrets` runs first when a recipe is validated and refuses, at any depth
(``[teacher]``, ``[teacher.members[1]]``, ``[teacher.headers]``, ``[plugins.x]``...):

- a non-empty option named like a credential (:func:`is_secret_name`: ``api_key``,
  ``token``, ``password``, ``authorization``, ``*_api_key``, ``*_secret``...);
- a value that looks like one wherever it is (:data:`CREDENTIAL_PATTERNS`: ``sk-...``,
  ``hf_...``, ``Bearer ...``, a URL with a password);
- an ``*_env`` option (``api_key_env``) holding anything but an environment variable's
  name: the key pasted where its variable's name belongs.

The error names the table and the option, never the value, and says what to write
instead: ``api_key_env = "NAME"``. There is no opt-in: an environment variable carries
any secret a recipe would, and the Python API still takes ``api_key=`` for code that
gets its keys elsewhere. :func:`mask_secrets` is what ``recipe.json`` and manifests are
written through all the same, for a recipe or a component built in code.

This module imports nothing of ragdistill but its errors, so the lowest layers
(:mod:`ragdistill.artifacts`) can mask what they write.
"""

from __future__ import annotations

import re
from typing import Any

from ragdistill.errors import ConfigError

#: Option names whose values are credentials (compared lower-cased, ``-`` read as ``_``).
SECRET_NAMES = frozenset(
    {
        "api_key", "apikey", "token", "hf_token", "access_token", "auth_token", "api_token",
        "bearer_token", "refresh_token", "password", "passwd", "secret", "client_secret",
        "secret_key", "private_key", "access_key", "authorization", "proxy_authorization",
    }
)  # fmt: skip
#: The same for families of names, by ending (``x_api_key`` from an ``X-Api-Key`` header).
SECRET_ENDINGS = (
    "_api_key", "_apikey", "_secret", "_password", "_access_token", "_auth_token",
    "_api_token", "_secret_key", "_private_key", "_access_key",
)  # fmt: skip
#: Values that are credentials whatever option holds them, with what each one is.
CREDENTIAL_PATTERNS = (
    (re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}"), "an API secret key, sk-..."),
    (re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}"), "a Hugging Face token, hf_..."),
    (re.compile(r"(?<![A-Za-z0-9])(gh[pousr]_|github_pat_)[A-Za-z0-9_]{30,}"), "a GitHub token"),
    (re.compile(r"(?<![A-Za-z0-9])AKIA[0-9A-Z]{16}(?![0-9A-Z])"), "an AWS access key"),
    (re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}"), "a Google API key"),
    (re.compile(r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9\-]{10,}"), "a Slack token"),
    (re.compile(r"\bBearer\s+[A-Za-z0-9._~+/\-]{16,}"), "a bearer token"),
    (re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MASK = "***"


def _normal(key: str) -> str:
    return key.lower().replace("-", "_")


def is_secret_name(key: str) -> bool:
    """Whether an option named ``key`` holds a credential (``api_key``, ``X-Api-Key``...)."""
    name = _normal(key)
    return name in SECRET_NAMES or name.endswith(SECRET_ENDINGS)


def credential_kind(value: str) -> str | None:
    """What credential ``value`` holds or contains (see :data:`CREDENTIAL_PATTERNS`), or None."""
    for pattern, kind in CREDENTIAL_PATTERNS:
        if pattern.search(value):
            return kind
    return None


def _env_option(key: str) -> bool:
    """``api_key_env``, ``token_env``...: the name of the variable holding a credential."""
    name = _normal(key)
    return name.endswith("_env") and is_secret_name(name[: -len("_env")])


def _looks_like_a_key(value: str) -> bool:
    """Not a variable name: long, with lower and upper case letters and digits mixed."""
    return len(value) >= 30 and all(
        any(test(c) for c in value) for test in (str.islower, str.isupper, str.isdigit)
    )


def refuse_secrets(data: Any, where: str, table: str = "") -> None:
    """Refuse a credential written anywhere in a recipe's raw ``data`` (see the module doc).

    ``where`` (the recipe file) starts the one-line :class:`ConfigError`; the value is
    never part of it.
    """
    if isinstance(data, dict):
        for key, value in data.items():
            _check_option(str(key), value, where, table)
            refuse_secrets(value, where, f"{table}.{key}" if table else str(key))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            refuse_secrets(value, where, f"{table}[{i}]")


def _check_option(key: str, value: Any, where: str, table: str) -> None:
    option = f"[{table}] {key}" if table else key
    use_env = 'put it in an environment variable and name that: api_key_env = "NAME"'
    if is_secret_name(key) and value not in (None, "", False) and not isinstance(value, dict):
        raise ConfigError(
            f"{where}: {option}: a credential written in a recipe travels in plain text "
            f"wherever the recipe does; {use_env} (the value is not shown)"
        )
    if not isinstance(value, str):
        return
    if _env_option(key) and (not _ENV_NAME.fullmatch(value) or _looks_like_a_key(value)
                             or credential_kind(value)):  # fmt: skip
        raise ConfigError(
            f"{where}: {option} must be the name of an environment variable (letters, digits "
            f'and _, e.g. {key} = "MY_API_KEY"), not the credential itself; put the '
            "credential in that variable (the value is not shown)"
        )
    if (kind := credential_kind(value)) is not None:
        raise ConfigError(
            f"{where}: {option} holds what looks like {kind}; a credential written in a "
            f"recipe travels in plain text wherever the recipe does; {use_env} (the value "
            "is not shown)"
        )


def mask_secrets(value: Any) -> Any:
    """``value`` (JSON data) with credential-named options and credential-like strings
    replaced by ``"***"``: what ``recipe.json`` and manifests are written through."""
    if isinstance(value, dict):
        return {
            k: MASK if is_secret_name(str(k)) and v and not isinstance(v, dict) else mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    if isinstance(value, str) and credential_kind(value) is not None:
        return MASK
    return value
