"""Screening on 2-D grayscale scans with a Keras CNN: sensitivity at a chosen operating point."""
