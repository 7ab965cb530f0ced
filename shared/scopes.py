"""Ownership scopes: whose customers a principal may see and change. Pure: no I/O.

The rule (docs/architecture.md §11), in one place for every service and the console:

- A principal with ``customers:all`` (admin, manager; service and readonly staff, who only read)
  sees every customer.
- API tokens act for the shop (a till, a mini-program, an import) and are not scoped.
- A signed-in person without ``customers:all`` (a salesperson) sees and changes their own
  customers (``owner`` equal to the person's owner id) and the public pool (no owner). Anything
  else is a 403 that names the owner and the rule, so the person knows whom to ask.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.auth import Principal
from shared.errors import Forbidden

OUT_OF_SCOPE = "out_of_scope"
"""The problem ``code`` of a 403 for a customer outside the principal's scope."""


@dataclass(frozen=True)
class Scope:
    """Whose customers: everyone's, or one owner's and the pool's."""

    everyone: bool
    owner: str | None = None

    def covers(self, customer_owner: str | None) -> bool:
        """May the principal see (and, with the write permission, change) a customer of this owner?"""
        return self.everyone or customer_owner is None or customer_owner == self.owner

    @property
    def owner_filter(self) -> str | None:
        """For list queries: None means everyone; else only this owner's customers and the pool."""
        return None if self.everyone else (self.owner or "")


EVERYONE = Scope(everyone=True)


def scope_of(principal: Principal) -> Scope:
    if principal.person is None or principal.may("customers:all"):
        return EVERYONE
    return Scope(everyone=False, owner=principal.owner)


class OutOfScope(Forbidden):
    """403: the customer belongs to another owner than the salesperson asking."""

    def __init__(self, customer_id: uuid.UUID | str, customer_owner: str | None, scope: Scope) -> None:
        mine = f"your customers (owner {scope.owner})" if scope.owner else "no customers of your own (no owner id)"
        super().__init__(
            f"customer {customer_id} is looked after by {customer_owner}; a salesperson sees and changes only "
            f"{mine} and the public pool. Ask {customer_owner} or a manager to hand the customer over.",
            code=OUT_OF_SCOPE, customer_id=str(customer_id), owner=customer_owner,
        )


def ensure_covers(scope: Scope, customer_id: uuid.UUID | str, customer_owner: str | None) -> None:
    if not scope.covers(customer_owner):
        raise OutOfScope(customer_id, customer_owner, scope)
