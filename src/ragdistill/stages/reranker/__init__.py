"""The reranker stage: teacher scores of first-stage candidates into a small reranker.

``components``, ``colbert``, ``ensemble``, ``llm_judge`` (teachers), ``students``/
``student_models``, ``losses/``, ``mining`` and ``setup`` (candidates, hard negatives),
``cached_teacher``, ``pipeline`` (recipe -> artifact), ``ab``/``ab_result``/``ab_report``
(reranking A/B), ``evaluate``, ``cli`` (``ragdistill ab reranker``), ``stage`` and
``plugin`` (its registrations). Importing it loads no torch.
"""
