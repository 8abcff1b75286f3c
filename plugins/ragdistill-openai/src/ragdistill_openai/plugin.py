"""The entry point ``openai`` in the ``ragdistill`` group: registers the four teachers.

Each adapter is registered as ``"openai"`` for its stage, so a recipe names it with
``[teacher] stage = "embedder"`` and ``name = "openai"``.
"""

from __future__ import annotations

from ragdistill.hookspecs import RegisterTeacher, hookimpl


@hookimpl
def register_teachers(register: RegisterTeacher) -> None:
    from ragdistill_openai.chat import OpenAIChatGenerator
    from ragdistill_openai.embedder import OpenAIEmbedder
    from ragdistill_openai.judge import OpenAIJudgeReranker
    from ragdistill_openai.query_transformer import OpenAIQueryTransformer

    register("openai", OpenAIEmbedder)
    register("openai", OpenAIJudgeReranker)
    register("openai", OpenAIQueryTransformer)
    register("openai", OpenAIChatGenerator)
