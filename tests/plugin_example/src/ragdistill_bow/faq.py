"""The ``faq`` dataset: questions and their answers, one pair a line."""

from __future__ import annotations

from pathlib import Path

from ragdistill.datasets import DatasetLoader, Document, RetrievalDataset
from ragdistill.errors import ConfigError


class FaqDataset(DatasetLoader):
    """A file of ``question<TAB>answer`` lines.

    Each answer is a passage, each question a query judged relevant to its own answer,
    so an A/B reports nDCG and recall, not only agreement with the teacher.
    """

    def __init__(self, path: Path, name: str = "faq") -> None:
        self.path = Path(path)
        self.name = name

    def load(self) -> RetrievalDataset:
        if not self.path.is_file():
            raise ConfigError(
                f"data.path {self.path} does not exist; write question<TAB>answer lines"
            )
        corpus, queries, qrels = {}, {}, {}
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            question, tab, answer = line.partition("\t")
            question, answer = question.strip(), answer.strip()
            if not (tab and question and answer):
                raise ConfigError(
                    f"{self.path}:{number}: write question<TAB>answer, got {line!r:.60}"
                )
            corpus[f"a{number}"] = Document(f"a{number}", "", answer)
            queries[f"q{number}"] = question
            qrels[f"q{number}"] = {f"a{number}": 1}
        return RetrievalDataset(self.name, corpus, queries, qrels, chunk_size=None)
