"""Text classification: texts in, a fine-tuned transformers sequence classifier out."""

# What dvc.yaml says of this domain beyond the shared stages (flows/layout.py writes it).
MODEL = "transformers sequence classifier (MiniLM or GPT-2 family), a checkpoint with its tokenizer"
PLOTS = {
    "confusion.csv": {
        "template": "confusion",
        "x": "predicted",
        "y": "actual",
        "title": "text confusion on the test split",
    },
}
# Preprocess tokenises with the checkpoint's tokenizer, so it reads this param too.
PREPROCESS_ALSO = "model.name_or_path"
