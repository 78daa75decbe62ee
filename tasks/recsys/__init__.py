"""Neural collaborative filtering on implicit feedback: ingest, preprocess, train, evaluate, predict."""
