"""Contact persons: a person who speaks for a company in a role (decision maker, purchaser, user,
payer). One row per (company, person, role); adding one that exists changes nothing. No I/O."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.contacts.domain.customers import Customer
from shared.errors import Conflict, FieldProblem
from shared.events import ContactPersonAdded, ContactPersonRemoved, ContactRole


class NewContactPerson(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_id: uuid.UUID = Field(description="A customer of kind person.")
    role: ContactRole
    title: str | None = Field(None, max_length=100, description="Job title, as the company says it.")


class ContactLink(BaseModel):
    """A person in a role for a company; the other side's name and kind so a list reads alone."""

    company_id: uuid.UUID
    company_name: str
    person_id: uuid.UUID
    person_name: str
    person_phone: str | None = None
    person_email: str | None = None
    role: ContactRole
    title: str | None
    added_at: datetime
    added_by: str


class ContactList(BaseModel):
    kind: Literal["person", "company"] = Field(
        description="The customer asked about: a company lists its contact persons, a person the companies "
        "they speak for.")
    items: list[ContactLink]


class NotACompany(Conflict):
    def __init__(self, customer: Customer) -> None:
        super().__init__(f"customer {customer.id} ({customer.name}) is a person: only a company has contact "
                         "persons (change its kind to company first)", code="not_a_company")


class NotAPerson(Conflict):
    def __init__(self, customer: Customer) -> None:
        super().__init__(f"customer {customer.id} ({customer.name}) is a company: a contact person is a customer "
                         "of kind person", code="not_a_person",
                         errors=[FieldProblem("person_id", "a company, not a person", "not_a_person")])


class Merged(Conflict):
    def __init__(self, customer: Customer, field: str | None = None) -> None:
        super().__init__(f"customer {customer.id} was merged into {customer.merged_into}: use that one",
                         code="merged", merged_into=str(customer.merged_into),
                         errors=[FieldProblem(field, "merged into another customer", "merged")] if field else None)


def check_link(company: Customer, person: Customer) -> None:
    """A company and a person, both live records."""
    if company.merged_into is not None:
        raise Merged(company)
    if person.merged_into is not None:
        raise Merged(person, "person_id")
    if company.kind != "company":
        raise NotACompany(company)
    if person.kind != "person":
        raise NotAPerson(person)


def added(company_id: uuid.UUID, new: NewContactPerson, *, by: str, now: datetime) -> ContactPersonAdded:
    return ContactPersonAdded(customer_id=company_id, occurred_at=now, person_id=new.person_id, role=new.role,
                              title=new.title or None, added_by=by)


def removed(company_id: uuid.UUID, person_id: uuid.UUID, role: ContactRole, *, by: str,
            now: datetime) -> ContactPersonRemoved:
    return ContactPersonRemoved(customer_id=company_id, occurred_at=now, person_id=person_id, role=role,
                                removed_by=by)
