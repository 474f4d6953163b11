// Talking to the API (fetch wrapper: JSON, Bearer token per order, error bodies to plain words)
// and what the tab keeps for it in sessionStorage (never localStorage): a token per order, the
// return draft, the language choice.

import { t, duration } from "./ui.js";

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status; // 0 = network failure
    this.code = (body && body.error) || null;
    this.details = (body && body.details) || {};
    this.retryAfter = retryAfter;
    this.authLost = false;
  }

  get reason() {
    return this.details && !Array.isArray(this.details) ? this.details.reason || null : null;
  }
}

let onAuthLost = () => {};
export function setAuthLostHandler(fn) {
  onAuthLost = fn;
}

const AUTH_REASONS = new Set(["token_expired", "token_invalid", "missing_credentials"]);

function retryAfterSeconds(response, body) {
  const header = response.headers.get("Retry-After");
  if (header && /^\d+$/.test(header.trim())) return Number(header.trim());
  if (header) {
    const at = Date.parse(header);
    if (!Number.isNaN(at)) return Math.max(1, Math.round((at - Date.now()) / 1000));
  }
  const fromBody = body && body.details && body.details.retry_after_seconds;
  return typeof fromBody === "number" ? fromBody : null;
}

// api("/portal/orders/1", {orderId: "1"}) adds the order's token; body is sent as JSON.
export async function api(path, { method = "GET", body, orderId, headers = {}, signal, raw = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, signal, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (orderId) {
    const token = tokenOf(orderId);
    if (token) init.headers.Authorization = `Bearer ${token}`;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (exc) {
    if (exc && exc.name === "AbortError") throw exc;
    throw new ApiError(0, null, null);
  }
  if (response.ok) {
    if (raw) return response;
    if (response.status === 204) return null;
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }
  let errorBody = null;
  try {
    errorBody = await response.json();
  } catch {
    errorBody = null;
  }
  const error = new ApiError(response.status, errorBody, retryAfterSeconds(response, errorBody));
  if (response.status === 401 && orderId && (AUTH_REASONS.has(error.reason) || !error.reason)) {
    error.authLost = true;
    onAuthLost(orderId, error.reason);
  }
  throw error;
}

// Plain words for any failure. `overrides` maps an error code, reason or status to a key.
export function errorMessage(error, overrides = {}) {
  if (!(error instanceof ApiError)) return t("error.unexpected");
  const pick = overrides[error.reason] || overrides[error.code] || overrides[error.status];
  if (pick) return t(pick, { wait: duration(error.retryAfter || 60) });
  switch (error.status) {
    case 0:
      return t("error.network");
    case 400:
    case 422:
      return error.code === "validation_failed" ? t("error.validation") : t("error.unprocessable");
    case 401:
      return t("error.session_expired");
    case 403:
    case 404:
      return t("error.not_found");
    case 409:
      if (error.reason === "over_return") return t("error.over_return");
      return t("error.conflict");
    case 413:
      return t("error.too_large");
    case 429:
      return error.retryAfter ? t("error.rate_limited", { wait: duration(error.retryAfter) }) : t("error.rate_limited_soon");
    default:
      return error.status >= 500 ? t("error.server") : t("error.unexpected");
  }
}

// ---- sessions ----

const TOKEN = "hw.session.";
const DRAFT = "hw.draft.";
const LANG = "hw.lang";
const LAST = "hw.last-order";

function read(key) {
  try {
    const raw = sessionStorage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null || value === undefined) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or blocked: the app still works for this page view */
  }
}

// PortalSession from /portal/session, /portal/session/redeem or /portal/gift-session.
function save(data) {
  write(TOKEN + data.order_id, {
    token: data.token,
    expires_at: data.expires_at || null,
    gift: Boolean(data.gift),
    locale: data.locale || null,
  });
  write(LAST, data.order_id);
}

function get(orderId) {
  const s = read(TOKEN + orderId);
  if (!s || !s.token) return null;
  if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) return null;
  return s;
}

function tokenOf(orderId) {
  return get(orderId)?.token || null;
}

// The session ended: forget the token but remember whether it was a gift sign-in.
function expire(orderId) {
  const s = read(TOKEN + orderId);
  write(TOKEN + orderId, s ? { gift: Boolean(s.gift), locale: s.locale, order_number: s.order_number, expired: true } : null);
}

// Remember the order number so a new sign-in after expiry can be prefilled.
function rememberOrderNumber(orderId, orderNumber) {
  const s = read(TOKEN + orderId);
  if (s && s.token && s.order_number !== orderNumber) write(TOKEN + orderId, { ...s, order_number: orderNumber });
}

function orderNumberOf(orderId) {
  return read(TOKEN + orderId)?.order_number || "";
}

// A session for this order existed in this tab (it may have expired since).
function known(orderId) {
  return Boolean(read(TOKEN + orderId));
}

function wasGift(orderId) {
  return Boolean(read(TOKEN + orderId)?.gift);
}

function orderLocale(orderId) {
  return read(TOKEN + (orderId || read(LAST)))?.locale || null;
}

// The order's own locale (from the order document) when the session did not carry one.
function setOrderLocale(orderId, value) {
  const s = read(TOKEN + orderId);
  if (s && !s.locale && value) write(TOKEN + orderId, { ...s, locale: value });
}

function signOut(orderId) {
  write(TOKEN + orderId, null);
}

// ---- the in-progress return, kept across a sign-in ----

function loadDraft(orderId) {
  return read(DRAFT + orderId);
}

function saveDraft(orderId, draft) {
  write(DRAFT + orderId, draft);
}

function hasDraft(orderId) {
  const draft = read(DRAFT + orderId);
  return Boolean(draft && Object.values(draft.lines || {}).some((line) => line.selected));
}

function clearDraft(orderId) {
  write(DRAFT + orderId, null);
}

// ---- language chosen with the switcher or ?lang= ----

function chosenLang() {
  return read(LANG);
}

function chooseLang(lang) {
  write(LANG, lang);
}

// Where to go after signing in: `next` if it is a page of this same order, else the order.
export function afterSignIn(data, next) {
  save(data);
  const base = `#/orders/${encodeURIComponent(data.order_id)}`;
  if (typeof next === "string" && (next === base || next.startsWith(`${base}/`) || next.startsWith(`${base}?`))) return next;
  return base;
}

// session.get(orderId), session.saveDraft(orderId, draft), ...
export const session = Object.freeze({
  save,
  get,
  token: tokenOf,
  expire,
  rememberOrderNumber,
  orderNumberOf,
  known,
  wasGift,
  orderLocale,
  setOrderLocale,
  signOut,
  loadDraft,
  saveDraft,
  hasDraft,
  clearDraft,
  chosenLang,
  chooseLang,
});
