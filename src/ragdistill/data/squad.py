"""SQuAD v1.1 as a retrieval set: paragraphs are the corpus, each question's relevant
document is its own paragraph (and its answers are the generator's gold answers)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from ragdistill.data.checks import (
    Decoder,
    DuplicateIds,
    EncodingErrors,
    UniqueIds,
    check_max_chars,
    finish,
)
from ragdistill.datasets import MIN_DOCUMENTS, DatasetLoader, Document, RetrievalDataset
from ragdistill.errors import ConfigError


class SquadDataset(DatasetLoader):
    """A SQuAD-format JSON file (``dev-v1.1.json``).

    ``eval_queries`` questions (a seeded sample) are judged and evaluated; the others
    stay as unjudged queries, in-domain text a distillation may train on without
    touching the evaluated ones. ``None`` judges every question. ``max_corpus`` keeps
    the judged paragraphs, then others in file order, up to that many.

    ``eval_articles`` draws the judged questions from that many held-out articles only
    (a seeded sample), so the unjudged questions a distillation trains on never share an
    article with an evaluated one. Every question keeps its gold answers (``answers``)
    and its paragraph (``sources``), judged or not.

    Bytes that are not UTF-8 are refused unless ``encoding_errors="replace"``, a repeated
    question id unless ``duplicate_ids="keep-first"``, and a file without paragraphs or
    questions. ``max_chars`` cuts every text to that many characters.
    """

    def __init__(
        self,
        path: Path,
        eval_queries: int | None = 500,
        max_corpus: int | None = None,
        seed: int = 0,
        eval_articles: int | None = None,
        encoding_errors: EncodingErrors = "strict",
        duplicate_ids: DuplicateIds = "error",
        max_chars: int | None = None,
    ) -> None:
        for key, value in (
            ("eval_queries", eval_queries),
            ("max_corpus", max_corpus),
            ("eval_articles", eval_articles),
        ):
            if value is not None and value < 1:
                raise ConfigError(f"{key} must be >= 1, got {value}")
        self.path = Path(path)
        self.eval_queries = eval_queries
        self.max_corpus = max_corpus
        self.seed = seed
        self.eval_articles = eval_articles
        self.encoding_errors = encoding_errors
        self.duplicate_ids = duplicate_ids
        self.max_chars = max_chars
        check_max_chars(max_chars)

    def load(self) -> RetrievalDataset:
        if not self.path.is_file():
            raise ConfigError(
                f"SQuAD file {self.path} does not exist; pass the path of a SQuAD v1.1 JSON "
                "file such as dev-v1.1.json"
            )
        decoder = Decoder(self.encoding_errors, unit="file")
        text = decoder.decode(self.path.read_bytes(), self.path)
        decoder.report()
        try:
            articles = json.loads(text)["data"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{self.path} is not SQuAD v1.1 JSON ({exc})") from None
        corpus: dict[str, Document] = {}
        queries: dict[str, str] = {}
        relevant: dict[str, str] = {}
        answers: dict[str, list[str]] = {}
        article_of: dict[str, int] = {}
        question_ids = UniqueIds(self.path, "question", self.duplicate_ids)
        for a, article in enumerate(articles):
            title = str(article.get("title", "")).replace("_", " ")
            for p, paragraph in enumerate(article["paragraphs"]):
                doc_id = f"a{a}-p{p}"
                corpus[doc_id] = Document(doc_id, title, paragraph["context"])
                for qa in paragraph["qas"]:
                    if not question_ids.first(qa["id"]):
                        continue
                    queries[qa["id"]] = qa["question"]
                    relevant[qa["id"]] = doc_id
                    article_of[qa["id"]] = a
                    answers[qa["id"]] = list(
                        dict.fromkeys(str(x["text"]) for x in qa.get("answers", []))
                    )
        question_ids.finish()
        if len(corpus) < MIN_DOCUMENTS or not queries:
            raise ConfigError(
                f"{self.path} holds {len(corpus)} paragraphs and {len(queries)} questions; a "
                f"dataset needs at least {MIN_DOCUMENTS} paragraph and 1 question: pass a "
                "SQuAD v1.1 file such as dev-v1.1.json"
            )
        judged = list(queries)
        if self.eval_articles is not None:
            ids = sorted(set(article_of.values()))
            if self.eval_articles >= len(ids):
                raise ConfigError(
                    f"eval_articles is {self.eval_articles} but {self.path.name} has "
                    f"{len(ids)} articles; hold out fewer so some remain to train on"
                )
            held = set(random.Random(self.seed).sample(ids, self.eval_articles))
            judged = [q for q in judged if article_of[q] in held]
        if self.eval_queries is not None and self.eval_queries < len(judged):
            judged = random.Random(self.seed).sample(judged, self.eval_queries)
        dataset = RetrievalDataset(
            name=f"squad:{self.path.stem}",
            corpus=corpus,
            queries=queries,
            qrels={q: {relevant[q]: 1} for q in judged},
            split="dev",
            chunk_size=None,
            answers={q: a for q, a in answers.items() if a},
            sources={q: [d] for q, d in relevant.items()},
        )
        if self.max_corpus is not None:
            dataset = dataset.subset(max_corpus=self.max_corpus)
        return finish(dataset, self.path, self.max_chars)
