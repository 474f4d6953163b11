// Shared page parts: headings, fields with inline errors, the error summary, notices, live status.

import { h, clear } from "./dom.js";
import { t } from "./i18n.js";

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
