"""Tiny real models with random weights, built from a config and saved to a folder.

Tests use these instead of hub checkpoints: every loader a component uses (
``SentenceTransformer``, ``CrossEncoder``, ``AutoModel*``, ``AutoTokenizer``) reads them
offline exactly as it reads a downloaded model. Weights are seeded, so a folder built
twice holds the same tensors, and each builder returns at once when ``path`` already
holds a complete build of the same kind and settings.

The tokenizers are WordPiece models built with the ``tokenizers`` library from a few
hundred common English words plus single characters, so any ASCII text tokenizes
(other characters become the unknown token).
"""

from __future__ import annotations

import json
import os
import shutil
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SEED = 0
MAX_POSITIONS = 512
_MARKER = ".ragdistill-tiny.json"

_WORD_TEXT = """
the of and to a in is it you that he was for on are with as i his they be at one have this from
or had by not word but what some we can out other were all there when up use your how said an
each she which do their time if will way about many then them write would like so these her long
make thing see him two has look more day could go come did number sound no most people my over
know water than call first who may down side been now find any new work part take get place made
live where after back little only round man year came show every good me give our under name
very through just form sentence great think say help low line differ turn cause much mean before
move right boy old too same tell does set three want air well also play small end put home read
hand port large spell add even land here must big high such follow act why ask men change went
light kind off need house picture try us again animal point mother world near build self earth
father head stand own page should country found answer school grow study still learn plant cover
food sun four between state keep eye never last let thought city tree cross farm hard start
might story saw far sea draw left late run while press close night real life few north open seem
together next white children begin got walk example ease paper group always music those both
mark often letter until mile river car feet care second book carry took science eat room friend
began idea fish mountain stop once base hear horse cut sure watch color face wood main enough
plain girl usual young ready above ever red list though feel talk bird soon body dog family
direct pose leave song measure door product black short numeral class wind question happen
complete ship area half rock order fire south problem piece told knew pass since top whole king
space heard best hour better true during hundred five remember step early hold west ground
interest reach fast verb sing listen six table travel less morning ten simple several toward war
lay against pattern slow center love person money serve appear road map rain rule govern pull
cold notice voice unit power town fine certain fly fall lead cry dark machine note wait plan
figure star box noun field rest correct able pound done beauty drive stood contain front teach
week final gave green oh quick develop ocean warm free minute strong special mind behind clear
tail produce fact street inch multiply nothing course stay wheel full force blue object decide
surface deep moon island yes query document search retrieval model data paris france capital
rewrite relevant passage
"""
_WORDS = _WORD_TEXT.split()
_SUFFIXES = ["s", "es", "ed", "ing", "ly", "er", "est", "ion", "al", "y"]


def tiny_vocab(specials: list[str]) -> dict[str, int]:
    """``specials`` first (ids 0, 1, ...), then words, characters and ``##`` pieces."""
    chars = string.ascii_lowercase + string.digits
    tokens = [*specials, *_WORDS, *chars, *string.punctuation]
    tokens += [f"##{c}" for c in chars] + [f"##{s}" for s in _SUFFIXES]
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    return vocab


def tiny_tokenizer(path: str | os.PathLike[str]) -> Path:
    """A BERT-style WordPiece tokenizer ([PAD]=0 [UNK] [CLS] [SEP] [MASK]) saved to ``path``."""
    spec = {"kind": "tokenizer"}
    return _cached(Path(path), spec, lambda tmp: _bert_tokenizer().save_pretrained(tmp))


def tiny_sentence_transformer(
    path: str | os.PathLike[str], *, layers: int = 2, hidden: int = 32, dim_out: int | None = None
) -> Path:
    """A tiny BERT + mean pooling (+ a Dense layer to ``dim_out``) SentenceTransformer folder."""
    _check_hidden(hidden)
    spec = {"kind": "sentence-transformer", "layers": layers, "hidden": hidden, "dim_out": dim_out}

    def build(tmp: Path) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers import BertModel

        st_modules = _st_modules()
        scratch = tmp / "_bert"
        tokenizer = _bert_tokenizer()
        with _seeded():
            BertModel(_bert_config(len(tokenizer), layers, hidden)).save_pretrained(scratch)
            tokenizer.save_pretrained(scratch)
            modules = [
                st_modules.Transformer(str(scratch), max_seq_length=128),
                st_modules.Pooling(hidden, "mean"),
            ]
            if dim_out is not None:
                modules.append(st_modules.Dense(hidden, dim_out))
            model = SentenceTransformer(modules=modules, device="cpu")
        out = tmp / "_st"
        model.save(str(out))
        shutil.rmtree(scratch)
        for item in out.iterdir():
            item.rename(tmp / item.name)
        out.rmdir()

    return _cached(Path(path), spec, build)


def tiny_cross_encoder(path: str | os.PathLike[str], *, layers: int = 2, hidden: int = 32) -> Path:
    """A tiny ``BertForSequenceClassification`` with one label, plus its tokenizer."""
    _check_hidden(hidden)

    def build(tmp: Path) -> None:
        from transformers import BertForSequenceClassification

        tokenizer = _bert_tokenizer()
        config = _bert_config(len(tokenizer), layers, hidden, num_labels=1)
        with _seeded():
            BertForSequenceClassification(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    spec = {"kind": "cross-encoder", "layers": layers, "hidden": hidden}
    return _cached(Path(path), spec, build)


CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{{ message['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def tiny_causal_lm(path: str | os.PathLike[str], *, layers: int = 2, hidden: int = 32) -> Path:
    """A tiny Llama causal LM and a tokenizer with a chat template (``<|role|>`` turns)."""
    _check_hidden(hidden)

    def build(tmp: Path) -> None:
        from tokenizers import processors
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

        roles = ["<|system|>", "<|user|>", "<|assistant|>"]
        backend = _wordpiece(["<pad>", "<unk>", "<s>", "</s>", *roles], unk="<unk>")
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B:1", special_tokens=[("<s>", 2)]
        )
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            pad_token="<pad>",
            unk_token="<unk>",
            bos_token="<s>",
            eos_token="</s>",
            additional_special_tokens=roles,
            model_max_length=MAX_POSITIONS,
        )
        tokenizer.chat_template = CHAT_TEMPLATE
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=hidden * 2,
            num_hidden_layers=layers,
            num_attention_heads=_heads(hidden),
            num_key_value_heads=max(1, _heads(hidden) // 2),
            max_position_embeddings=MAX_POSITIONS,
            pad_token_id=0,
            bos_token_id=2,
            eos_token_id=3,
            tie_word_embeddings=False,
        )
        with _seeded():
            LlamaForCausalLM(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    spec = {"kind": "causal-lm", "layers": layers, "hidden": hidden}
    return _cached(Path(path), spec, build)


def tiny_seq2seq(path: str | os.PathLike[str], *, layers: int = 2, hidden: int = 32) -> Path:
    """A tiny ``T5ForConditionalGeneration`` and a tokenizer that appends ``</s>``."""
    _check_hidden(hidden)

    def build(tmp: Path) -> None:
        from tokenizers import processors
        from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

        backend = _wordpiece(["<pad>", "</s>", "<unk>"], unk="<unk>")
        backend.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B:1 </s>:1", special_tokens=[("</s>", 1)]
        )
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            pad_token="<pad>",
            eos_token="</s>",
            unk_token="<unk>",
            model_max_length=MAX_POSITIONS,
        )
        config = T5Config(
            vocab_size=len(tokenizer),
            d_model=hidden,
            d_kv=hidden // _heads(hidden),
            d_ff=hidden * 2,
            num_layers=layers,
            num_decoder_layers=layers,
            num_heads=_heads(hidden),
            relative_attention_num_buckets=8,
            relative_attention_max_distance=32,
            feed_forward_proj="relu",
            pad_token_id=0,
            eos_token_id=1,
            # transformers 5 configs take keys beyond their declared fields as **kwargs at
            # run time; their dataclass_transform signature lists only the declared ones.
            decoder_start_token_id=0,  # type: ignore[call-arg]
        )
        with _seeded():
            T5ForConditionalGeneration(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    spec = {"kind": "seq2seq", "layers": layers, "hidden": hidden}
    return _cached(Path(path), spec, build)


# --- helpers ---------------------------------------------------------------------------


def _wordpiece(specials: list[str], *, unk: str) -> Any:
    """A lower-casing WordPiece ``tokenizers.Tokenizer`` with ``specials`` as special tokens."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    model = WordPiece(tiny_vocab(specials), unk_token=unk, max_input_chars_per_word=100)
    backend = Tokenizer(model)
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    backend.add_special_tokens(specials)
    return backend


def _bert_tokenizer() -> Any:
    from tokenizers import processors
    from transformers import BertTokenizerFast  # type: ignore[attr-defined]  # unexported alias in v5

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = _wordpiece(specials, unk="[UNK]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    return BertTokenizerFast(tokenizer_object=backend, model_max_length=MAX_POSITIONS)


def _bert_config(vocab_size: int, layers: int, hidden: int, *, num_labels: int = 2) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=_heads(hidden),
        intermediate_size=hidden * 2,
        max_position_embeddings=MAX_POSITIONS,
        pad_token_id=0,
        num_labels=num_labels,  # type: ignore[call-arg]  # a **kwargs key (see tiny_seq2seq)
    )


def _heads(hidden: int) -> int:
    return max(1, hidden // 8)


def _check_hidden(hidden: int) -> None:
    if hidden < 8 or hidden % 8:
        raise ValueError(f"hidden must be a positive multiple of 8, got {hidden}")


def _st_modules() -> Any:
    # sentence-transformers 6 moved the module classes; older releases only have `models`.
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        from sentence_transformers import models as modules  # type: ignore[no-redef]
    return modules


@contextmanager
def _seeded() -> Iterator[None]:
    """Seed torch for the build without disturbing the caller's random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        yield


def _cached(path: Path, spec: dict[str, Any], build: Callable[[Path], None]) -> Path:
    """Return ``path`` if it holds a complete build of ``spec``; else build it atomically."""
    from filelock import FileLock

    path = path.resolve()
    if _complete(path, spec):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # A lock, then a build in a sibling folder renamed into place: parallel test workers
    # never see (or clobber) a half-written model.
    with FileLock(str(path.parent / f".{path.name}.lock")):
        if _complete(path, spec):
            return path
        tmp = path.parent / f".{path.name}.building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            build(tmp)
            (tmp / _MARKER).write_text(json.dumps(spec, sort_keys=True))
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _complete(path: Path, spec: dict[str, Any]) -> bool:
    try:
        return bool(json.loads((path / _MARKER).read_text()) == spec)
    except (OSError, ValueError):
        return False
