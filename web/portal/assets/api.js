// fetch wrapper: JSON in and out, Bearer token per order, error bodies to plain words.

import { t, duration } from "./i18n.js";
import * as session from "./session.js";

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
    const token = session.token(orderId);
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
