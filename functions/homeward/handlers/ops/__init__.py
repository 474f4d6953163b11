"""The ops API's routes, one Powertools Router per sub-API, included by `handlers/ops_api.py`.

shared.py      settings, the stores, the X-Actor header, the clock
returns.py     /ops/returns..., /ops/orders/{orderId}/returns: review, inspect, manage
refunds.py     /ops/returns/{rma}/refunds..., /exchange, /ops/refunds/export
webhooks.py    /ops/webhooks...: the webhook inbox's parked, failed and stuck events
refunds_csv.py the refund export's CSV (pure)
"""
