// #/orders/{orderId}/returns/{rma}[/label][?confirmed=1] : status, label, tracking, refund, cancel.

import {
  h, clear, append, safeUrl, t, tOr, money, date, dateTime,
  heading, notice, button, summaryList, backLink, announce, tag, setBusy,
} from "../ui.js";
import { api, errorMessage, session } from "../api.js";
import { parcelCard, returnStatusTag, previewRows, reasonLabel } from "./common.js";

const POLL_MS = 4000;
const POLL_MAX = 30;

export default async function returnPage(ctx) {
  const { params, query, onLeave, name } = ctx;
  const orderId = params.orderId;
  const enc = encodeURIComponent(orderId);
  const base = `/portal/orders/${enc}/returns/${encodeURIComponent(params.rma)}`;
  const soft = (promise) => promise.then((value) => ({ value }), (error) => ({ error }));

  let [ret, tracking] = await Promise.all([api(base, { orderId }), soft(api(`/portal/orders/${enc}/tracking`, { orderId }))]);
  if (tracking.error && tracking.error.authLost) throw tracking.error;
  const gift = Boolean(session.get(orderId)?.gift);
  const currency = ret.preview?.currency || ret.refund?.amounts?.currency;
  const confirmed = query.confirmed === "1";
  const blobUrls = [];
  let pollTimer = null;
  let polls = 0;
  onLeave(() => {
    clearTimeout(pollTimer);
    blobUrls.forEach((u) => URL.revokeObjectURL(u));
  });

  const boxes = {
    status: h("section", { class: "section", id: "status-section", "aria-labelledby": "status-heading" }),
    label: h("section", { class: "section card", id: "label-section", "aria-labelledby": "label-heading", "data-testid": "label-section" }),
    tracking: h("section", { class: "section", id: "tracking-section", "aria-labelledby": "tracking-heading" }),
    refund: h("section", { class: "section card", id: "refund-section", "aria-labelledby": "refund-heading", "data-testid": "refund-section" }),
    items: h("section", { class: "section", id: "return-items-section", "aria-labelledby": "return-items-heading" }),
    timeline: h("section", { class: "section", id: "timeline-section", "aria-labelledby": "timeline-heading" }),
    cancel: h("div", { class: "section", id: "cancel-section" }),
  };

  // ---- status ----
  function paintStatus() {
    const box = clear(boxes.status);
    append(box, [
      h("h2", { class: "heading-m", id: "status-heading", tabindex: "-1" }, t("return.status_heading")),
      h("p", { id: "return-status", "data-status": ret.status }, returnStatusTag(ret.status)),
      h("p", { id: "status-description", "data-testid": "status-description" }, tOr(`status_desc.${ret.status}`, "")),
      ret.status === "rejected" && ret.rejection_reason ? notice([t("return.rejection_reason"), ret.rejection_reason], { kind: "warning", id: "rejection-reason" }) : null,
      summaryList([
        [t("return.requested_on"), dateTime(ret.created_at)],
        [t("return.updated_on"), dateTime(ret.updated_at)],
      ]),
    ]);
  }

  // ---- label ----
  async function showLabelImage(slot, btn) {
    setBusy(btn, true, t("common.loading"));
    try {
      const link = await api(`${base}/label?format=PNG`, { orderId });
      const src = safeUrl(link.url);
      clear(slot);
      if (src) slot.append(h("img", { class: "label-image", src, alt: t("label.png_alt", { rma: ret.rma, tracking: link.tracking_number || "" }), id: "label-png", "data-testid": "label-png" }));
      btn.remove();
    } catch (error) {
      setBusy(btn, false);
      if (!error.authLost) slot.append(notice(labelError(error), { kind: "error" }));
    }
  }

  function labelError(error) {
    if (error.reason === "no_label") return t("label.not_usable");
    return errorMessage(error);
  }

  async function downloadPdf(btn, errorSlot) {
    setBusy(btn, true, t("label.preparing"));
    clear(errorSlot);
    try {
      const link = await api(`${base}/label?format=PDF`, { orderId });
      const url = safeUrl(link.url);
      setBusy(btn, false);
      if (url) window.location.assign(url);
    } catch (error) {
      setBusy(btn, false);
      if (!error.authLost) errorSlot.append(notice(labelError(error), { kind: "error", id: "label-error" }));
    }
  }

  async function loadQr(slot) {
    try {
      const response = await api(`${base}/qr`, { orderId, raw: true, headers: { Accept: "image/svg+xml" } });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      blobUrls.push(url);
      clear(slot);
      slot.append(h("img", { class: "qr-image", src: url, alt: t("label.qr_alt", { rma: ret.rma }), id: "label-qr", "data-testid": "label-qr", width: "240", height: "240" }));
    } catch (error) {
      clear(slot);
      if (!error.authLost) slot.append(h("p", { class: "small" }, t("label.qr_failed")));
    }
  }

  function paintLabel() {
    const box = clear(boxes.label);
    const label = ret.label;
    const status = ret.label_status;
    const onlyKeep = (ret.lines || []).length && ret.lines.every((l) => l.resolution === "keep_item");
    box.append(h("h2", { class: "heading-m", id: "label-heading", tabindex: "-1" }, t("label.heading")));
    box.setAttribute("data-label-status", status);
    if (status === "issued" && label) {
      const formats = label.formats || [];
      const errorSlot = h("div");
      const pngSlot = h("div", { class: "label-png-slot" });
      const actions = h("div", { class: "button-group" });
      if (formats.includes("PDF")) {
        const pdf = button(t("label.download_pdf"), { id: "download-pdf" });
        pdf.addEventListener("click", () => downloadPdf(pdf, errorSlot));
        actions.append(pdf);
      }
      if (formats.includes("PNG")) {
        const png = button(t("label.show_png"), { kind: "secondary", id: "show-png" });
        png.addEventListener("click", () => showLabelImage(pngSlot, png));
        actions.append(png);
      }
      const qrSlot = h("div", { class: "qr-slot", id: "qr-slot", "data-testid": "qr-slot" });
      box.append(
        h("p", null, t("label.instructions")),
        summaryList(
          [
            [t("label.tracking_number"), h("span", { class: "mono", "data-testid": "label-tracking-number" }, label.tracking_number)],
            [t("label.service"), label.carrier_service],
            [t("label.expires"), h("span", { id: "label-expiry", "data-testid": "label-expiry" }, date(label.expires_at))],
          ],
          { id: "label-facts" },
        ),
        actions,
        errorSlot,
        pngSlot,
      );
      if (label.qr_payload || label.qr_code_url) {
        box.append(h("h3", { class: "heading-s", id: "qr-heading" }, t("label.qr_heading")), h("p", null, t("label.qr_instructions")), qrSlot);
        if (label.qr_payload) {
          qrSlot.append(h("p", { class: "small", role: "status" }, t("common.loading")));
          loadQr(qrSlot);
        } else {
          const src = safeUrl(label.qr_code_url);
          if (src) qrSlot.append(h("img", { class: "qr-image", src, alt: t("label.qr_alt", { rma: ret.rma }), id: "label-qr", "data-testid": "label-qr" }));
        }
      }
    } else if (status === "pending") {
      box.append(h("p", { id: "label-pending", "data-testid": "label-pending" }, t("label.pending")));
    } else if (status === "failed") {
      box.append(notice(t("label.failed"), { kind: "warning", id: "label-failed" }));
    } else if (status === "expired") {
      box.append(notice(t("label.expired"), { kind: "warning", id: "label-expired" }));
    } else if (status === "voided") {
      box.append(h("p", { id: "label-voided" }, t("label.voided")));
    } else if (onlyKeep) {
      box.append(h("p", { id: "label-not-needed" }, t("label.keep_item")));
    } else if (ret.status === "needs_review" || ret.status === "requested") {
      box.append(h("p", { id: "label-after-review" }, t("label.after_review")));
    } else {
      box.append(h("p", { id: "label-none" }, t("label.none")));
    }
  }

  // ---- return parcel tracking ----
  function paintTracking() {
    const box = clear(boxes.tracking);
    const parcels = tracking.value ? (tracking.value.parcels || []).filter((p) => p.direction === "return" && (!p.rma || p.rma === ret.rma)) : [];
    box.append(h("h2", { class: "heading-m", id: "tracking-heading" }, t("return.tracking_heading")));
    if (tracking.error) box.append(notice(errorMessage(tracking.error), { kind: "warning", id: "tracking-error" }));
    if (parcels.length) box.append(h("div", { class: "card-list", id: "return-parcels", "data-testid": "return-parcels" }, parcels.map((p) => parcelCard(p))));
    else box.append(h("p", { id: "no-return-parcel" }, t("return.no_tracking")));
  }

  // ---- refund ----
  function paintRefund() {
    const box = clear(boxes.refund);
    const refund = ret.refund;
    box.append(h("h2", { class: "heading-m", id: "refund-heading" }, gift ? t("refund.heading_gift") : t("refund.heading")));
    const moneyStatus = refund ? refund.money_status : ret.money_status;
    box.append(h("p", { id: "refund-status", "data-money-status": moneyStatus }, tag(tOr(`money.${moneyStatus}`, moneyStatus), moneyStatus === "failed" ? "error" : ["refunded", "credited"].includes(moneyStatus) ? "success" : "info", "refund-status")));
    if (refund) {
      const amounts = refund.amounts;
      const cur = amounts.currency || currency;
      if (refund.trigger) box.append(h("p", { id: "refund-trigger" }, tOr(`refund.trigger.${refund.trigger}`, "")));
      if (refund.expected_by && !["refunded", "credited"].includes(moneyStatus)) {
        box.append(h("p", { id: "refund-expected", "data-testid": "refund-expected" }, t("refund.expected_by", { date: date(refund.expected_by) })));
      }
      if (refund.estimated) box.append(h("p", { class: "small", id: "refund-estimated" }, t("refund.estimated")));
      const rows = previewRows(amounts, cur);
      if (amounts.grade_deductions) rows.push([t("refund.grade_deductions"), `−${money(amounts.grade_deductions, cur)}`, "refund-grade-deductions"]);
      if (amounts.capped_by) rows.push([t("refund.capped_by"), `−${money(amounts.capped_by, cur)}`, "refund-capped"]);
      box.append(summaryList(rows, { id: "refund-breakdown" }));
      if ((refund.movements || []).length) {
        box.append(
          h("h3", { class: "heading-s" }, t("refund.payments")),
          h(
            "ul",
            { class: "plain-list", id: "refund-movements", "data-testid": "refund-movements" },
            refund.movements.map((m) =>
              h(
                "li",
                { "data-testid": "refund-movement", "data-status": m.status },
                `${tOr(`refund.method.${m.method}`, m.method)}: ${money(m.amount, m.currency)} – ${tOr(`movement.${m.status}`, m.status)}`,
                m.settled_at ? ` (${date(m.settled_at)})` : null,
                m.credit_code ? h("span", { class: "credit-code" }, ` ${t("refund.credit_code")} `, h("strong", { class: "mono", "data-testid": "credit-code" }, m.credit_code)) : null,
              ),
            ),
          ),
        );
      }
    } else if (ret.preview) {
      box.append(h("p", { class: "small", id: "refund-estimated" }, t("refund.estimated")), summaryList(previewRows(ret.preview, currency), { id: "refund-breakdown" }));
    }
  }

  // ---- items ----
  function paintItems() {
    const box = clear(boxes.items);
    box.append(
      h("h2", { class: "heading-m", id: "return-items-heading" }, t("return.items_heading")),
      h(
        "ul",
        { class: "card-list", id: "return-lines", "data-testid": "return-lines" },
        (ret.lines || []).map((line) =>
          h(
            "li",
            { class: "card", "data-line-id": line.line_id, "data-testid": "returned-line" },
            h("p", { class: "item-title" }, line.title, line.variant ? ` – ${line.variant}` : null),
            summaryList([
              [t("return.quantity"), String(line.quantity)],
              [t("return.reason"), reasonLabel(line.reason, []) + (line.sub_reason ? ` (${tOr(`subreason.${line.reason}.${line.sub_reason}`, line.sub_reason.replace(/_/g, " "))})` : "")],
              [t("return.resolution"), t(`resolution.${line.resolution}`) + (line.exchange_variant ? `: ${line.exchange_variant}` : "")],
              gift || !line.refund ? null : [t("return.line_refund"), money(line.refund.amount, currency)],
              line.photos && line.photos.length ? [t("return.photos"), t("return.photo_count", { count: line.photos.length })] : null,
            ]),
          ),
        ),
      ),
    );
  }

  // ---- timeline ----
  function paintTimeline() {
    const box = clear(boxes.timeline);
    const entries = [...(ret.timeline || [])].sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0));
    box.append(
      h("h2", { class: "heading-m", id: "timeline-heading" }, t("return.timeline_heading")),
      h(
        "ol",
        { class: "timeline", id: "return-timeline", "data-testid": "return-timeline" },
        entries.map((e) =>
          h(
            "li",
            { class: "timeline-item", "data-type": e.type },
            h("p", { class: "timeline-title" }, tOr(`timeline.${e.type}`, e.to_status ? tOr(`status.${e.to_status}`, e.type) : e.type)),
            h("p", { class: "timeline-meta" }, h("time", { datetime: e.at }, dateTime(e.at))),
            e.note && e.type === "return.note_added" ? h("p", { class: "timeline-note" }, e.note) : null,
          ),
        ),
      ),
    );
  }

  // ---- cancel ----
  function paintCancel() {
    const box = clear(boxes.cancel);
    if (!ret.can_cancel) return;
    const errorSlot = h("div");
    const start = button(t("cancel.button"), { kind: "warning", id: "cancel-return" });
    const confirmBox = h("div", { class: "card confirm", id: "cancel-confirm", "data-testid": "cancel-confirm", hidden: true });
    const title = h("h2", { class: "heading-m", id: "cancel-confirm-title", tabindex: "-1" }, t("cancel.confirm_title", { rma: ret.rma }));
    const yes = button(t("cancel.yes"), { kind: "warning", id: "cancel-confirm-yes" });
    const no = button(t("cancel.no"), { kind: "secondary", id: "cancel-confirm-no" });
    confirmBox.append(title, h("p", null, t("cancel.confirm_body")), h("div", { class: "button-group" }, yes, no));
    start.addEventListener("click", () => {
      confirmBox.hidden = false;
      start.hidden = true;
      title.focus();
    });
    no.addEventListener("click", () => {
      confirmBox.hidden = true;
      start.hidden = false;
      start.focus();
    });
    yes.addEventListener("click", async () => {
      setBusy(yes, true, t("cancel.cancelling"));
      clear(errorSlot);
      try {
        ret = await api(`${base}/cancel`, { method: "POST", body: {}, orderId });
        paintAll();
        announce(t("cancel.done"));
        document.getElementById("status-heading")?.focus();
      } catch (error) {
        setBusy(yes, false);
        if (error.authLost) return;
        errorSlot.append(notice(error.status === 409 ? t("cancel.too_late") : errorMessage(error), { kind: "error", id: "cancel-error" }));
        errorSlot.querySelector(".notice")?.setAttribute("tabindex", "-1");
        errorSlot.querySelector(".notice")?.focus();
      }
    });
    box.append(h("p", null, t("cancel.hint")), start, confirmBox, errorSlot);
  }

  function paintAll() {
    paintStatus();
    paintLabel();
    paintTracking();
    paintRefund();
    paintItems();
    paintTimeline();
    paintCancel();
  }

  // While the label is being bought, look again every few seconds.
  function schedulePoll() {
    clearTimeout(pollTimer);
    if (ret.label_status !== "pending" && ret.status !== "requested") return;
    if (polls >= POLL_MAX) return;
    pollTimer = setTimeout(async () => {
      polls += 1;
      try {
        const next = await api(base, { orderId });
        if (!ctx.isCurrent()) return;
        const changedLabel = next.label_status !== ret.label_status;
        const changedStatus = next.status !== ret.status;
        ret = next;
        if (changedStatus) {
          paintStatus();
          paintTimeline();
          paintCancel();
        }
        if (changedLabel || changedStatus) {
          paintLabel();
          paintSteps();
        }
        if (changedLabel && ret.label_status === "issued") announce(t("label.ready"));
      } catch {
        /* try again on the next tick */
      }
      schedulePoll();
    }, POLL_MS);
  }

  const stepsList = h("ol", { class: "steps", id: "next-steps", "data-testid": "next-steps" });
  function paintSteps() {
    append(clear(stepsList), nextSteps(ret).map((s) => h("li", null, s)));
  }
  paintAll();
  paintSteps();
  schedulePoll();

  const title = confirmed ? t("confirm.title") : t("return.title", { rma: ret.rma });
  const top = confirmed
    ? [
        h(
          "div",
          { class: "panel panel--confirm", id: "confirmation-panel", "data-testid": "confirmation-panel" },
          h("h1", { class: "panel-title", id: "page-title", tabindex: "-1", "data-testid": "page-title" }, t("confirm.title")),
          h("p", { class: "panel-body" }, t("confirm.rma_is"), h("br"), h("strong", { id: "confirmation-rma", "data-testid": "confirmation-rma" }, ret.rma)),
        ),
        h("p", null, t("confirm.email")),
        h("h2", { class: "heading-m", id: "next-steps-heading" }, t("confirm.next_heading")),
        stepsList,
      ]
    : heading(t("return.title", { rma: ret.rma }), { caption: t("return.caption") });

  const node = h(
    "div",
    { class: "page", "data-page": "return", "data-rma": ret.rma },
    backLink(t("return.back"), `#/orders/${enc}`),
    top,
    h(
      "div",
      { class: "layout-two" },
      h("div", { class: "layout-main" }, confirmed ? null : boxes.status, boxes.label, boxes.tracking, boxes.items, boxes.timeline, confirmed ? boxes.status : null),
      h("div", { class: "layout-side" }, boxes.refund, boxes.cancel),
    ),
  );
  const focus = name === "return_label" ? boxes.label.querySelector("h2") : null;
  return { title, node, focus };
}

function nextSteps(ret) {
  const keepOnly = (ret.lines || []).length && ret.lines.every((l) => l.resolution === "keep_item");
  if (ret.status === "needs_review" || ret.status === "requested") return [t("next.review"), t("next.email_when_decided")];
  if (keepOnly) return [t("next.keep_item"), t("next.refund")];
  return [ret.label_status === "issued" ? t("next.label_ready") : t("next.label_soon"), t("next.pack"), t("next.drop_off"), t("next.refund")];
}
