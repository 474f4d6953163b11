// #/orders/{orderId} : items, outbound parcels, returns, and the way to start a return.

import {
  h, safeUrl, t, money, date, supported, locale,
  heading, notice, linkButton, button, summaryList, tag,
} from "../ui.js";
import { api, errorMessage, session } from "../api.js";
import { parcelCard, shipmentCard, returnStatusTag, ineligibleText } from "./common.js";

export default async function orderPage(ctx) {
  const { params, navigate } = ctx;
  const orderId = params.orderId;
  const enc = encodeURIComponent(orderId);
  const base = `/portal/orders/${enc}`;
  const gift = Boolean(session.get(orderId)?.gift);
  const soft = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));

  const [order, tracking, returns, eligibility] = await Promise.all([
    api(base, { orderId }),
    soft(api(`${base}/tracking`, { orderId })),
    soft(api(`${base}/returns`, { orderId })),
    soft(api(`${base}/eligibility`, { orderId })),
  ]);
  for (const r of [tracking, returns, eligibility]) if (r.error && r.error.authLost) throw r.error;
  const currency = order.currency;
  session.rememberOrderNumber(orderId, order.order_number);
  // First visit after signing in: the order's language decides, unless the shopper chose one.
  if (!session.orderLocale(orderId) && order.contact && order.contact.locale) {
    session.setOrderLocale(orderId, order.contact.locale);
    if (!session.chosenLang() && !ctx.query.lang && supported(order.contact.locale) !== locale()) {
      ctx.navigate(location.hash, { replace: true });
      return null;
    }
  }
  const title = t("order.title", { number: order.order_number });

  // ---- start a return ----
  const startSection = h("section", { class: "section", id: "start-return-section", "aria-labelledby": "start-return-heading" }, h("h2", { class: "heading-m", id: "start-return-heading" }, t("order.returns_heading")));
  if (eligibility.error) {
    startSection.append(notice(errorMessage(eligibility.error), { kind: "error", id: "eligibility-error" }));
  } else {
    const lines = eligibility.value.lines || [];
    const returnable = lines.filter((l) => l.returnable && l.returnable_quantity > 0);
    if (returnable.length) {
      const deadlines = returnable.map((l) => l.deadline).filter(Boolean).sort();
      startSection.append(
        h("p", null, t("order.can_return", { count: returnable.length })),
        deadlines.length ? h("p", { id: "return-deadline", "data-testid": "return-deadline" }, t("order.deadline", { date: date(deadlines[0]) })) : null,
        linkButton(t("order.start_return"), `#/orders/${enc}/return`, { id: "start-return" }),
      );
    } else {
      startSection.append(h("p", { id: "nothing-returnable", "data-testid": "nothing-returnable" }, t("order.nothing_returnable")));
    }
  }

  // ---- existing returns ----
  const returnsList = returns.value ? returns.value.returns || [] : [];
  const returnsSection = returnsList.length
    ? h(
        "section",
        { class: "section", id: "returns-section", "aria-labelledby": "returns-heading" },
        h("h2", { class: "heading-m", id: "returns-heading" }, t("order.your_returns")),
        h(
          "ul",
          { class: "card-list", id: "returns-list", "data-testid": "returns-list" },
          returnsList.map((r) =>
            h(
              "li",
              { class: "card", "data-rma": r.rma, "data-testid": "return-item" },
              h("p", { class: "card-title" }, h("a", { href: `#/orders/${enc}/returns/${encodeURIComponent(r.rma)}`, "data-testid": "return-link" }, t("order.return_link", { rma: r.rma }))),
              h("p", null, returnStatusTag(r.status)),
              h("p", { class: "small" }, t("order.return_meta", { date: date(r.created_at), count: (r.lines || []).reduce((n, l) => n + l.quantity, 0) })),
            ),
          ),
        ),
      )
    : returns.error
      ? notice(errorMessage(returns.error), { kind: "error", id: "returns-error" })
      : null;

  // ---- items ----
  const eligibleById = new Map((eligibility.value?.lines || []).map((l) => [l.line_id, l]));
  const items = h(
    "section",
    { class: "section", id: "items-section", "aria-labelledby": "items-heading" },
    h("h2", { class: "heading-m", id: "items-heading" }, t("order.items")),
    h(
      "ul",
      { class: "item-list", id: "order-items", "data-testid": "order-items" },
      order.lines.map((line) => {
        const img = safeUrl(line.image_url);
        const el = eligibleById.get(line.line_id);
        return h(
          "li",
          { class: "item", "data-line-id": line.line_id, "data-testid": "order-line" },
          img ? h("img", { class: "item-image", src: img, alt: "", width: "64", height: "64", loading: "lazy" }) : null,
          h(
            "div",
            { class: "item-body" },
            h("p", { class: "item-title", "data-testid": "line-title" }, line.title),
            line.variant ? h("p", { class: "small" }, line.variant) : null,
            h("p", { class: "small" }, t("order.quantity", { count: line.quantity }), gift ? null : ` · ${money(line.unit_price, currency)}`),
            line.final_sale ? h("p", null, tag(t("order.final_sale"), "neutral")) : null,
            el && !el.returnable && !line.final_sale && el.reason_codes.length ? h("p", { class: "small" }, el.reason_codes.map((c) => ineligibleText(c, el)).join(" ")) : null,
          ),
        );
      }),
    ),
    gift
      ? null
      : summaryList(
          [
            order.order_discount ? [t("order.discount"), `−${money(order.order_discount, currency)}`] : null,
            [t("order.shipping"), money(order.shipping, currency)],
            [t("order.total"), money(order.total, currency), "order-total"],
          ],
          { id: "order-totals" },
        ),
  );

  // ---- deliveries ----
  const norm = (n) => String(n).replace(/[\s-]/g, "").toUpperCase();
  const shipmentsByNumber = new Map((order.shipments || []).map((s) => [norm(s.tracking_number), s]));
  const outbound = (tracking.value ? (tracking.value.parcels || []).filter((p) => p.direction === "outbound") : []).map((p) => {
    // The carrier has said nothing yet: the shop's own shipped/delivered dates tell more.
    const shipment = shipmentsByNumber.get(norm(p.tracking_number));
    if (!shipment || p.status !== "unknown" || (p.events || []).length) return p;
    if (shipment.delivered_at) return { ...p, status: "delivered", delivered: true, status_at: shipment.delivered_at };
    if (shipment.shipped_at) return { ...p, status: "in_transit", status_at: shipment.shipped_at };
    return p;
  });
  const known = new Set(outbound.map((p) => norm(p.tracking_number)));
  const untracked = (order.shipments || []).filter((s) => !known.has(norm(s.tracking_number)));
  const deliveries = h(
    "section",
    { class: "section", id: "deliveries-section", "aria-labelledby": "deliveries-heading" },
    h("h2", { class: "heading-m", id: "deliveries-heading" }, t("order.deliveries")),
    tracking.error ? notice(errorMessage(tracking.error), { kind: "warning", id: "tracking-error" }) : null,
    outbound.length || untracked.length
      ? h("div", { class: "card-list", id: "outbound-parcels", "data-testid": "outbound-parcels" }, outbound.map((p) => parcelCard(p)), untracked.map(shipmentCard))
      : h("p", { id: "no-deliveries" }, t("order.no_deliveries")),
  );

  const signOut = button(t("order.sign_out"), {
    kind: "link",
    id: "sign-out",
    onClick: () => {
      session.signOut(orderId);
      session.clearDraft(orderId);
      navigate("#/");
    },
  });

  const node = h(
    "div",
    { class: "page", "data-page": "order" },
    heading(title, { caption: t("order.placed", { date: date(order.placed_at) }) }),
    gift ? notice(t("order.gift_notice"), { id: "gift-notice" }) : null,
    h("div", { class: "layout-two" }, h("div", { class: "layout-main" }, startSection, returnsSection, items), h("div", { class: "layout-side" }, deliveries)),
    h("p", { class: "sign-out" }, signOut),
  );
  return { title, node };
}
