"""The built-in distillable stages, one package each, registered through ``register_stages``.

Each package holds everything of its stage: the components (teachers) and students, the
losses, the distillation pipeline, the A/B with its report, the ``ragdistill ab <stage>``
command, the demo recipe and a ``plugin`` module that registers all of it. A third-party
stage is a package of the same shape with an entry point in the ``ragdistill`` group.
"""
