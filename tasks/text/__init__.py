"""Text classification: support tickets in, a fine-tuned GPT-2-family classifier out."""
