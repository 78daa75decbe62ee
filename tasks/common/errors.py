class InputError(Exception):
    """Bad user input: the CLI prints the message as one line and exits non-zero."""


class StageFailed(Exception):
    """A pipeline stage exited non-zero: the CLI prints why in one line and exits non-zero."""
