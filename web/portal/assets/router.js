// Hash router: "#/orders/:orderId/returns/:rma?lang=de" -> {name, params, query}.

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

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const qi = raw.indexOf("?");
  const path = qi === -1 ? raw : raw.slice(0, qi);
  const query = Object.fromEntries(new URLSearchParams(qi === -1 ? "" : raw.slice(qi + 1)));
  return { path: path || "/", query };
}

export function buildHash(path, query = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
  const qs = params.toString();
  return `#${path}${qs ? `?${qs}` : ""}`;
}

export function createRouter(routes, onRoute) {
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
