"""POST /v1/text/classify {"texts": ["I was charged twice", ...]}: each text's label and
probability."""

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from tasks.common.errors import InputError, TooLarge
from tasks.text.ingest import blank

ROUTE = "classify"
ITEMS = "texts"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[str] = Field(min_length=1)


def inputs(body: Body, served, api, limits) -> list[str]:
    for row, text in enumerate(body.texts):
        if len(text) > api.max_text_chars:
            raise TooLarge(
                f"texts.{row}: {len(text)} characters, over api.max_text_chars "
                f"({api.max_text_chars})"
            )
    empty = blank(pd.Series(body.texts))
    if empty.any():
        raise InputError(f"texts.{empty.argmax()}: empty text")  # ingest's rule for a column
    return body.texts
