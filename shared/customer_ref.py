"""How a request names its customer by an identity instead of kehu's id. Pure: request models only
(domain modules import them; ``shared.customers`` resolves them through contacts)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.events import IdentityKind

__all__ = ["CustomerByIdentity", "IdentityRef"]


class IdentityRef(BaseModel):
    """An identity of the customer as a channel knows it (contacts normalises it)."""

    model_config = ConfigDict(extra="forbid")

    kind: IdentityKind = Field(description="phone, email, wechat_openid, wechat_unionid, web_account, "
                               "membership_card, fair_badge or other.")
    value: str = Field(min_length=1, max_length=200, description="As written: 138 0013 8000, VIP 0001, ...")


class CustomerByIdentity(BaseModel):
    """The customer named by any of their identities instead of kehu's id (a till, a mini-program)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    identity: IdentityRef
    register_if_unknown: bool = Field(False, description="When nobody holds the identity, register a potential "
                                      "customer holding it (the caller needs customers:write). Else 422.")
    name: str | None = Field(None, min_length=1, max_length=200,
                             description="The name to register the customer under (default: the identity's value).")
