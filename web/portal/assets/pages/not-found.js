// Unknown routes, and pages that failed to load.

import { h, t, heading, linkButton, button } from "../ui.js";
import { errorMessage } from "../api.js";

export default async function notFound(ctx) {
  const failed = Boolean(ctx.failed);
  const title = failed ? t("failed.title") : t("not_found.title");
  const node = h(
    "div",
    { class: "page page--narrow", "data-page": failed ? "failed" : "not-found" },
    heading(title),
    h("p", { id: "failure-text" }, failed ? (ctx.error ? errorMessage(ctx.error) : t("failed.body")) : t("not_found.body")),
    h("div", { class: "button-group" }, failed ? button(t("failed.retry"), { id: "retry", onClick: () => ctx.navigate(location.hash || "#/") }) : null, linkButton(t("not_found.signin"), "#/", { kind: failed ? "secondary" : "primary", id: "go-signin" })),
  );
  return { title, node };
}
