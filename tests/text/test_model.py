import dataclasses

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from models.text import ModelParams, build_model, load_tokenizer, train_tokenizer, with_padding
from tasks.common.errors import InputError
from tasks.text.batches import collate, inference_batches, training_batches
from tests.text.conftest import TINY_MODEL, processed

TEXTS = ["I cannot log in", "The courier left my order at the wrong address today", "Refund me"]


def test_trained_tokenizer_round_trips_and_pads_with_eos(tmp_path):
    tokenizer = train_tokenizer(TEXTS * 20, vocab_size=300, max_length=16)
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    ids = tokenizer(TEXTS[1])["input_ids"]
    assert tokenizer.decode(ids) == TEXTS[1]  # byte-level BPE loses nothing
    assert len(tokenizer(TEXTS[1] * 5, truncation=True)["input_ids"]) == 16
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(TEXTS[0])["input_ids"] == tokenizer(TEXTS[0])["input_ids"]


def test_a_gpt2_tokenizer_without_pad_fails_to_pad_until_fixed(local_checkpoint):
    raw = AutoTokenizer.from_pretrained(local_checkpoint)
    assert raw.pad_token is None
    with pytest.raises(ValueError, match="pad"):
        raw(TEXTS, padding=True)  # the seed's bug
    fixed = load_tokenizer(str(local_checkpoint))
    assert fixed.pad_token_id == fixed.eos_token_id
    assert fixed(TEXTS, padding=True)["attention_mask"][0][-1] == 0  # right padding


def test_padded_batch_gives_each_texts_own_logits_and_a_loss():
    tokenizer = train_tokenizer(TEXTS * 20, vocab_size=300, max_length=32)
    model = build_model(TINY_MODEL, tokenizer, ["a", "b", "c"]).eval()
    assert model.config.pad_token_id == tokenizer.pad_token_id == tokenizer.eos_token_id
    ids = [np.array(x) for x in tokenizer(TEXTS)["input_ids"]]
    batch = collate(ids, range(len(ids)), tokenizer)
    assert batch["input_ids"].shape[1] == max(len(x) for x in ids)
    out = model(**batch, labels=torch.tensor([0, 1, 2]))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)  # labels reached the loss
    for i, row in enumerate(ids):
        alone = model(input_ids=torch.tensor(row)[None]).logits[0]
        torch.testing.assert_close(out.logits[i], alone, atol=1e-5, rtol=0)
    out.loss.backward()
    assert model.score.weight.grad.abs().sum() > 0


def test_length_grouped_batches_are_full_shuffled_and_short_padded():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, 1000)
    batches = training_batches(lengths, 32, rng, group_by_length=True)
    assert len(batches) == 1000 // 32 and all(len(b) == 32 for b in batches)
    assert len({int(i) for b in batches for i in b}) == 1000 // 32 * 32
    padded = sum(lengths[b].max() * len(b) for b in batches)
    plain = sum(lengths[b].max() * len(b) for b in training_batches(lengths, 32, rng, False))
    assert padded < 0.75 * plain
    order = inference_batches(lengths, 100)
    assert sorted(int(i) for b in order for i in b) == list(range(1000))


def test_a_local_checkpoint_loads_its_weights_under_a_new_head(local_checkpoint, tmp_path):
    data = processed(tmp_path, ModelParams(name_or_path=str(local_checkpoint)))
    model = build_model(
        ModelParams(name_or_path=str(local_checkpoint)), data.tokenizer, data.labels
    )
    saved = load_file(local_checkpoint / "model.safetensors")
    key = "transformer.h.0.attn.c_attn.weight"
    assert torch.equal(model.state_dict()[key], saved[key])
    assert model.score.out_features == len(data.labels) == 4
    assert model.config.pad_token_id == data.tokenizer.eos_token_id


def test_bad_checkpoints_are_named(tmp_path, local_checkpoint):
    with pytest.raises(InputError, match="text.model.name_or_path '/nowhere/gpt2'"):
        load_tokenizer("/nowhere/gpt2")
    tokenizer = with_padding(AutoTokenizer.from_pretrained(local_checkpoint))
    with pytest.raises(InputError, match="text.model.name_or_path"):
        build_model(ModelParams(name_or_path=str(tmp_path)), tokenizer, ["a", "b"])
    tokenizer.model_max_length = 128
    with pytest.raises(InputError, match="max_length 128 exceeds the model's 64 positions"):
        build_model(
            dataclasses.replace(TINY_MODEL, name_or_path=str(local_checkpoint)), tokenizer, ["a"]
        )
