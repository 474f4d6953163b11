// Strings and formatting. Only the active locale's file is loaded.

const LOADERS = {
  en: () => import("./i18n/en.js"),
  de: () => import("./i18n/de.js"),
};

export const SUPPORTED = Object.keys(LOADERS);
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

// Start loading a locale's strings early (boot does this while /portal/config is in flight).
export function preloadLocale(tag) {
  const code = supported(tag);
  if (code) LOADERS[code]().catch(() => {});
}

export async function setLocale(tag) {
  const next = supported(tag) || "en";
  if (next !== current || !Object.keys(strings).length) {
    const mod = await LOADERS[next]();
    strings = mod.default;
    current = next;
  }
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
