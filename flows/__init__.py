"""Prefect flows over the DVC stages, and the `verticals` command line."""
