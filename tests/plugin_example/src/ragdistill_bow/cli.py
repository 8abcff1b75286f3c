"""``ragdistill nearest``: search a few lines of text with any embedder artifact."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("nearest")
@click.argument("artifact")
@click.argument("query")
@click.option("--texts", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The candidates, one per line.")  # fmt: skip
@click.option("-k", "--k", "k", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--runtime", help="A registered runtime (default: torch on the CPU).")
@click.option("--runtime-option", "runtime_options", multiple=True, metavar="KEY=VALUE",
              help="An option of the runtime (repeatable).")  # fmt: skip
def nearest(
    artifact: str, query: str, texts: Path, k: int, runtime: str | None,
    runtime_options: tuple[str, ...],
) -> None:  # fmt: skip
    """Print the K lines of TEXTS nearest to QUERY, as the embedder at ARTIFACT sees them."""
    import numpy as np

    from ragdistill.contracts import Embedder
    from ragdistill.loading import load_component

    options = dict(item.partition("=")[::2] for item in runtime_options)
    embedder = load_component(artifact, "embedder", runtime=runtime, runtime_options=options)
    assert isinstance(embedder, Embedder)  # load_component checked the stage
    lines = [line for line in texts.read_text(encoding="utf-8").splitlines() if line.strip()]
    scores = embedder.embed_many(lines) @ embedder.embed(query, input_type="query")
    for i in np.argsort(-scores)[:k]:
        click.echo(f"{scores[i]:.3f}  {lines[i]}")
