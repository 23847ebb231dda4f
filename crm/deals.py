"""Deals from leads, and the repeat flags CRMs put on leads and deals.

Flags are computed from the person as it is now (its members after every merge and split), never
stored, so a merge or a split recomputes them by construction:

- repeat lead: the person has an earlier lead of its own;
- repeat inquiry: the first deal from a repeat lead whose person has no won deal yet;
- repeat deal: the person already had a won deal when this deal was opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime

from core.errors import FieldErrors, NotFound
from core.inbox import Deal, DealKind, DealStatus
from core.phones import normalize_email, normalize_phone
from core.records import Lead, LeadStatus
from resolver.merge import new_id
from store.base import BaseStore

TAX_ID = re.compile(r"^\d{10}(\d{2})?$")  # a Russian INN: 10 digits for companies, 12 for entrepreneurs


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversion:
    """What a manager fills in to convert a lead."""

    kind: DealKind
    title: str
    amount: float = 0.0
    contact_name: str = ""
    contact_phone: str = ""
    contact_email: str = ""
    company_name: str = ""
    company_tax_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadFlags:
    repeat_lead: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DealFlags:
    repeat_inquiry: bool
    repeat_deal: bool


def lead_is_repeat(lead: Lead, leads: list[Lead]) -> bool:
    """An earlier lead of the same person (folded leads are part of the lead they joined)."""
    return any(
        other.lead_id != lead.lead_id and other.merged_into is None and other.created_at < lead.created_at
        for other in leads
    )


def deal_flags(deal: Deal, deals: list[Deal], leads: list[Lead]) -> DealFlags:
    won_before = any(
        d.deal_id != deal.deal_id and d.status is DealStatus.WON and d.created_at < deal.created_at for d in deals
    )
    lead = next((lead for lead in leads if lead.lead_id == deal.lead_id), None)
    first_of_lead = not any(
        d.lead_id == deal.lead_id and d.deal_id != deal.deal_id and d.created_at < deal.created_at for d in deals
    )
    repeat_inquiry = not won_before and first_of_lead and lead is not None and lead_is_repeat(lead, leads)
    return DealFlags(repeat_inquiry=repeat_inquiry, repeat_deal=won_before)


def check_conversion(conversion: Conversion, earlier: list[Deal], region: str) -> Conversion:
    """Required fields per kind, with a message per field; returns the conversion normalized."""
    errors: dict[str, str] = {}
    title = conversion.title.strip()
    if not title:
        errors["title"] = "give the deal a title"
    if conversion.amount < 0:
        errors["amount"] = "the amount cannot be negative"
    phone = email = ""
    if conversion.kind in (DealKind.CONTACT, DealKind.CONTACT_COMPANY):
        if not conversion.contact_name.strip():
            errors["contact_name"] = "the contact needs a name"
        if conversion.contact_phone.strip():
            phone = normalize_phone(conversion.contact_phone, region) or ""
            if not phone:
                errors["contact_phone"] = "not a valid phone number"
        if conversion.contact_email.strip():
            email = normalize_email(conversion.contact_email) or ""
            if not email:
                errors["contact_email"] = "not a valid e-mail address"
        if not conversion.contact_phone.strip() and not conversion.contact_email.strip():
            errors["contact_phone"] = "the contact needs a phone or an e-mail"
    if conversion.kind is DealKind.CONTACT_COMPANY:
        if not conversion.company_name.strip():
            errors["company_name"] = "a legal entity needs the company name"
        if not TAX_ID.match(conversion.company_tax_id.strip()):
            errors["company_tax_id"] = "the tax id (INN) has 10 or 12 digits"
    if conversion.kind is DealKind.DEAL_ONLY and not any(d.kind is not DealKind.DEAL_ONLY for d in earlier):
        errors["kind"] = "this person has no contact yet: convert as Deal + Contact (or + Company)"
    if errors:
        raise FieldErrors(errors)
    return replace(
        conversion,
        title=title,
        contact_name=conversion.contact_name.strip(),
        contact_phone=phone,
        contact_email=email,
        company_name=conversion.company_name.strip(),
        company_tax_id=conversion.company_tax_id.strip(),
    )


class DealBook:
    """Converts leads into deals and closes deals; the caller holds the unit of work."""

    def __init__(self, store: BaseStore, *, region: str = "RU") -> None:
        self.store = store
        self.region = region

    async def convert(self, lead_id: str, conversion: Conversion, *, actor: str, at: datetime) -> Deal:
        lead = await self.store.get_lead(await self.store.lead_root(lead_id))
        if lead is None:
            raise NotFound("lead", lead_id)
        if not lead.status.is_open:
            raise FieldErrors({"lead": f"the lead is already {lead.status.value.replace('_', ' ')}"})
        root = await self.store.root_of(lead.person_id)
        earlier = await self.store.deals_of(await self.store.members_of(root))
        checked = check_conversion(conversion, earlier, self.region)
        deal = Deal(
            deal_id=new_id("d"),
            lead_id=lead.lead_id,
            person_id=lead.person_id,
            kind=checked.kind,
            title=checked.title,
            created_at=at,
            actor=actor,
            amount=checked.amount,
            contact_name=checked.contact_name,
            contact_phone=checked.contact_phone,
            contact_email=checked.contact_email,
            company_name=checked.company_name,
            company_tax_id=checked.company_tax_id,
        )
        await self.store.add_deal(deal)
        await self.store.put_lead(replace(lead, status=LeadStatus.CONVERTED, last_activity=max(lead.last_activity, at)))
        return deal

    async def close(self, deal_id: str, status: DealStatus, *, at: datetime) -> Deal:
        deal = await self.store.get_deal(deal_id)
        if deal is None:
            raise NotFound("deal", deal_id)
        if status is DealStatus.OPEN:
            raise FieldErrors({"status": "a deal is closed as won or lost"})
        if deal.status is not DealStatus.OPEN:
            raise FieldErrors({"status": f"the deal is already {deal.status.value}"})
        closed = replace(deal, status=status, closed_at=at)
        await self.store.put_deal(closed)
        return closed
