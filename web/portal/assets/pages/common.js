// Parts shared by the order and return pages: parcels with their timelines, status tags.

import { h, t, tOr, date, dateTime, money, tag } from "../ui.js";

const TRACKING_KIND = {
  delivered: "success",
  exception: "warning",
  failure: "error",
  error: "error",
  return_to_sender: "warning",
  cancelled: "neutral",
  out_for_delivery: "info",
  in_transit: "info",
  available_for_pickup: "info",
};

export function trackingLabel(status) {
  return tOr(`tracking.${status}`, t("tracking.unknown"));
}

export function returnStatusTag(status) {
  const kind = { closed: "success", received: "success", rejected: "error", cancelled: "neutral", expired: "neutral", needs_attention: "warning", needs_review: "info" }[status] || "info";
  return tag(tOr(`status.${status}`, status), kind, "return-status");
}

function place(location) {
  if (!location) return null;
  return [location.city, location.region, location.country].filter(Boolean).join(", ") || null;
}

// One parcel: carrier, tracking number, status, ETA, and its events (newest first).
export function parcelCard(parcel, { headingLevel = "h3", title } = {}) {
  const id = `parcel-${String(parcel.tracking_number).replace(/[^A-Za-z0-9_-]/g, "")}`;
  const events = parcel.events || [];
  const facts = [];
  if (parcel.delivered && parcel.status_at) facts.push(t("parcel.delivered_on", { date: date(parcel.status_at) }));
  else if (parcel.eta) facts.push(t("parcel.eta", { date: date(parcel.eta) }));
  const detail = parcel.detail ? tOr(`tracking_detail.${parcel.detail}`, null) : null;
  return h(
    "section",
    { class: "card parcel", id, "data-testid": "parcel", "data-direction": parcel.direction, "data-tracking-number": parcel.tracking_number, "aria-labelledby": `${id}-title` },
    h(headingLevel, { class: "heading-s", id: `${id}-title` }, title || t("parcel.title", { carrier: parcel.carrier || t("parcel.carrier_unknown") })),
    h(
      "p",
      { class: "parcel-status" },
      tag(trackingLabel(parcel.status), TRACKING_KIND[parcel.status] || "neutral", "parcel-status"),
      detail ? ` ${detail}` : null,
    ),
    facts.map((f) => h("p", { class: "parcel-eta", "data-testid": "parcel-eta" }, f)),
    h("p", { class: "small" }, `${t("parcel.tracking_number")} `, h("span", { class: "mono", "data-testid": "tracking-number" }, parcel.tracking_number)),
    events.length
      ? h(
          "details",
          { class: "parcel-events", open: events.length <= 4 ? true : null },
          h("summary", null, t("parcel.history", { count: events.length })),
          h(
            "ol",
            { class: "timeline", "data-testid": "parcel-events" },
            events.map((event) =>
              h(
                "li",
                { class: "timeline-item" },
                h("p", { class: "timeline-title" }, event.message || trackingLabel(event.status)),
                h(
                  "p",
                  { class: "timeline-meta" },
                  h("time", { datetime: event.at }, dateTime(event.at)),
                  place(event.location) ? ` · ${place(event.location)}` : null,
                ),
              ),
            ),
          ),
        )
      : parcel.status === "unknown" || parcel.status === "pre_transit"
        ? h("p", { class: "small" }, t("parcel.no_events"))
        : null,
  );
}

// A shipment of the order that the tracking service does not know yet.
export function shipmentCard(shipment) {
  const parcel = {
    direction: "outbound",
    tracking_number: shipment.tracking_number,
    carrier: shipment.carrier,
    status: shipment.delivered_at ? "delivered" : shipment.shipped_at ? "in_transit" : "pre_transit",
    status_at: shipment.delivered_at || shipment.shipped_at,
    delivered: Boolean(shipment.delivered_at),
    events: [],
  };
  return parcelCard(parcel);
}

// The refund totals of a RefundPreview (before submit, or a return's own estimate).
export function previewRows(preview, currency) {
  const rows = [];
  const m = (v) => money(v, currency);
  if (preview.refund_total || (!preview.store_credit_total && !preview.exchange_value)) {
    rows.push([t("preview.refund_total"), m(preview.refund_total), "preview-refund-total"]);
  }
  if (preview.keep_item_total) rows.push([t("preview.keep_item_total"), m(preview.keep_item_total), "preview-keep-item"]);
  if (preview.store_credit_total) {
    rows.push([
      t("preview.store_credit_total"),
      preview.store_credit_bonus ? t("preview.with_bonus", { amount: m(preview.store_credit_total), bonus: m(preview.store_credit_bonus) }) : m(preview.store_credit_total),
      "preview-store-credit",
    ]);
  }
  if (preview.exchange_value) rows.push([t("preview.exchange_value"), m(preview.exchange_value), "preview-exchange"]);
  if (preview.return_shipping_fee) rows.push([t("preview.shipping_fee"), `−${m(preview.return_shipping_fee)}`, "preview-shipping-fee"]);
  if (preview.restocking_fees) rows.push([t("preview.restocking_fees"), `−${m(preview.restocking_fees)}`, "preview-restocking"]);
  return rows;
}

export function reasonLabel(code, reasons) {
  const rule = (reasons || []).find((r) => r.code === code);
  return tOr(`reason.${code}`, rule ? rule.label : code);
}

export function subReasonLabel(reasonCode, code, reasons) {
  const rule = (reasons || []).find((r) => r.code === reasonCode);
  const sub = rule && (rule.sub_reasons || []).find((s) => s.code === code);
  return tOr(`subreason.${reasonCode}.${code}`, sub ? sub.label : code);
}

export function ineligibleText(code, line) {
  return tOr(`ineligible.${code}`, t("ineligible.other")).replace("{date}", line && line.deadline ? date(line.deadline) : "");
}
