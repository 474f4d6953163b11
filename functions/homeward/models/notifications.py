"""Shopper-facing notification routes: unsubscribe and the satisfaction survey."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from homeward.models.common import Strict


class Unsubscribed(BaseModel):
    """Response of `GET|POST /portal/unsubscribe`."""

    unsubscribed: Literal[True] = True
    channel: Literal["email", "sms"]


class FeedbackIn(Strict):
    """Body of `POST /portal/feedback`: the answer to the survey sent when a return closes."""

    token: Annotated[str, StringConstraints(min_length=10, max_length=1000)] = Field(
        description="From the survey link in the email"
    )
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=1000)] | None = None


class FeedbackOut(BaseModel):
    rma: str
    rating: int
    comment: str | None
