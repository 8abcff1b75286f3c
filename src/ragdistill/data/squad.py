"""SQuAD v1.1 as a retrieval set: paragraphs are the corpus, each question's relevant
document is its own paragraph (and its answers are the generator's gold answers)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from ragdistill.datasets import DatasetLoader, Document, RetrievalDataset
from ragdistill.errors import ConfigError


class SquadDataset(DatasetLoader):
    """A SQuAD-format JSON file (``dev-v1.1.json``).

    ``eval_queries`` questions (a seeded sample) are judged and evaluated; the others
    stay as unjudged queries, in-domain text a distillation may train on without
    touching the evaluated ones. ``None`` judges every question. ``max_corpus`` keeps
    the judged paragraphs, then others in file order, up to that many.
    """

    def __init__(
        self,
        path: Path,
        eval_queries: int | None = 500,
        max_corpus: int | None = None,
        seed: int = 0,
    ) -> None:
        for key, value in (("eval_queries", eval_queries), ("max_corpus", max_corpus)):
            if value is not None and value < 1:
                raise ConfigError(f"{key} must be >= 1, got {value}")
        self.path = Path(path)
        self.eval_queries = eval_queries
        self.max_corpus = max_corpus
        self.seed = seed

    def load(self) -> RetrievalDataset:
        if not self.path.is_file():
            raise ConfigError(
                f"SQuAD file {self.path} does not exist; pass the path of a SQuAD v1.1 JSON "
                "file such as dev-v1.1.json"
            )
        try:
            articles = json.loads(self.path.read_text(encoding="utf-8"))["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path} is not SQuAD v1.1 JSON ({exc})") from None
        corpus: dict[str, Document] = {}
        queries: dict[str, str] = {}
        relevant: dict[str, str] = {}
        for a, article in enumerate(articles):
            title = str(article.get("title", "")).replace("_", " ")
            for p, paragraph in enumerate(article["paragraphs"]):
                doc_id = f"a{a}-p{p}"
                corpus[doc_id] = Document(doc_id, title, paragraph["context"])
                for qa in paragraph["qas"]:
                    queries[qa["id"]] = qa["question"]
                    relevant[qa["id"]] = doc_id
        judged = list(queries)
        if self.eval_queries is not None and self.eval_queries < len(judged):
            judged = random.Random(self.seed).sample(judged, self.eval_queries)
        dataset = RetrievalDataset(
            name=f"squad:{self.path.stem}",
            corpus=corpus,
            queries=queries,
            qrels={q: {relevant[q]: 1} for q in judged},
            split="dev",
            chunk_size=None,
        )
        if self.max_corpus is None:
            return dataset
        return dataset.subset(max_corpus=self.max_corpus)
