"""Image classification: ImageFolder data in, a fine-tuned torchvision ResNet out."""
