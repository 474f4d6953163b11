"""The refund fault suite (infra/bench/refund_faults.py) with a provider that behaves like Adyen
where exactly-once depends on it: every refund is answered `pending` (Adyen's `received`), only
webhooks report outcomes (no API to read or list a refund: `retrieve_refund` raises
RefundNotReadable, `find_refund` finds nothing), and idempotency keys are kept 31 days. Whatever
fails where, the provider refunds exactly the expected amount, at most once per key.

Adyen retries a webhook for up to 30 days, so the recovery phase always delivers the webhooks
still queued (`deliver_late_webhooks`): without them an Adyen refund has no other way to settle.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import timedelta

import pytest
from homeward.domain.refunds.ports import ProviderRefund, RefundNotReadable
from hypothesis import HealthCheck, given, note, settings

from infra.bench.refund_faults import (
    FakeProvider,
    Fault,
    FaultSchedule,
    Harness,
    fault_schedules,
    in_fresh_thread,
)
from tests.integration.test_refund_faults import schedule

ADYEN_KEY_TTL = timedelta(days=31)


class AdyenLikeProvider(FakeProvider):
    """FakeProvider with Adyen's asynchronous refunds and no read API."""

    name = "adyen-like"

    def __init__(self, captured: dict[str, int], **kwargs) -> None:
        kwargs["instant"] = {}  # Adyen answers `received` only: every refund starts pending
        super().__init__(captured, **kwargs)

    def retrieve_refund(self, refund_id: str) -> ProviderRefund:
        self.calls["retrieve"] += 1
        self._lookup_fault()
        raise RefundNotReadable(self.name, f"refund {refund_id} is reported by webhook only")

    def find_refund(self, payment_reference: str, idempotency_key: str) -> ProviderRefund | None:
        self.calls["find"] += 1
        self._lookup_fault()
        return None  # no list API: the create that follows replays under the same key

    def _forget_old_keys(self) -> None:
        now = self.clock()
        for key in [k for k, saved in self._saved.items() if now - saved.at >= ADYEN_KEY_TTL]:
            del self._saved[key]


def test_adyen_like_refunds_survive_random_fault_schedules():
    fired: Counter = Counter()
    runs = Counter()
    with Harness() as h:

        @settings(
            max_examples=100,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(fault_schedules())
        def check(drawn: FaultSchedule) -> None:
            drawn = dataclasses.replace(drawn, deliver_late_webhooks=True)
            note(drawn.describe())
            runs["schedules"] += 1
            assert h.run(drawn, stats=fired, provider_factory=AdyenLikeProvider) == []

        in_fresh_thread(check)
    assert runs["schedules"] >= 100
    provider_faults = (
        "provider_timeout",
        "provider_5xx",
        "provider_crash_after_create",
        "provider_lookup_5xx",
    )
    assert sum(fired[kind] for kind in provider_faults) > 0  # each fires for sure below


@pytest.mark.parametrize(
    ("steps", "kind"),
    [
        (("process", "clock_jump", "process", "settle", "webhooks"), "provider_crash_after_create"),
        (("process", "clock_jump", "process", "settle", "webhooks"), "provider_timeout"),
        (("process", "process", "settle", "webhooks"), "provider_5xx"),
    ],
)
def test_a_lost_or_failed_create_is_replayed_not_repeated(steps, kind):
    with Harness() as h:
        drawn = schedule(steps, (Fault("create", 0, kind),))
        assert h.run(drawn, provider_factory=AdyenLikeProvider) == []
        assert h.last.fired[kind] == 1
        provider = h.last.provider
        assert provider is not None and len(provider.refunds) == 1
        assert provider.calls["create"] >= 2
