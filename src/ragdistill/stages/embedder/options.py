"""The embedder stage's own recipe options: its ``[embedder]`` table."""

from __future__ import annotations

from ragdistill.stage import StageOptions


class EmbedderOptions(StageOptions):
    #: Each query-shaped text shares its batch with a passage from its teacher's top 3,
    #: so in-batch losses (NT-Xent, similarity-KL) see the pairs retrieval ranks. Pays
    #: when the query-shaped training texts are real queries of the corpus's domain.
    teacher_pairs: bool = False
