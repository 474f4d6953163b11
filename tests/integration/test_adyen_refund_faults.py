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
    # Faults that matter for exactly-once did fire (the crash after create: the test below).
    for kind in ("provider_timeout", "provider_5xx", "crash_before_write"):
        assert fired[kind] > 0, kind


def test_a_crash_after_adyen_made_the_refund_is_replayed_not_repeated():
    with Harness() as h:
        drawn = schedule(
            ("process", "clock_jump", "process", "settle", "webhooks"),
            (Fault("create", 0, "provider_crash_after_create"),),
        )
        assert h.run(drawn, provider_factory=AdyenLikeProvider) == []
        assert h.last.fired["provider_crash_after_create"] == 1
        provider = h.last.provider
        assert provider is not None and len(provider.refunds) == 1
        assert provider.calls["create"] >= 2 and provider.calls["find"] >= 1
