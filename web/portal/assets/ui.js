// What pages are made of: the DOM helper, strings and formats in the active language, page parts
// (headings, fields with inline errors, the error summary, notices) and the sign-in form parts.
// One module, because every page needs all of it (web/portal/README.md: first load).

// ---- DOM: text goes in with textContent / setAttribute only, never as HTML ----

const PROPS = new Set(["value", "checked", "disabled", "selected", "hidden", "multiple", "required"]);

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
      else if (key === "text") el.textContent = String(value);
      else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (PROPS.has(key)) el[key] = value;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// Only http(s) URLs (or same-origin relative paths) ever go into href/src.
export function safeUrl(url) {
  if (typeof url !== "string" || !url) return null;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === "https:" || parsed.protocol === "http:" || parsed.protocol === "blob:" ? parsed.href : null;
  } catch {
    return null;
  }
}

let uid = 0;
export function nextId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

// ---- strings and formats ----

// Each locale's strings come in two parts, so that the first page loads less: `main` (header,
// footer, errors, the pages before signing in) and `orders` (the order and return pages; routes
// ask for it). Only the active locale's parts are loaded.
const LOADERS = {
  en: { main: () => import("./i18n/en.js"), orders: () => import("./i18n/en-orders.js") },
  de: { main: () => import("./i18n/de.js"), orders: () => import("./i18n/de-orders.js") },
};

export const SUPPORTED = Object.keys(LOADERS);
const tables = new Map(); // "de/orders" -> strings
let current = "en";
let strings = {};

export function locale() {
  return current;
}

export function supported(tag) {
  if (!tag) return null;
  const base = String(tag).toLowerCase().split(/[-_]/)[0];
  return SUPPORTED.includes(base) ? base : null;
}

async function loadTable(code, part) {
  const key = `${code}/${part}`;
  if (!tables.has(key)) tables.set(key, (await LOADERS[code][part]()).default);
  return tables.get(key);
}

// setLocale("de", ["orders"]): the main strings and the parts named.
export async function setLocale(tag, parts = []) {
  const next = supported(tag) || "en";
  const loaded = await Promise.all(["main", ...parts].map((part) => loadTable(next, part)));
  strings = Object.assign({}, ...loaded);
  current = next;
  document.documentElement.lang = current;
  return current;
}

// t("key", {name: "x"}); a value that is an object picks a plural form by params.count.
export function t(key, params = {}) {
  let value = strings[key];
  if (value === undefined) return key;
  if (typeof value === "object") {
    const form = new Intl.PluralRules(current).select(Number(params.count ?? 0));
    value = value[form] ?? value.other;
  }
  return value.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined ? m : String(params[name])));
}

// A string if the locale has it, else the fallback (e.g. the policy's own label).
export function tOr(key, fallback) {
  return strings[key] === undefined ? fallback : t(key);
}

export function has(key) {
  return strings[key] !== undefined;
}

// ---- money: integer minor units, the exponent comes from the currency (JPY 0, KWD 3) ----

const digitsCache = new Map();
export function currencyDigits(currency) {
  if (!digitsCache.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
    } catch {
      /* unknown code: keep 2 */
    }
    digitsCache.set(currency, digits);
  }
  return digitsCache.get(currency);
}

export function money(minor, currency) {
  if (minor === null || minor === undefined || !currency) return "";
  const digits = currencyDigits(currency);
  const value = Number(minor) / 10 ** digits;
  try {
    return new Intl.NumberFormat(current, {
      style: "currency",
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    }).format(value);
  } catch {
    return `${value.toFixed(digits)} ${currency}`;
  }
}

// ---- dates ----

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

export function date(value) {
  if (!value) return "";
  const onlyDate = DATE_ONLY.test(value);
  const d = new Date(onlyDate ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(current, {
    dateStyle: "long",
    ...(onlyDate ? { timeZone: "UTC" } : {}),
  }).format(d);
}

export function dateTime(value) {
  if (!value) return "";
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(current, { dateStyle: "medium", timeStyle: "short" }).format(d);
}

// "3 minutes", "45 seconds", "2 hours" in the active language.
export function duration(seconds) {
  const s = Math.max(1, Math.ceil(Number(seconds) || 0));
  const [value, unit] = s < 90 ? [s, "second"] : s < 5400 ? [Math.ceil(s / 60), "minute"] : [Math.ceil(s / 3600), "hour"];
  try {
    return new Intl.NumberFormat(current, { style: "unit", unit, unitDisplay: "long" }).format(value);
  } catch {
    return `${value} ${unit}s`;
  }
}

// ---- page parts ----

export function heading(text, { caption, id = "page-title" } = {}) {
  return [
    caption ? h("p", { class: "caption", id: `${id}-caption` }, caption) : null,
    h("h1", { id, tabindex: "-1", "data-testid": "page-title" }, text),
  ];
}

// Announce a message in the polite (default) or assertive live region.
export function announce(message, { assertive = false } = {}) {
  const region = document.getElementById(assertive ? "live-assertive" : "live-polite");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}

function describe(control, id, on = true) {
  const ids = new Set((control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
  if (on) ids.add(id);
  else ids.delete(id);
  if (ids.size) control.setAttribute("aria-describedby", [...ids].join(" "));
  else control.removeAttribute("aria-describedby");
}

// A labelled control: <div data-group=id><label/><p hint/><error/><control/></div>
export function field({ id, label, hint, control, optional = false, labelClass }) {
  control.id = id;
  const hintId = `${id}-hint`;
  if (hint) describe(control, hintId);
  return h(
    "div",
    { class: "form-group", "data-group": id },
    h("label", { class: ["label", labelClass], for: id }, label, optional ? ` ${t("form.optional")}` : null),
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("div", { class: "error-slot" }),
    control,
  );
}

// A radio group as fieldset + legend. options: [{value, label, hint, checked, testid}]
export function radios({ id, name, legend, hint, options, onChange, inline = false, legendClass }) {
  const hintId = `${id}-hint`;
  const fieldset = h(
    "fieldset",
    { class: "fieldset", id, "aria-describedby": hint ? hintId : null },
    h("legend", { class: ["legend", legendClass] }, legend),
  );
  const group = h("div", { class: "form-group", "data-group": id, "data-focus": `${id}-0` }, fieldset);
  if (hint) fieldset.append(h("p", { class: "hint", id: hintId }, hint));
  fieldset.append(h("div", { class: "error-slot" }));
  const list = h("div", { class: ["radios", inline ? "radios--inline" : null] });
  options.forEach((option, i) => {
    const inputId = `${id}-${i}`;
    const itemHintId = option.hint ? `${inputId}-hint` : null;
    const input = h("input", {
      type: "radio",
      class: "radio-input",
      id: inputId,
      name,
      value: option.value,
      checked: Boolean(option.checked),
      "aria-describedby": itemHintId,
      "data-testid": option.testid,
      onchange: onChange ? () => onChange(option.value) : null,
    });
    list.append(
      h(
        "div",
        { class: "radio" },
        input,
        h("label", { class: "radio-label", for: inputId }, option.label),
        option.hint ? h("p", { class: "hint radio-hint", id: itemHintId }, option.hint) : null,
        option.extra || null,
      ),
    );
  });
  fieldset.append(list);
  return group;
}

function controlsOf(group) {
  return [...group.querySelectorAll("input, select, textarea")].filter((c) => c.type !== "hidden");
}

export function setError(group, message) {
  clearError(group);
  if (!group) return;
  const slot = group.querySelector(".error-slot");
  const key = group.getAttribute("data-group");
  const errorId = `${key}-error`;
  const error = h("p", { class: "error-message", id: errorId }, h("span", { class: "visually-hidden" }, `${t("form.error_prefix")} `), message);
  (slot || group).append(error);
  group.classList.add("form-group--error");
  const fieldset = group.querySelector("fieldset");
  if (fieldset && group.getAttribute("data-focus")) {
    describe(fieldset, errorId);
  } else {
    for (const control of controlsOf(group)) {
      describe(control, errorId);
      control.setAttribute("aria-invalid", "true");
    }
  }
}

export function clearError(group) {
  if (!group) return;
  const key = group.getAttribute("data-group");
  const slot = group.querySelector(".error-slot");
  if (slot) clear(slot);
  group.classList.remove("form-group--error");
  const errorId = `${key}-error`;
  const fieldset = group.querySelector("fieldset");
  if (fieldset) describe(fieldset, errorId, false);
  for (const control of controlsOf(group)) {
    describe(control, errorId, false);
    // Still invalid if another (nested) error describes it.
    if (!/-error\b/.test(control.getAttribute("aria-describedby") || "")) control.removeAttribute("aria-invalid");
  }
}

export function focusTarget(group) {
  if (!group) return null;
  const focusId = group.getAttribute("data-focus");
  return (focusId && document.getElementById(focusId)) || controlsOf(group)[0] || group;
}

// GOV.UK error summary: a box at the top listing every problem as a link to its field.
// errors: [{group (element) | focusId, text}] ; an error without a field is listed as plain text.
export function showErrorSummary(slot, errors) {
  clear(slot);
  const prefix = `${t("form.error_prefix")} `;
  if (document.title.startsWith(prefix)) document.title = document.title.slice(prefix.length);
  if (!errors.length) return null;
  document.title = prefix + document.title;
  const list = h("ul", { class: "error-summary-list" });
  for (const error of errors) {
    const target = error.group ? focusTarget(error.group) : error.focusId ? document.getElementById(error.focusId) : null;
    if (target && target.id) {
      list.append(
        h(
          "li",
          null,
          h(
            "a",
            {
              href: `#${target.id}`,
              onclick: (event) => {
                event.preventDefault();
                target.focus();
                target.scrollIntoView({ block: "center", behavior: "auto" });
              },
            },
            error.text,
          ),
        ),
      );
    } else {
      list.append(h("li", null, error.text));
    }
  }
  const summary = h(
    "div",
    { class: "error-summary", id: "error-summary", tabindex: "-1", "data-testid": "error-summary", "aria-labelledby": "error-summary-title" },
    h("div", { role: "alert" }, h("h2", { class: "error-summary-title", id: "error-summary-title" }, t("form.problem")), list),
  );
  slot.append(summary);
  summary.focus();
  summary.scrollIntoView({ block: "start", behavior: "auto" });
  return summary;
}

export function notice(text, { kind = "info", id, title, testid } = {}) {
  return h(
    "div",
    { class: ["notice", `notice--${kind}`], id, "data-testid": testid || id, role: kind === "error" ? "alert" : null },
    title ? h("p", { class: "notice-title" }, title) : null,
    ...(Array.isArray(text) ? text : [text]).map((line) => (line instanceof Node ? line : h("p", null, line))),
  );
}

export function button(label, { type = "button", kind = "primary", id, testid, onClick, disabled = false } = {}) {
  return h("button", { type, class: ["button", `button--${kind}`], id, "data-testid": testid || id, onclick: onClick, disabled }, label);
}

// A submit button while its request runs: disabled, with words saying so.
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

export function linkButton(label, href, { kind = "primary", id, testid } = {}) {
  return h("a", { class: ["button", `button--${kind}`], href, id, "data-testid": testid || id, role: null }, label);
}

export function loading(text) {
  return h("p", { class: "loading", role: "status" }, text || t("common.loading"));
}

// A status shown as words in a tag (never colour alone).
export function tag(text, kind = "neutral", testid) {
  return h("strong", { class: ["tag", `tag--${kind}`], "data-testid": testid }, text);
}

export function summaryList(rows, { id, testid } = {}) {
  return h(
    "dl",
    { class: "summary-list", id, "data-testid": testid || id },
    rows.filter(Boolean).map(([key, value, rowTestid]) =>
      h("div", { class: "summary-row", "data-testid": rowTestid }, h("dt", null, key), h("dd", null, value)),
    ),
  );
}

export function backLink(label, href) {
  return h("a", { class: "back-link", href, "data-testid": "back-link" }, label);
}

// ---- the sign-in fields (sign in, sign-in link, gift pages) ----

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

// The order number and email of a sign-in form (plus `extra` checks), or null once what is missing
// is shown inline and in the summary.
export function orderAndEmail(form, summarySlot, extra = []) {
  const orderNumber = form.elements.order_number.value.trim();
  const email = form.elements.email.value.trim();
  const ok = validateRequired(summarySlot, [
    { group: groupOf(form, "order-number"), value: orderNumber, message: t("signin.order_number_missing") },
    ...extra,
    { group: groupOf(form, "email"), value: email, message: t("signin.email_missing"), email: true },
  ]);
  return ok ? { orderNumber, email } : null;
}

export function groupOf(form, id) {
  return form.querySelector(`[data-group="${id}"]`);
}
