// Boot: config, locale, brand, router. Page modules load on demand.

import { h, clear, append, safeUrl } from "./dom.js";
import { setLocale, preloadLocale, supported, t, locale, SUPPORTED } from "./i18n.js";
import { api, setAuthLostHandler } from "./api.js";
import * as session from "./session.js";
import { createRouter, parseHash, buildHash } from "./router.js";
import { announce } from "./ui.js";

const DEFAULT_CONFIG = {
  brand: { name: "Returns", logo_url: null, primary_color: "#1F3A5F", accent_color: "#E8A33D", support_email: null, policy_url: null },
  locales: ["en", "de"],
  default_locale: "en",
  gift_returns: { enabled: false, verify_by: "gift_code" },
  magic_link: true,
};

const routes = [
  { name: "signin", pattern: "/", load: () => import("./pages/signin.js") },
  { name: "link", pattern: "/link", load: () => import("./pages/link.js") },
  { name: "redeem", pattern: "/signin/:token", load: () => import("./pages/redeem.js") },
  { name: "gift", pattern: "/gift", load: () => import("./pages/gift.js") },
  { name: "order", pattern: "/orders/:orderId", load: () => import("./pages/order.js"), auth: true },
  { name: "start_return", pattern: "/orders/:orderId/return", load: () => import("./pages/start-return.js"), auth: true },
  { name: "return", pattern: "/orders/:orderId/returns/:rma", load: () => import("./pages/return.js"), auth: true },
  { name: "return_label", pattern: "/orders/:orderId/returns/:rma/label", load: () => import("./pages/return.js"), auth: true },
  { name: "feedback", pattern: "/feedback/:token", load: () => import("./pages/feedback.js") },
  { name: "unsubscribe", pattern: "/unsubscribe/:token", load: () => import("./pages/unsubscribe.js") },
];

const state = { config: DEFAULT_CONFIG, renderSeq: 0, firstRender: true, leave: [], current: null };
const app = document.getElementById("app");
let router;

// ---- brand ----

function hexToRgb(hex) {
  const m = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(hex || "");
  if (!m) return null;
  const v = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
  return [0, 2, 4].map((i) => parseInt(v.slice(i, i + 2), 16));
}

function luminance([r, g, b]) {
  const c = [r, g, b].map((x) => {
    const s = x / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

function contrast(a, b) {
  const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (l1 + 0.05) / (l2 + 0.05);
}

function applyBrand(brand) {
  const root = document.documentElement.style;
  const primary = hexToRgb(brand.primary_color) || hexToRgb(DEFAULT_CONFIG.brand.primary_color);
  const white = [255, 255, 255];
  const ink = [11, 12, 12];
  const rgb = (c) => `rgb(${c.join(",")})`;
  root.setProperty("--brand", rgb(primary));
  // Text on the brand colour: whichever of white or ink reads better (AA needs 4.5:1).
  root.setProperty("--brand-text", contrast(primary, white) >= contrast(primary, ink) ? "#ffffff" : "#0b0c0c");
  // The brand colour colours links and outlines only where it reads on white.
  if (contrast(primary, white) >= 4.5) root.setProperty("--link", rgb(primary));
  const accent = hexToRgb(brand.accent_color);
  if (accent) root.setProperty("--accent", rgb(accent));
}

function renderBrand() {
  const brand = state.config.brand || DEFAULT_CONFIG.brand;
  const link = document.getElementById("brand-link");
  clear(link);
  const logo = safeUrl(brand.logo_url);
  const name = brand.name || t("app.default_brand");
  if (logo) {
    const img = h("img", { class: "brand-logo", src: logo, alt: name, "data-testid": "brand-logo" });
    img.addEventListener("error", () => img.replaceWith(h("span", { id: "brand-name" }, name)));
    link.append(img);
  } else {
    link.append(h("span", { id: "brand-name", "data-testid": "brand-name" }, name));
  }
  link.setAttribute("aria-label", t("app.home_link", { name }));
  const skip = document.getElementById("skip-link");
  skip.textContent = t("app.skip");
  document.getElementById("lang-switch").setAttribute("aria-label", t("app.language"));

  const footer = document.getElementById("footer-inner");
  clear(footer);
  const items = [];
  if (brand.support_email) {
    items.push(
      h("li", null, `${t("footer.help")} `, h("a", { href: `mailto:${brand.support_email}`, id: "support-email", "data-testid": "support-email" }, brand.support_email)),
    );
  }
  const policy = safeUrl(brand.policy_url);
  if (policy) {
    items.push(h("li", null, h("a", { href: policy, id: "policy-link", "data-testid": "policy-link", rel: "noopener noreferrer" }, t("footer.policy"))));
  }
  append(footer, [
    h("h2", { class: "visually-hidden" }, t("footer.title")),
    items.length ? h("ul", { class: "footer-links" }, items) : null,
    h("p", { class: "footer-small" }, t("footer.copy", { name })),
  ]);
}

function renderLangSwitch(route) {
  const nav = document.getElementById("lang-switch");
  clear(nav);
  const names = { en: "English", de: "Deutsch" };
  const available = (state.config.locales || SUPPORTED).filter((l) => SUPPORTED.includes(l));
  const list = h("ul", { class: "lang-list" });
  for (const code of available) {
    const query = { ...route.query, lang: code };
    const current = code === locale();
    list.append(
      h(
        "li",
        null,
        h(
          "a",
          {
            href: buildHash(route.path, query),
            lang: code,
            hreflang: code,
            class: ["lang-link", current ? "lang-link--current" : null],
            "aria-current": current ? "true" : null,
            id: `lang-${code}`,
            "data-testid": `lang-${code}`,
          },
          names[code] || code,
        ),
      ),
    );
  }
  nav.append(list);
}

// ---- locale: ?lang= > switcher choice > the order's locale > browser > config default ----

function pickLocale(route) {
  const fromQuery = supported(route.query.lang);
  if (fromQuery) {
    session.chooseLang(fromQuery);
    return fromQuery;
  }
  const chosen = supported(session.chosenLang());
  if (chosen) return chosen;
  const fromOrder = supported(session.orderLocale(route.params.orderId));
  if (fromOrder) return fromOrder;
  for (const tag of navigator.languages || [navigator.language]) {
    const s = supported(tag);
    if (s) return s;
  }
  return supported(state.config.default_locale) || "en";
}

// ---- rendering ----

function titleFor(title) {
  const brand = state.config.brand?.name || t("app.default_brand");
  return title ? `${title} – ${brand}` : brand;
}

function navigate(hash, opts) {
  router.navigate(hash, opts);
}

function currentHash() {
  return location.hash || "#/";
}

function signInRedirect(orderId, reason) {
  const next = currentHash();
  const target = session.wasGift(orderId) ? "/gift" : "/";
  navigate(buildHash(target, { next, reason }), { replace: true });
}

async function onRoute(route) {
  const seq = ++state.renderSeq;
  for (const fn of state.leave.splice(0)) {
    try {
      fn();
    } catch {
      /* cleanup is best effort */
    }
  }
  state.current = route;
  const lang = pickLocale(route);
  await setLocale(lang);
  if (seq !== state.renderSeq) return;
  renderBrand();
  renderLangSwitch(route);

  if (route.route && route.route.auth && !session.token(route.params.orderId)) {
    signInRedirect(route.params.orderId, session.known(route.params.orderId) ? "expired" : "signin");
    return;
  }

  const pending = setTimeout(() => {
    if (seq === state.renderSeq) {
      clear(app);
      app.append(h("p", { class: "loading", role: "status" }, t("common.loading")));
    }
  }, 150);
  let view;
  try {
    const module = route.route ? await route.route.load() : await import("./pages/not-found.js");
    if (seq !== state.renderSeq) return;
    view = await module.default({
      ...route,
      config: state.config,
      navigate,
      isCurrent: () => seq === state.renderSeq,
      onLeave: (fn) => state.leave.push(fn),
      announce,
      refreshChrome: () => {
        renderBrand();
        renderLangSwitch(route);
      },
    });
  } catch (error) {
    if (error && error.authLost) return; // already sent to sign in
    console.error(error);
    const mod = await import("./pages/not-found.js");
    view = await mod.default({ ...route, config: state.config, failed: true, error, navigate });
  } finally {
    clearTimeout(pending);
  }
  if (!view || seq !== state.renderSeq) return;
  clear(app);
  app.append(view.node);
  document.title = titleFor(view.title);
  const focus = view.focus || app.querySelector("h1");
  if (!state.firstRender || view.focus) {
    if (focus) {
      if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1");
      focus.focus({ preventScroll: false });
      if (!view.focus) window.scrollTo(0, 0);
    }
  }
  state.firstRender = false;
  if (view.after) view.after();
}

async function boot() {
  // The skip link must not become a route change.
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    const main = document.getElementById("main-content");
    main.focus();
    main.scrollIntoView();
  });
  router = createRouter(routes, onRoute);
  // While the config loads, fetch the likely strings and the page module in parallel.
  const first = parseHash();
  const found = router.match(first.path);
  if (found) found.route.load().catch(() => {});
  preloadLocale(
    supported(first.query.lang) ||
      supported(session.chosenLang()) ||
      (navigator.languages || [navigator.language]).map(supported).find(Boolean) ||
      "en",
  );
  try {
    const config = await api("/portal/config");
    state.config = { ...DEFAULT_CONFIG, ...config, brand: { ...DEFAULT_CONFIG.brand, ...(config && config.brand) } };
  } catch {
    state.config = DEFAULT_CONFIG;
  }
  applyBrand(state.config.brand);
  setAuthLostHandler((orderId) => {
    session.expire(orderId);
    signInRedirect(orderId, "expired");
  });
  router.start();
}

export { parseHash };
boot();
