"""Kafka subscribers of orders: the replica of known customer ids, fed by ``kehu.contacts``."""

from __future__ import annotations

from shared.customers import apply_contacts_events
from shared.runtime import ConsumerSpec

CONSUMERS = [ConsumerSpec(name="orders", topics=("kehu.contacts",), apply=apply_contacts_events)]
