class InputError(Exception):
    """Bad user input: the CLI prints the message as one line and exits non-zero."""
