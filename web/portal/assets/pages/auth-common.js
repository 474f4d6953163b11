// Shared by the sign-in, sign-in-link and gift pages.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { field, setError, clearError, showErrorSummary } from "../ui.js";
import * as session from "../session.js";
import { buildHash } from "../router.js";

export function orderNumberField(value = "") {
  return field({
    id: "order-number",
    label: t("signin.order_number"),
    hint: t("signin.order_number_hint"),
    control: h("input", {
      class: "input input--medium",
      type: "text",
      name: "order_number",
      autocomplete: "off",
      spellcheck: "false",
      autocapitalize: "characters",
      value,
    }),
  });
}

export function emailField({ label, hint, value = "" } = {}) {
  return field({
    id: "email",
    label: label || t("signin.email"),
    hint,
    control: h("input", {
      class: "input",
      type: "email",
      name: "email",
      autocomplete: "email",
      spellcheck: "false",
      autocapitalize: "none",
      value,
    }),
  });
}

// Required-field check: [{group, value, message}] -> errors shown inline and in the summary.
export function validateRequired(summarySlot, checks) {
  const errors = [];
  for (const check of checks) {
    clearError(check.group);
    const value = (check.value || "").trim();
    let message = null;
    if (!value) message = check.message;
    else if (check.email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) message = t("signin.email_invalid");
    if (message) {
      setError(check.group, message);
      errors.push({ group: check.group, text: message });
    }
  }
  if (errors.length) showErrorSummary(summarySlot, errors);
  else showErrorSummary(summarySlot, []);
  return errors.length === 0;
}

// Where to go after signing in: `next` if it is a page of this same order, else the order.
export function afterSignIn(data, next) {
  session.save(data);
  const base = `#/orders/${encodeURIComponent(data.order_id)}`;
  if (typeof next === "string" && (next === base || next.startsWith(`${base}/`) || next.startsWith(`${base}?`))) return next;
  return buildHash(`/orders/${encodeURIComponent(data.order_id)}`);
}

export function groupOf(form, id) {
  return form.querySelector(`[data-group="${id}"]`);
}

export function setBusy(buttonEl, busy, busyLabel) {
  if (busy) {
    buttonEl.dataset.label = buttonEl.textContent;
    buttonEl.textContent = busyLabel || t("common.please_wait");
    buttonEl.setAttribute("aria-disabled", "true");
    buttonEl.disabled = true;
  } else {
    if (buttonEl.dataset.label) buttonEl.textContent = buttonEl.dataset.label;
    buttonEl.removeAttribute("aria-disabled");
    buttonEl.disabled = false;
  }
}
