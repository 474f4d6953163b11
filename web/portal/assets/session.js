// Portal sessions: one token per order, in sessionStorage only (never localStorage).

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
export function save(session) {
  write(TOKEN + session.order_id, {
    token: session.token,
    expires_at: session.expires_at || null,
    gift: Boolean(session.gift),
    locale: session.locale || null,
  });
  write(LAST, session.order_id);
}

export function get(orderId) {
  const s = read(TOKEN + orderId);
  if (!s || !s.token) return null;
  if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) return null;
  return s;
}

export function token(orderId) {
  return get(orderId)?.token || null;
}

// The session ended: forget the token but remember whether it was a gift sign-in.
export function expire(orderId) {
  const s = read(TOKEN + orderId);
  write(TOKEN + orderId, s ? { gift: Boolean(s.gift), locale: s.locale, order_number: s.order_number, expired: true } : null);
}

// Remember the order number so a new sign-in after expiry can be prefilled.
export function rememberOrderNumber(orderId, orderNumber) {
  const s = read(TOKEN + orderId);
  if (s && s.token && s.order_number !== orderNumber) write(TOKEN + orderId, { ...s, order_number: orderNumber });
}

export function orderNumberOf(orderId) {
  return read(TOKEN + orderId)?.order_number || "";
}

// A session for this order existed in this tab (it may have expired since).
export function known(orderId) {
  return Boolean(read(TOKEN + orderId));
}

export function wasGift(orderId) {
  return Boolean(read(TOKEN + orderId)?.gift);
}

export function orderLocale(orderId) {
  return read(TOKEN + (orderId || read(LAST)))?.locale || null;
}

// The order's own locale (from the order document) when the session did not carry one.
export function setOrderLocale(orderId, value) {
  const s = read(TOKEN + orderId);
  if (s && !s.locale && value) write(TOKEN + orderId, { ...s, locale: value });
}

export function signOut(orderId) {
  write(TOKEN + orderId, null);
}

// ---- the in-progress return, kept across a sign-in ----

export function loadDraft(orderId) {
  return read(DRAFT + orderId);
}

export function saveDraft(orderId, draft) {
  write(DRAFT + orderId, draft);
}

export function hasDraft(orderId) {
  const draft = read(DRAFT + orderId);
  return Boolean(draft && Object.values(draft.lines || {}).some((line) => line.selected));
}

export function clearDraft(orderId) {
  write(DRAFT + orderId, null);
}

// ---- language chosen with the switcher or ?lang= ----

export function chosenLang() {
  return read(LANG);
}

export function chooseLang(lang) {
  write(LANG, lang);
}
