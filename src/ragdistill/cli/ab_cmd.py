"""``ragdistill ab <stage>``: each registered stage supplies its own A/B command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ragdistill.cli import RagdistillGroup

if TYPE_CHECKING:
    from ragdistill.registry import Registry


#: Commands beside the stages': whole pipelines offline, and the online router's log.
PIPELINE_COMMANDS = {
    "pipeline": ("ragdistill.rag.offline_cli", "pipeline_command"),
    "report": ("ragdistill.rag.cli", "report_command"),
}


class StageCommands(RagdistillGroup):
    """Subcommands looked up among the registered stages when asked for, not at start-up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        # Spelled as commands are: `ab query-transformer` (the stage query_transformer).
        stages = [name.replace("_", "-") for name in _stage_registry().stage_names()]
        return stages + list(PIPELINE_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in PIPELINE_COMMANDS:
            import importlib

            module, attr = PIPELINE_COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        registry = _stage_registry()
        cmd_name = cmd_name.replace("-", "_")
        if cmd_name not in registry.stage_names():
            return None
        command = registry.stage(cmd_name)().ab_command()
        return command


def _stage_registry() -> Registry:
    # Only the stage hook: a full registry would import torch for the losses.
    from ragdistill.registry import default_registry

    return default_registry(kinds=("stage",))


@click.group(cls=StageCommands)
def ab() -> None:
    """A/B a student against its teacher on the stage's own metrics (JSON + HTML report).

    One subcommand per registered stage, e.g. `ragdistill ab embedder --teacher ...
    --student ... --out DIR`; `ragdistill ab STAGE --help` lists its options. `ab
    pipeline SPEC` compares whole RAG pipelines offline; `ab report LOG.sqlite` reports
    the online router's log.
    """
