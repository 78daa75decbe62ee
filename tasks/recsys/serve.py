"""POST /v1/recsys/recommend {"users": ["196", 42], "k": 10}: each user's top-k unseen items,
best first, with original ids and scores."""

from pydantic import BaseModel, ConfigDict, Field

from tasks.common.errors import TooLarge

ROUTE = "recommend"
ITEMS = "users"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    users: list[str | int] = Field(min_length=1)  # original ids, matched as text
    k: int = Field(10, ge=1)


def inputs(body: Body, served, api, limits) -> list:
    from tasks.recsys.predictor import Query

    if body.k > api.max_k:
        raise TooLarge(f"k: {body.k}, over api.max_k ({api.max_k})")
    users = [str(user) for user in body.users]
    served.predictor.codes(users)  # unknown ids are this request's error, not its batch's
    return [Query(user, body.k) for user in users]
