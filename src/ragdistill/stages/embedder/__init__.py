"""The embedder stage: teacher embeddings into a small sentence-transformers student.

``components`` (teachers), ``student``/``student_model``, ``losses/``, ``pipeline``
(recipe -> artifact), ``teacher_pairs`` (batching), ``ab``/``ab_result``/``ab_report``
(retrieval A/B), ``evaluate`` (the A/B after a distillation), ``cli`` (``ragdistill ab
embedder``), ``stage`` and ``plugin`` (its registrations). Importing it loads no torch.
"""
