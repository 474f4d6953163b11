// Boot: the hash router, the header and footer (brand from /portal/config), locale choice, page
// rendering, focus + document.title on every route change. Page modules load on demand.
//
// The first page does not wait for /portal/config: it renders with the default brand and the
// config restyles the header and footer when it arrives (routes marked `needsConfig` wait for it;
// web/portal/README.md, first load).
// A route's `strings` names the parts of the strings it needs besides the main part (ui.js).

import { h, clear, append, safeUrl, setLocale, supported, t, locale, SUPPORTED, announce } from "./ui.js";
import { api, setAuthLostHandler, session } from "./api.js";

const DEFAULT_CONFIG = {
  brand: { name: "Returns", logo_url: null, primary_color: "#1F3A5F", accent_color: "#E8A33D", support_email: null, policy_url: null },
  locales: ["en", "de"],
  default_locale: "en",
  gift_returns: { enabled: false, verify_by: "gift_code" },
  magic_link: true,
};

const routes = [
  { name: "signin", pattern: "/", load: () => import("./pages/signin.js") },
  { name: "link", pattern: "/link", load: () => import("./pages/link.js"), needsConfig: true },
  { name: "redeem", pattern: "/signin/:token", load: () => import("./pages/redeem.js") },
  { name: "gift", pattern: "/gift", load: () => import("./pages/gift.js"), needsConfig: true },
  { name: "order", pattern: "/orders/:orderId", load: () => import("./pages/order.js"), auth: true, strings: ["orders"] },
  { name: "start_return", pattern: "/orders/:orderId/return", load: () => import("./pages/start-return.js"), auth: true, strings: ["orders"] },
  { name: "return", pattern: "/orders/:orderId/returns/:rma", load: () => import("./pages/return.js"), auth: true, strings: ["orders"] },
  { name: "return_label", pattern: "/orders/:orderId/returns/:rma/label", load: () => import("./pages/return.js"), auth: true, strings: ["orders"] },
  { name: "feedback", pattern: "/feedback/:token", load: () => import("./pages/feedback.js") },
  { name: "unsubscribe", pattern: "/unsubscribe/:token", load: () => import("./pages/unsubscribe.js") },
];

const state = {
  config: DEFAULT_CONFIG,
  configRequested: false,
  configLoaded: null, // a promise of the config (DEFAULT_CONFIG if it cannot be loaded)
  chromeShown: false, // header and footer rendered in the current language
  renderSeq: 0,
  firstRender: true,
  leave: [],
  current: null,
  title: null, // the current page's own title
};
const app = document.getElementById("app");
let router;

// ---- hash router: "#/orders/:orderId/returns/:rma?lang=de" -> {name, params, query} ----

function compile(pattern) {
  const keys = [];
  const source = pattern
    .split("/")
    .map((part) => {
      if (part.startsWith(":")) {
        keys.push(part.slice(1));
        return "([^/]+)";
      }
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { regex: new RegExp(`^${source}/?$`), keys };
}

function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const qi = raw.indexOf("?");
  const path = qi === -1 ? raw : raw.slice(0, qi);
  const query = Object.fromEntries(new URLSearchParams(qi === -1 ? "" : raw.slice(qi + 1)));
  return { path: path || "/", query };
}

function buildHash(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
  const qs = params.toString();
  return `#${path}${qs ? `?${qs}` : ""}`;
}

function createRouter(routes, onRoute) {
  const compiled = routes.map((route) => ({ ...route, ...compile(route.pattern) }));

  function match(path) {
    for (const route of compiled) {
      const m = route.regex.exec(path);
      if (m) {
        const params = {};
        route.keys.forEach((key, i) => {
          try {
            params[key] = decodeURIComponent(m[i + 1]);
          } catch {
            params[key] = m[i + 1];
          }
        });
        return { route, params };
      }
    }
    return null;
  }

  let shown = null; // the hash last rendered
  let soon = false;
  function resolveSoon() {
    if (soon) return;
    soon = true;
    setTimeout(() => {
      soon = false;
      resolve();
    }, 0);
  }

  function resolve() {
    // In-page anchors (e.g. "#field-id" from an error summary) are not routes.
    if (location.hash && !location.hash.startsWith("#/")) return;
    shown = location.hash;
    const { path, query } = parseHash();
    const found = match(path);
    onRoute({
      name: found ? found.route.name : "not_found",
      route: found ? found.route : null,
      params: found ? found.params : {},
      query,
      path,
    });
  }

  return {
    match,
    start() {
      window.addEventListener("hashchange", resolve);
      // Opening the very URL already shown (the address bar, a link to the current page) fires
      // no hashchange: render the page again, as a reload would.
      window.addEventListener("popstate", () => {
        if (location.hash === shown) resolveSoon();
      });
      if (window.navigation && typeof window.navigation.addEventListener === "function") {
        window.navigation.addEventListener("navigate", (event) => {
          try {
            if (new URL(event.destination.url).href === location.href) setTimeout(() => location.hash === shown && resolveSoon(), 0);
          } catch {
            /* hashchange covers every other case */
          }
        });
      }
      resolve();
    },
    navigate(hash, { replace = false } = {}) {
      if (hash === location.hash) {
        resolve();
      } else if (replace) {
        history.replaceState(null, "", hash);
        resolve();
      } else {
        location.hash = hash;
      }
    },
    reload: resolve,
  };
}

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

// null when only the config's default can tell.
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
  return null;
}

async function localeFor(route) {
  const picked = pickLocale(route);
  if (picked) return picked;
  await requestConfig();
  return supported(state.config.default_locale) || "en";
}

// ---- the config: asked for once the first page has rendered (or while it loads its data), or
// before that by a route or a locale that needs it ----

let configArrived; // resolves state.configLoaded

function requestConfig() {
  if (!state.configRequested) {
    state.configRequested = true;
    loadConfig().then((config) => {
      useConfig(config);
      configArrived(config);
    });
  }
  return state.configLoaded;
}

async function loadConfig() {
  try {
    const config = await api("/portal/config");
    return { ...DEFAULT_CONFIG, ...config, brand: { ...DEFAULT_CONFIG.brand, ...(config && config.brand) } };
  } catch {
    return DEFAULT_CONFIG;
  }
}

function useConfig(config) {
  state.config = config;
  applyBrand(config.brand);
  if (!state.chromeShown) return; // the first route renders the chrome with it
  renderChrome(state.current);
  // The brand name is part of the title; keep an "Error: " prefix the page may have added.
  const prefix = `${t("form.error_prefix")} `;
  document.title = (document.title.startsWith(prefix) ? prefix : "") + titleFor(state.title);
}

// ---- rendering ----

function renderChrome(route) {
  renderBrand();
  renderLangSwitch(route);
  state.chromeShown = true;
}

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

function leavePage() {
  for (const fn of state.leave.splice(0)) {
    try {
      fn();
    } catch {
      /* cleanup is best effort */
    }
  }
}

// The page module and, for pages that need it, the config.
async function loadPage(route) {
  const load = route.route ? route.route.load : () => import("./pages/not-found.js");
  const [module] = await Promise.all([load(), route.route?.needsConfig ? requestConfig() : null]);
  return module;
}

async function onRoute(route) {
  const seq = ++state.renderSeq;
  leavePage();
  state.current = route;
  const signedOut = route.route && route.route.auth && !session.token(route.params.orderId);
  // The page module loads while the strings do.
  const page = signedOut ? null : loadPage(route);
  page?.catch(() => {}); // awaited below
  await setLocale(await localeFor(route), signedOut ? [] : route.route?.strings);
  if (seq !== state.renderSeq) return;
  if (signedOut) {
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
    const module = await page;
    if (seq !== state.renderSeq) return;
    setTimeout(requestConfig); // once this page has rendered, or while it loads its data
    renderChrome(route); // with the page module, so that a first load lays out once
    view = await module.default({
      ...route,
      config: state.config,
      // fn(config) once /portal/config has loaded, while this page is still shown.
      whenConfig: (fn) => state.configLoaded.then((config) => seq === state.renderSeq && fn(config)),
      navigate,
      isCurrent: () => seq === state.renderSeq,
      onLeave: (fn) => state.leave.push(fn),
      announce,
      refreshChrome: () => renderChrome(route),
    });
  } catch (error) {
    if (error && error.authLost) return; // already sent to sign in
    console.error(error);
    setTimeout(requestConfig);
    renderChrome(route);
    const mod = await import("./pages/not-found.js");
    view = await mod.default({ ...route, config: state.config, failed: true, error, navigate });
  } finally {
    clearTimeout(pending);
  }
  if (!view || seq !== state.renderSeq) return;
  show(view);
}

function show(view) {
  clear(app);
  app.append(view.node);
  state.title = view.title;
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

function boot() {
  // The skip link must not become a route change.
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    const main = document.getElementById("main-content");
    main.focus();
    main.scrollIntoView();
  });
  setAuthLostHandler((orderId) => {
    session.expire(orderId);
    signInRedirect(orderId, "expired");
  });
  router = createRouter(routes, onRoute);
  state.configLoaded = new Promise((resolve) => {
    configArrived = resolve;
  });
  router.start();
}

boot();
