"""POST /v1/text/classify {"texts": ["I was charged twice", ...]}: each text's label and
probability."""

from pydantic import BaseModel, ConfigDict, Field

from tasks.common.errors import InputError, TooLarge

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
        if not text.strip():
            raise InputError(f"texts.{row}: empty text")
    return body.texts
