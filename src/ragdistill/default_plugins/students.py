"""Built-in plugin: the trainable students."""

from __future__ import annotations

from ragdistill.hookspecs import RegisterStudent, hookimpl


@hookimpl
def register_students(register: RegisterStudent) -> None:
    from ragdistill.students.rerankers import BiEncoderStudent, ColBERTStudent, CrossEncoderStudent
    from ragdistill.students.sentence_transformer import SentenceTransformerStudent

    register("sentence-transformers", SentenceTransformerStudent)
    register("cross-encoder", CrossEncoderStudent)
    register("bi-encoder", BiEncoderStudent)
    register("colbert", ColBERTStudent)
