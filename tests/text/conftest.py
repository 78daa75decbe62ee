from pathlib import Path

import pytest
from transformers import AutoConfig, AutoModelForCausalLM

from models.text import ModelParams, Scratch, train_tokenizer
from tasks.text import preprocess
from tasks.text.synthetic import Synthetic, synthesize
from tasks.text.train import Data, TrainParams, load_data

TINY_MODEL = ModelParams(scratch=Scratch(layers=1, heads=2, width=32, dropout=0.0))
TINY_TRAIN = TrainParams(max_epochs=3, batch_size=16, lr=0.003)
TICKETS = Synthetic(count=600, label_noise=0.0, seed=3)


def processed(folder: Path, model: ModelParams = TINY_MODEL) -> Data:
    folder.mkdir(parents=True, exist_ok=True)
    p = preprocess.PreprocessParams(max_length=48, vocab_size=600)
    preprocess.write(synthesize(TICKETS), p, model.name_or_path, folder)
    return load_data(folder)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Data:
    return processed(tmp_path_factory.mktemp("text") / "processed")


@pytest.fixture(scope="session")
def local_checkpoint(tmp_path_factory) -> Path:
    """A tiny GPT-2 language model and its tokenizer, saved as a hub checkpoint would be:
    no pad token, no classification head."""
    folder = tmp_path_factory.mktemp("gpt2-tiny")
    tokenizer = train_tokenizer(synthesize(Synthetic(count=300, seed=9)).text, 500, 64)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(folder)
    config = AutoConfig.for_model(
        "gpt2", vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=1, n_head=2
    )
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder
