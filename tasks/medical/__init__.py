"""Screening on 2-D grayscale scans with a Keras CNN: sensitivity at a chosen operating point."""

# What dvc.yaml says of this domain beyond the shared stages (flows/layout.py writes it).
MODEL = "screening CNN (Keras), weights as safetensors"
PLOTS = {
    "roc.csv": {"x": "fpr", "y": "tpr", "title": "medical ROC on the test split"},
    "confusion.csv": {
        "template": "confusion",
        "x": "predicted",
        "y": "actual",
        "title": "medical confusion at the registered threshold",
    },
}
