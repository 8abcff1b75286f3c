"""Embedder students: a pretrained sentence-transformers encoder, optionally
layer-pruned and/or given a Dense projection to a lower dimension."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from ragdistill.errors import ConfigError
from ragdistill.students import Student

if TYPE_CHECKING:
    from ragdistill.stages.embedder.student_model import SentenceTransformerStudentModel


class SentenceTransformerStudent(Student):
    """A sentence-transformers student.

    ``keep_layers`` selects which transformer layers survive (e.g. ``[0, 2, 4]`` of a
    6-layer MiniLM); ``projection_dim`` appends a linear Dense layer down to that width
    (initialised orthogonally). ``train_max_seq_length`` truncates inputs during
    training only: on a CPU, attention and activations over long passages dominate the
    cost, and a student trained on the first tokens still reads ``max_seq_length`` when
    it runs.
    """

    stage: ClassVar[Literal["embedder"]] = "embedder"
    loader: ClassVar[str] = "sentence-transformers"

    def __init__(
        self,
        model: str,
        keep_layers: list[int] | None = None,
        projection_dim: int | None = None,
        max_seq_length: int | None = 256,
        train_max_seq_length: int | None = None,
        freeze_embeddings: bool = False,
        device: str = "cpu",
    ) -> None:
        if keep_layers is not None:
            if not keep_layers:
                raise ConfigError("student.keep_layers must list at least one layer index")
            if sorted(set(keep_layers)) != list(keep_layers) or min(keep_layers) < 0:
                raise ConfigError(
                    f"student.keep_layers must be distinct ascending indices >= 0, got {keep_layers}"
                )
        if projection_dim is not None and projection_dim < 1:
            raise ConfigError(f"student.projection_dim must be >= 1, got {projection_dim}")
        for key, value in (
            ("max_seq_length", max_seq_length),
            ("train_max_seq_length", train_max_seq_length),
        ):
            if value is not None and value < 8:
                raise ConfigError(f"student.{key} must be >= 8, got {value}")
        self.model = model
        self.keep_layers = keep_layers
        self.projection_dim = projection_dim
        self.max_seq_length = max_seq_length
        self.train_max_seq_length = train_max_seq_length
        self.freeze_embeddings = freeze_embeddings
        self.device = device

    def build(self) -> SentenceTransformerStudentModel:
        from sentence_transformers import SentenceTransformer

        from ragdistill.hf._loading import _resolve
        from ragdistill.stages.embedder.student_model import SentenceTransformerStudentModel

        st = SentenceTransformer(_resolve(self.model), device=self.device)
        if self.max_seq_length is not None:
            st.max_seq_length = self.max_seq_length
        if self.keep_layers is not None:
            prune_layers(st, self.keep_layers)
        if self.projection_dim is not None:
            add_projection(st, self.projection_dim)
        if self.freeze_embeddings:
            # The token-embedding table is most of a small encoder's weights: keeping it
            # fixed saves its gradient and optimizer state, and keeps the vocabulary the
            # pretrained model learned.
            encoder: Any = st[0]  # the Transformer module (indexing types it as Module)
            for param in encoder.auto_model.get_input_embeddings().parameters():
                param.requires_grad_(False)
        return SentenceTransformerStudentModel(st, train_max_seq_length=self.train_max_seq_length)


def _layer_list(auto_model: Any) -> Any:
    import torch

    n = getattr(auto_model.config, "num_hidden_layers", None)
    for module in auto_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n:
            return module
    raise ConfigError(
        f"cannot find the {n} transformer layers of {type(auto_model).__name__} to prune; "
        "remove student.keep_layers or use a BERT/MPNet/RoBERTa-style encoder"
    )


def prune_layers(st: Any, keep: list[int]) -> None:
    """Keep only the transformer layers at indices ``keep``, in place."""
    import torch

    auto_model = st[0].auto_model
    layers = _layer_list(auto_model)
    if max(keep) >= len(layers):
        raise ConfigError(
            f"student.keep_layers {keep} refers to layer {max(keep)}, but the model has "
            f"{len(layers)} layers (0..{len(layers) - 1})"
        )
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    for parent in auto_model.modules():
        for name, child in list(parent.named_children()):
            if child is layers:
                setattr(parent, name, kept)
    auto_model.config.num_hidden_layers = len(keep)


def add_projection(st: Any, dim: int) -> None:
    """Append a bias-free Dense layer down to ``dim``, initialised orthogonally.

    The initialisation draws from torch's global generator: the embedder pipeline builds
    the student under :func:`~ragdistill.students.seeding.seeded_init`, so the
    recipe's ``train.seed`` fixes it.
    """
    import torch

    try:
        from sentence_transformers.sentence_transformer.modules import Dense
    except ImportError:  # sentence-transformers < 6
        # The old path is gone from the installed 6.x, so mypy cannot resolve it.
        from sentence_transformers.models import Dense  # type: ignore[import-not-found,no-redef]

    from ragdistill.stages.embedder.student_model import embedding_dimension

    width = embedding_dimension(st)
    if dim > width:
        raise ConfigError(
            f"student.projection_dim {dim} is wider than the encoder's {width}-d output; "
            "a projection only reduces the dimension"
        )
    weight = torch.empty(dim, width)
    torch.nn.init.orthogonal_(weight)
    dense = Dense(
        width, dim, bias=False, activation_function=torch.nn.Identity(), init_weight=weight
    )
    st.append(dense)
