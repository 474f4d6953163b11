// #/orders/{orderId}/return : choose lines, quantities, reasons, photos, resolutions; live preview; submit.

import {
  h, clear, append, t, money, date,
  heading, field, radios, setError, clearError, showErrorSummary, summaryList, button, notice, backLink, announce, setBusy,
} from "../ui.js";
import { api, errorMessage, ApiError, session } from "../api.js";
import { previewRows, reasonLabel, subReasonLabel, ineligibleText } from "./common.js";

const MAX_PHOTOS = 5;
const MAX_EDGE = 1600;
const NOTE_MAX = 500;

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- photos: resize in the browser, then the presigned POST with progress ----

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => resolve({ img, url });
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error("decode"));
    };
    img.src = url;
  });
}

export async function resizePhoto(file) {
  const { img, url } = await loadImage(file);
  try {
    const scale = Math.min(1, MAX_EDGE / Math.max(img.naturalWidth, img.naturalHeight));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
    canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff"; // transparent PNGs become white, not black, as JPEG
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(img, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
    if (!blob) throw new Error("encode");
    return blob;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function postToStorage(presign, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [key, value] of Object.entries(presign.fields || {})) form.append(key, value);
    form.append("file", blob, "photo.jpg");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", presign.url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((event.loaded / event.total) * 100));
    });
    xhr.addEventListener("load", () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new ApiError(xhr.status >= 500 ? 503 : 422, null, null))));
    xhr.addEventListener("error", () => reject(new ApiError(0, null, null)));
    xhr.send(form);
  });
}

export default async function startReturn(ctx) {
  const { params, navigate, onLeave } = ctx;
  const orderId = params.orderId;
  const enc = encodeURIComponent(orderId);
  const base = `/portal/orders/${enc}`;
  const eligibility = await api(`${base}/eligibility`, { orderId });
  const currency = eligibility.currency;
  const gift = Boolean(eligibility.gift || session.get(orderId)?.gift);
  const bonus = eligibility.store_credit_bonus_percent || 0;
  const reasons = eligibility.reasons && eligibility.reasons.length
    ? eligibility.reasons
    : [...new Set(eligibility.lines.flatMap((l) => l.allowed_reasons || []))].map((code) => ({ code, label: code, sub_reasons: [] }));
  const reasonRule = (code) => reasons.find((r) => r.code === code) || null;
  const title = t("return_form.title");

  const returnable = eligibility.lines.filter((l) => l.returnable && l.returnable_quantity > 0);
  const blocked = eligibility.lines.filter((l) => !(l.returnable && l.returnable_quantity > 0));

  // ---- the draft (kept in sessionStorage so an expired session loses nothing) ----
  const stored = session.loadDraft(orderId);
  const draft = stored && stored.key ? stored : { key: newKey(), lines: {}, note: "" };
  for (const line of returnable) {
    const d = draft.lines[line.line_id] || {};
    draft.lines[line.line_id] = {
      selected: Boolean(d.selected),
      quantity: Math.min(Math.max(1, Number(d.quantity) || 1), line.returnable_quantity),
      reason: (line.allowed_reasons || []).includes(d.reason) ? d.reason : "",
      sub_reason: d.sub_reason || "",
      resolution: (line.allowed_resolutions || []).includes(d.resolution) ? d.resolution : line.allowed_resolutions.length === 1 ? line.allowed_resolutions[0] : "",
      exchange_variant: d.exchange_variant || "",
      photos: Array.isArray(d.photos) ? d.photos.slice(0, MAX_PHOTOS) : [],
    };
  }
  const save = () => session.saveDraft(orderId, draft);
  save();
  const uploading = new Set();
  const thumbs = new Map(); // photo key -> blob: URL of the resized image (this page view only)
  onLeave(() => thumbs.forEach((url) => URL.revokeObjectURL(url)));

  const summarySlot = h("div", { class: "summary-slot" });
  const lineViews = new Map();

  // ---- one returnable line ----
  function lineView(line, index) {
    const state = draft.lines[line.line_id];
    const p = `line-${index}`;
    const checkbox = h("input", {
      type: "checkbox",
      class: "checkbox-input",
      id: `${p}-select`,
      name: `${p}-select`,
      checked: state.selected,
      "data-line-id": line.line_id,
      "data-testid": "line-select",
      "aria-describedby": `${p}-select-hint`,
    });
    const selectGroup = h(
      "div",
      { class: "form-group", "data-group": `${p}-select` },
      h("div", { class: "error-slot" }),
      h(
        "div",
        { class: "checkbox" },
        checkbox,
        h("label", { class: "checkbox-label", for: `${p}-select` }, h("span", { class: "item-title" }, line.title), line.variant ? h("span", { class: "item-variant" }, ` – ${line.variant}`) : null),
        h(
          "p",
          { class: "hint checkbox-hint", id: `${p}-select-hint` },
          line.deadline ? t("return_form.until", { date: date(line.deadline) }) : null,
          gift ? null : ` ${t("return_form.unit_refund", { amount: money(line.unit_refund, currency) })}`,
        ),
      ),
    );

    // quantity
    let quantityGroup = null;
    if (line.returnable_quantity > 1) {
      const select = h("select", { class: "select", name: `${p}-quantity`, "data-testid": "line-quantity", "data-line-id": line.line_id });
      for (let q = 1; q <= line.returnable_quantity; q += 1) select.append(h("option", { value: String(q), selected: q === state.quantity }, String(q)));
      select.addEventListener("change", () => {
        state.quantity = Number(select.value);
        changed();
      });
      quantityGroup = field({ id: `${p}-quantity`, label: t("return_form.quantity"), hint: t("return_form.quantity_hint", { count: line.returnable_quantity }), control: select });
    }

    // reason and sub-reason
    const reasonSelect = h(
      "select",
      { class: "select", name: `${p}-reason`, "data-testid": "line-reason", "data-line-id": line.line_id },
      h("option", { value: "" }, t("return_form.choose_reason")),
      (line.allowed_reasons || []).map((code) => h("option", { value: code, selected: code === state.reason }, reasonLabel(code, reasons))),
    );
    const reasonGroup = field({ id: `${p}-reason`, label: t("return_form.reason", { title: line.title }), labelClass: "label--s", control: reasonSelect });
    const subSlot = h("div");
    const photoSlot = h("div");
    function renderSubReason() {
      clear(subSlot);
      const rule = reasonRule(state.reason);
      const subs = rule ? rule.sub_reasons || [] : [];
      if (!subs.some((s) => s.code === state.sub_reason)) state.sub_reason = "";
      if (!subs.length) return;
      const select = h(
        "select",
        { class: "select", name: `${p}-sub-reason`, "data-testid": "line-sub-reason", "data-line-id": line.line_id },
        h("option", { value: "" }, t("return_form.choose_sub_reason")),
        subs.map((s) => h("option", { value: s.code, selected: s.code === state.sub_reason }, subReasonLabel(state.reason, s.code, reasons))),
      );
      select.addEventListener("change", () => {
        state.sub_reason = select.value;
        changed();
      });
      subSlot.append(field({ id: `${p}-sub-reason`, label: t("return_form.sub_reason"), optional: true, control: select }));
    }
    reasonSelect.addEventListener("change", () => {
      state.reason = reasonSelect.value;
      if (state.reason) clearError(reasonGroup);
      renderSubReason();
      renderPhotos();
      updateNoteLabel();
      changed();
    });

    // photos
    const photoList = h("ul", { class: "photo-list", "data-testid": "line-photo-list" });
    const progressSlot = h("div", { class: "upload-progress" });
    const fileInput = h("input", {
      type: "file",
      class: "file-input",
      name: `${p}-photos`,
      accept: "image/jpeg,image/png,image/webp,image/heic,image/*",
      multiple: true,
      "data-testid": "line-photos",
      "data-line-id": line.line_id,
    });
    const photoGroup = field({ id: `${p}-photos`, label: t("return_form.photos"), hint: t("return_form.photos_hint", { count: MAX_PHOTOS }), control: fileInput });
    photoGroup.append(progressSlot, photoList);
    function renderPhotos() {
      const rule = reasonRule(state.reason);
      const required = Boolean(rule && rule.requires_photo);
      const label = photoGroup.querySelector("label");
      label.textContent = required ? t("return_form.photos_required", { title: line.title }) : `${t("return_form.photos")} ${t("form.optional")}`;
      clear(photoSlot);
      photoSlot.append(photoGroup);
      clear(photoList);
      state.photos.forEach((photo, i) => {
        const thumb = thumbs.get(photo.key);
        photoList.append(
          h(
            "li",
            { class: "photo", "data-testid": "line-photo", "data-key": photo.key },
            thumb ? h("img", { src: thumb, alt: t("return_form.photo_alt", { n: i + 1, title: line.title }), class: "photo-thumb" }) : null,
            h("span", { class: "photo-name" }, photo.name || t("return_form.photo_n", { n: i + 1 })),
            button(t("return_form.remove_photo"), {
              kind: "secondary-small",
              testid: "remove-photo",
              onClick: () => {
                state.photos.splice(i, 1);
                renderPhotos();
                changed();
                announce(t("return_form.photo_removed"));
                fileInput.focus();
              },
            }),
          ),
        );
        photoList.lastChild.querySelector("button").setAttribute("aria-label", t("return_form.remove_photo_n", { n: i + 1, title: line.title }));
      });
      fileInput.disabled = state.photos.length >= MAX_PHOTOS;
    }
    fileInput.addEventListener("change", async () => {
      const files = [...fileInput.files].slice(0, MAX_PHOTOS - state.photos.length);
      fileInput.value = "";
      clearError(photoGroup);
      for (const file of files) await uploadOne(file);
    });
    async function uploadOne(file) {
      const token = Symbol(file.name);
      uploading.add(token);
      const barId = `${p}-progress-${Math.random().toString(36).slice(2, 8)}`;
      const bar = h("progress", { max: "100", value: "0", id: barId, "data-testid": "upload-progress" });
      const row = h("div", { class: "progress-row" }, h("label", { for: barId, class: "small" }, t("return_form.uploading", { name: file.name })), bar);
      progressSlot.append(row);
      announce(t("return_form.uploading", { name: file.name }));
      try {
        let blob;
        try {
          blob = await resizePhoto(file);
        } catch {
          throw new Error("unreadable");
        }
        const presign = await api(`${base}/photos`, { method: "POST", body: { content_type: "image/jpeg" }, orderId });
        if (presign.max_bytes && blob.size > presign.max_bytes) throw new Error("too_big");
        await postToStorage(presign, blob, (pct) => {
          bar.value = pct;
        });
        state.photos.push({ key: presign.key, name: file.name });
        clearError(photoGroup);
        thumbs.set(presign.key, URL.createObjectURL(blob));
        announce(t("return_form.photo_uploaded", { name: file.name }));
        renderPhotos();
        changed();
      } catch (error) {
        if (error && error.authLost) return;
        const message =
          error && error.message === "unreadable" ? t("return_form.photo_unreadable", { name: file.name }) : error && error.message === "too_big" ? t("return_form.photo_too_big") : t("return_form.photo_failed", { reason: errorMessage(error) });
        setError(photoGroup, message);
        announce(message, { assertive: true });
      } finally {
        uploading.delete(token);
        row.remove();
      }
    }

    // resolution
    const exchangeInput = h("input", { class: "input input--medium", type: "text", name: `${p}-exchange`, value: state.exchange_variant, "data-testid": "line-exchange", "data-line-id": line.line_id, maxlength: "100" });
    exchangeInput.addEventListener("input", () => {
      state.exchange_variant = exchangeInput.value;
      if (exchangeInput.value.trim()) clearError(exchangeGroup);
      changed();
    });
    const exchangeGroup = field({ id: `${p}-exchange`, label: t("return_form.exchange_variant"), hint: t("return_form.exchange_hint", { variant: line.variant || "" }), control: exchangeInput });
    const exchangeWrap = h("div", { class: "conditional", hidden: state.resolution !== "exchange" }, exchangeGroup);
    const resolutionGroup = radios({
      id: `${p}-resolution`,
      name: `${p}-resolution`,
      legend: t("return_form.resolution", { title: line.title }),
      legendClass: "legend--s",
      options: (line.allowed_resolutions || []).map((value) => ({
        value,
        checked: value === state.resolution,
        testid: `line-resolution-${value}`,
        label: value === "store_credit" && bonus ? t("resolution.store_credit_bonus", { bonus }) : t(`resolution.${value}`),
        hint: value === "store_credit" && gift ? t("resolution.store_credit_gift_hint") : t(`resolution.${value}_hint`, { bonus }),
        extra: value === "exchange" ? exchangeWrap : null,
      })),
      onChange: (value) => {
        state.resolution = value;
        clearError(resolutionGroup);
        exchangeWrap.hidden = value !== "exchange";
        changed();
      },
    });

    const refundOut = h("p", { class: "line-refund", id: `${p}-refund`, "data-testid": "line-refund" });
    const details = h(
      "div",
      { class: "line-details", id: `${p}-details`, hidden: !state.selected },
      quantityGroup,
      reasonGroup,
      subSlot,
      photoSlot,
      resolutionGroup,
      refundOut,
    );
    checkbox.addEventListener("change", () => {
      state.selected = checkbox.checked;
      if (checkbox.checked) clearError(linesGroup);
      details.hidden = !checkbox.checked;
      changed();
    });
    renderSubReason();
    renderPhotos();
    const card = h("li", { class: "card return-line", "data-line-id": line.line_id, "data-testid": "return-line" }, selectGroup, details);
    return { line, index, card, state, groups: { select: selectGroup, quantity: quantityGroup, reason: reasonGroup, photos: photoGroup, resolution: resolutionGroup, exchange: exchangeGroup }, refundOut };
  }

  returnable.forEach((line, i) => lineViews.set(line.line_id, lineView(line, i)));

  // all lines: one fieldset, where "select at least one" is reported
  const returnableList = h("ul", { class: "card-list", id: "returnable-lines", "data-testid": "returnable-lines" }, [...lineViews.values()].map((v) => v.card));
  const linesGroup = h(
    "div",
    { class: "form-group", "data-group": "lines", "data-focus": "line-0-select" },
    h(
      "fieldset",
      { class: "fieldset", id: "lines-fieldset", "aria-describedby": "lines-hint" },
      h("legend", { class: "legend legend--m" }, t("return_form.which_items")),
      h("p", { class: "hint", id: "lines-hint" }, t("return_form.which_items_hint")),
      h("div", { class: "error-slot" }),
      returnableList,
    ),
  );

  // ---- note ----
  const noteInput = h("textarea", { class: "textarea", name: "note", rows: "4", maxlength: String(NOTE_MAX), "data-testid": "return-note" });
  noteInput.value = draft.note || "";
  const noteGroup = field({ id: "return-note", label: t("return_form.note"), hint: t("return_form.note_hint", { count: NOTE_MAX }), control: noteInput });
  noteInput.addEventListener("input", () => {
    draft.note = noteInput.value;
    if (noteInput.value.trim()) clearError(noteGroup);
    changed();
  });
  function noteRequired() {
    return [...lineViews.values()].some((v) => v.state.selected && reasonRule(v.state.reason)?.requires_note);
  }
  function updateNoteLabel() {
    noteGroup.querySelector("label").textContent = noteRequired() ? t("return_form.note_required") : `${t("return_form.note")} ${t("form.optional")}`;
  }
  updateNoteLabel();

  // ---- preview ----
  const previewBody = h("div", { id: "preview-body" });
  const previewStatus = h("p", { class: "small", id: "preview-status", "data-testid": "preview-status" });
  const previewSection = h(
    "section",
    { class: "card preview", id: "refund-preview", "data-testid": "refund-preview", "aria-labelledby": "preview-heading" },
    h("h2", { class: "heading-m", id: "preview-heading" }, gift ? t("preview.title_gift") : t("preview.title")),
    previewStatus,
    previewBody,
  );
  let previewTimer = null;
  let previewAbort = null;
  let previewSeq = 0;
  onLeave(() => {
    clearTimeout(previewTimer);
    if (previewAbort) previewAbort.abort();
  });

  function lineReady(v) {
    const s = v.state;
    const rule = reasonRule(s.reason);
    if (!s.selected || !s.reason || !s.resolution) return false;
    if (s.resolution === "exchange" && !s.exchange_variant.trim()) return false;
    if (rule && rule.requires_photo && !s.photos.length) return false;
    if (rule && rule.requires_note && !draft.note.trim()) return false;
    return true;
  }

  function lineBody(v) {
    const s = v.state;
    const out = { line_id: v.line.line_id, quantity: s.quantity, reason: s.reason, resolution: s.resolution, photos: s.photos.map((ph) => ph.key) };
    if (s.sub_reason) out.sub_reason = s.sub_reason;
    if (s.resolution === "exchange") out.exchange_variant = s.exchange_variant.trim();
    return out;
  }

  function requestBody(views) {
    const body = { lines: views.map(lineBody) };
    if (draft.note.trim()) body.note = draft.note.trim();
    return body;
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, 450);
  }

  async function runPreview() {
    const selected = [...lineViews.values()].filter((v) => v.state.selected);
    const ready = selected.filter(lineReady);
    for (const v of lineViews.values()) v.refundOut.textContent = "";
    if (previewAbort) previewAbort.abort();
    clear(previewBody);
    if (!ready.length) {
      previewStatus.textContent = selected.length ? t("preview.incomplete") : t("preview.empty");
      return;
    }
    const seq = ++previewSeq;
    previewAbort = new AbortController();
    previewStatus.textContent = t("preview.updating");
    try {
      const result = await api(`${base}/returns/preview`, { method: "POST", body: requestBody(ready), orderId, signal: previewAbort.signal });
      if (seq !== previewSeq) return;
      const cur = result.currency || currency;
      previewStatus.textContent = ready.length < selected.length ? t("preview.partial") : "";
      previewBody.append(summaryList(previewRows(result.preview, cur), { id: "preview-totals" }));
      for (const line of result.lines || []) {
        const v = lineViews.get(line.line_id);
        if (v && line.refund && !gift) v.refundOut.textContent = t("preview.line_amount", { amount: money(line.refund.amount, cur) });
      }
      const total = result.preview.refund_total + result.preview.store_credit_total + result.preview.exchange_value;
      announce(t("preview.announce", { amount: money(total, cur) }));
    } catch (error) {
      if ((error && error.name === "AbortError") || seq !== previewSeq) return;
      if (error.authLost) return;
      previewStatus.textContent = error.status === 409 || error.status === 422 ? t("preview.problem") : t("preview.failed", { reason: errorMessage(error) });
    }
  }

  function changed() {
    save();
    updateNoteLabel();
    schedulePreview();
  }

  // ---- submit ----
  const submit = button(t("return_form.submit"), { type: "submit", id: "submit-return" });
  let submitting = false;

  function validate() {
    const errors = [];
    const views = [...lineViews.values()];
    for (const v of views) Object.values(v.groups).forEach((g) => g && clearError(g));
    clearError(noteGroup);
    clearError(linesGroup);
    const selected = views.filter((v) => v.state.selected);
    if (!selected.length && views.length) {
      setError(linesGroup, t("return_form.none_selected"));
      errors.push({ group: linesGroup, text: t("return_form.none_selected") });
    }
    for (const v of selected) {
      const s = v.state;
      const rule = reasonRule(s.reason);
      const add = (group, text) => {
        setError(group, text);
        errors.push({ group, text });
      };
      if (!s.reason) add(v.groups.reason, t("return_form.reason_missing", { title: v.line.title }));
      if (rule && rule.requires_photo && !s.photos.length) add(v.groups.photos, t("return_form.photo_missing", { title: v.line.title }));
      if (!s.resolution) add(v.groups.resolution, t("return_form.resolution_missing", { title: v.line.title }));
      if (s.resolution === "exchange" && !s.exchange_variant.trim()) add(v.groups.exchange, t("return_form.exchange_missing", { title: v.line.title }));
    }
    if (noteRequired() && !draft.note.trim()) {
      setError(noteGroup, t("return_form.note_missing"));
      errors.push({ group: noteGroup, text: t("return_form.note_missing") });
    }
    if (uploading.size) errors.push({ text: t("return_form.wait_uploads") });
    return { errors, selected };
  }

  function serverErrors(error) {
    const errors = [];
    const lines = Array.isArray(error.details && error.details.lines) ? error.details.lines : [];
    for (const item of lines) {
      const v = lineViews.get(item.line_id);
      const titleText = v ? v.line.title : item.line_id;
      if (error.status === 409 && error.reason === "over_return") {
        const text = t("return_form.over_return", { title: titleText, count: item.returnable ?? 0 });
        const group = v && (v.groups.quantity || v.groups.select);
        if (group) setError(group, text);
        errors.push({ group, text });
        continue;
      }
      for (const code of item.reason_codes || []) {
        const text = `${titleText}: ${code in LINE_GROUP ? t(`line_error.${code}`) : code.endsWith("_not_allowed") ? t("line_error.resolution_not_allowed") : ineligibleText(code, v && v.line)}`;
        const group = v ? v.groups[LINE_GROUP[code] || "select"] : null;
        if (group) setError(group, text);
        errors.push({ group, text });
      }
    }
    const codes = (error.details && error.details.reason_codes) || [];
    if (codes.includes("note_too_long")) {
      setError(noteGroup, t("return_form.note_too_long", { count: NOTE_MAX }));
      errors.push({ group: noteGroup, text: t("return_form.note_too_long", { count: NOTE_MAX }) });
    }
    if (!errors.length) errors.push({ text: errorMessage(error) });
    return errors;
  }

  const form = h("form", { id: "return-form", class: "form", novalidate: true, "data-testid": "return-form" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submitting) return;
    const { errors, selected } = validate();
    if (errors.length) {
      showErrorSummary(summarySlot, errors);
      return;
    }
    submitting = true;
    setBusy(submit, true, t("return_form.submitting"));
    try {
      const created = await api(`${base}/returns`, { method: "POST", body: requestBody(selected), orderId, headers: { "Idempotency-Key": draft.key } });
      session.clearDraft(orderId);
      navigate(`#/orders/${enc}/returns/${encodeURIComponent(created.rma)}?confirmed=1`);
    } catch (error) {
      submitting = false;
      setBusy(submit, false);
      if (error.authLost) return;
      if (error.reason === "idempotency_key_reused" && error.details.rma) {
        // The first submit of this draft did create a return: show it.
        session.clearDraft(orderId);
        navigate(`#/orders/${enc}/returns/${encodeURIComponent(error.details.rma)}?confirmed=1`);
        return;
      }
      showErrorSummary(summarySlot, serverErrors(error));
    }
  });

  append(form, [
    returnable.length ? linesGroup : notice(t("order.nothing_returnable"), { id: "nothing-returnable" }),
    returnable.length ? noteGroup : null,
    returnable.length ? previewSection : null,
    returnable.length ? h("div", { class: "button-group" }, submit, h("a", { href: `#/orders/${enc}`, class: "link-cancel", id: "cancel-draft" }, t("return_form.cancel"))) : null,
  ]);

  const blockedSection = blocked.length
    ? h(
        "section",
        { class: "section", id: "blocked-lines-section", "aria-labelledby": "blocked-heading" },
        h("h2", { class: "heading-m", id: "blocked-heading" }, t("return_form.not_returnable")),
        h(
          "ul",
          { class: "card-list", id: "blocked-lines", "data-testid": "blocked-lines" },
          blocked.map((line) =>
            h(
              "li",
              { class: "card card--muted", "data-line-id": line.line_id, "data-testid": "blocked-line" },
              h("p", { class: "item-title" }, line.title, line.variant ? ` – ${line.variant}` : null),
              h("p", { class: "small", "data-testid": "blocked-reason" }, (line.reason_codes.length ? line.reason_codes : ["other"]).map((c) => ineligibleText(c, line)).join(" ")),
            ),
          ),
        ),
      )
    : null;

  const node = h(
    "div",
    { class: "page", "data-page": "start-return" },
    backLink(t("return_form.back"), `#/orders/${enc}`),
    summarySlot,
    heading(title),
    stored && stored.key && Object.values(stored.lines || {}).some((l) => l.selected) ? notice(t("return_form.draft_restored"), { id: "draft-restored" }) : null,
    gift ? h("div", { class: "inset", id: "gift-return-note", "data-testid": "gift-return-note" }, h("p", null, t("return_form.gift_explainer"))) : null,
    h("p", { class: "lead" }, t("return_form.intro")),
    form,
    blockedSection,
  );
  return { title, node, after: () => runPreview() };
}

// Which field a server reason code belongs to.
const LINE_GROUP = {
  duplicate_line: "select",
  unknown_line: "select",
  unknown_reason: "reason",
  unknown_sub_reason: "reason",
  photo_required: "photos",
  note_required: "select",
  photo_not_for_this_order: "photos",
  too_many_photos: "photos",
  exchange_variant_required: "exchange",
};
