"""Models of the shopper portal's own routes: its config document, sign-in links, gift sign-in."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from homeward.models.common import Email, Locale, Strict

OrderNumber = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class PortalBrand(BaseModel):
    name: str
    logo_url: str | None
    primary_color: str
    accent_color: str
    support_email: str
    policy_url: str | None = Field(description="The shop's return policy page, when configured")


class GiftReturnsConfig(BaseModel):
    enabled: bool
    verify_by: Literal["gift_code", "postal_code"]


class PortalConfig(BaseModel):
    """`GET /portal/config`: what the web app needs before anyone signs in."""

    brand: PortalBrand
    locales: list[str] = Field(description="Languages the portal and the emails speak")
    default_locale: str
    gift_returns: GiftReturnsConfig
    magic_link: bool = Field(description="Shoppers may ask for a one-time sign-in link by email")


class SignInLinkRequest(Strict):
    order_number: OrderNumber
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)] = Field(
        description="Compared trimmed and case-insensitively"
    )
    locale: Locale | None = Field(default=None, description="Language of the email (the portal's)")


class SignInLinkAccepted(BaseModel):
    status: Literal["sent_if_matching"] = Field(
        default="sent_if_matching",
        description="The same answer whether or not the email matches an order: the link arrives only "
        "at the order's own address",
    )


class RedeemRequest(Strict):
    token: Annotated[str, StringConstraints(min_length=10, max_length=1000)] = Field(
        description="From the emailed sign-in link"
    )


class GiftSignInRequest(Strict):
    order_number: OrderNumber
    gift_code: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="From the gift receipt (when the policy verifies by gift code)"
    )
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16)] | None = Field(
        default=None, description="Where the gift was shipped (when the policy verifies by postcode)"
    )
    email: Email = Field(description="The recipient's own email: updates and the store credit go there")
    locale: Locale | None = Field(default=None, description="The recipient's language for emails")
