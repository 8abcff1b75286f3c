"""The plugin: what ragdistill loads through the ``ragdistill`` entry point.

Each hook imports the module it registers from inside the function, so importing this
module (which every ``ragdistill`` command does) stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragdistill.hookspecs import (
    RegisterDataset,
    RegisterLoss,
    RegisterRuntime,
    RegisterStudent,
    RegisterTeacher,
    hookimpl,
)

if TYPE_CHECKING:
    import click


@hookimpl
def register_teachers(register: RegisterTeacher) -> None:
    from ragdistill_bow.embedders import BagOfWordsEmbedder, HashedNgramEmbedder

    register("hashed-ngrams", HashedNgramEmbedder)  # [teacher] kind = "hashed-ngrams"
    register("bag-of-words", BagOfWordsEmbedder)  # loads the student's artifacts back


@hookimpl
def register_students(register: RegisterStudent) -> None:
    from ragdistill_bow.training import BagOfWordsStudent

    register("bag-of-words", BagOfWordsStudent)  # [student] kind = "bag-of-words"


@hookimpl
def register_losses(register: RegisterLoss) -> None:
    from ragdistill_bow.training import RelationalMSELoss

    register("relational-mse", RelationalMSELoss)  # [[losses]] name = "relational-mse"


@hookimpl
def register_datasets(register: RegisterDataset) -> None:
    from ragdistill_bow.faq import FaqDataset

    register("faq", FaqDataset)  # [data] dataset = "faq"


@hookimpl
def register_runtimes(register: RegisterRuntime) -> None:
    from ragdistill_bow.runtime import AuditedRuntime

    register("audited", AuditedRuntime)  # [runtime] backend = "audited"


@hookimpl
def register_commands(cli: click.Group) -> None:
    from ragdistill_bow.cli import nearest

    cli.add_command(nearest)  # ragdistill nearest ARTIFACT QUERY --texts FILE
