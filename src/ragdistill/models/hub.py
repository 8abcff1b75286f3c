"""``hf:ORG/NAME[@REVISION]``: a snapshot of a Hugging Face hub repository.

For users who can reach the hub. Offline (``HF_HUB_OFFLINE=1``, or no network) the
fetch fails with an error that points at what works offline: the packaged models and
local folders.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, ClassVar

from ragdistill.errors import RagdistillError, UnknownNameError, require
from ragdistill.models.sources import ModelSource

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?(@[\w./-]+)?$")
_OFFLINE_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


class HubUnreachableError(RagdistillError):
    """The model hub cannot be reached (offline mode, no network, proxy, firewall)."""


def offline_env() -> str | None:
    """The variable that puts the hub client offline, if one is set."""
    for var in _OFFLINE_ENV:
        if os.environ.get(var, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return var
    return None


def unreachable(name: str, why: str) -> HubUnreachableError:
    return HubUnreachableError(
        f"cannot fetch {name!r} from the Hugging Face hub: it is unreachable ({why}). "
        f"Use a model that installs offline (see `ragdistill models list --available`, e.g. "
        f"all-MiniLM-L6-v2), or a model folder on disk (local:/path/to/model)"
    )


class HubSource(ModelSource):
    """Repositories on the Hugging Face hub, snapshotted into the ragdistill cache."""

    scheme = "hf"
    priority = 90
    description = "Hugging Face hub repositories (needs network access)"
    # Unprefixed hub ids are left to transformers / sentence-transformers, which fetch
    # and cache them themselves; ``hf:`` or ``ragdistill models pull`` snapshots them here.
    defer_to_library: ClassVar[bool] = True

    def handles(self, name: str) -> bool:
        return bool(_REPO_ID.match(name)) and ".." not in name and "--" not in name

    def fetch(self, name: str, dest: Path) -> dict[str, Any]:
        repo_id, _, revision = name.partition("@")
        if not _REPO_ID.match(name):
            raise UnknownNameError(f"{name!r} is not a hub repository id (expected org/name)")
        if var := offline_env():
            raise unreachable(name, f"{var}=1 is set")
        hub = require("huggingface_hub", extra="hf")
        from huggingface_hub import errors

        self.report(f"Downloading {repo_id} from the Hugging Face hub ...")
        try:
            hub.snapshot_download(repo_id, revision=revision or None, local_dir=dest)
        except errors.GatedRepoError as exc:
            raise RagdistillError(
                f"hub repository {repo_id!r} is gated: accept its terms on the hub and log in "
                f"(`hf auth login`), then pull again"
            ) from exc
        except errors.RepositoryNotFoundError as exc:
            raise UnknownNameError(
                f"no hub repository {repo_id!r} (or it is private: log in with `hf auth login`)"
            ) from exc
        except errors.RevisionNotFoundError as exc:
            raise UnknownNameError(
                f"hub repository {repo_id!r} has no revision {revision!r}"
            ) from exc
        except (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError) as exc:
            raise unreachable(name, type(exc).__name__) from exc
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise unreachable(name, f"{type(exc).__name__}: {exc}") from exc
        commit = _commit_of(dest)
        # The hub client keeps download metadata in the folder; it is not model content.
        shutil.rmtree(dest / ".cache", ignore_errors=True)
        return {"repo_id": repo_id, "revision": revision or "main", "commit": commit}


def _commit_of(dest: Path) -> str | None:
    # huggingface_hub writes one .metadata file per file; its first line is the commit.
    for meta in (dest / ".cache" / "huggingface" / "download").rglob("*.metadata"):
        try:
            return meta.read_text().splitlines()[0].strip() or None
        except (OSError, IndexError):
            continue
    return None
