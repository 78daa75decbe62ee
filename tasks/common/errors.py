class InputError(Exception):
    """Bad user input: the CLI prints the message as one line and exits non-zero."""

    def __init__(self, message: str) -> None:
        # a column name or a cell quoted in the message may hold line breaks: keep one line
        super().__init__(str(message).replace("\r", "\\r").replace("\n", "\\n"))


class TooLarge(InputError):
    """Input over a size limit (an image's pixels, a text's length): the API answers 413."""


class StageFailed(Exception):
    """A pipeline stage exited non-zero: the CLI prints why in one line and exits non-zero."""
