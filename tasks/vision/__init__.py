"""Image classification: ImageFolder data in, a fine-tuned EfficientNet-Lite0 or ResNet out."""

# What dvc.yaml says of this domain beyond the shared stages (flows/layout.py writes it).
MODEL = "EfficientNet-Lite0 or torchvision ResNet with a head for our classes, as safetensors"
PLOTS = {
    "confusion.csv": {
        "template": "confusion",
        "x": "predicted",
        "y": "actual",
        "title": "vision confusion on the test split",
    },
}
