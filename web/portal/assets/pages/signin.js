// #/ : sign in with order number + email.

import {
  h, t,
  heading, notice, button, setError, showErrorSummary, orderNumberField, emailField, orderAndEmail, groupOf, setBusy,
} from "../ui.js";
import { api, errorMessage, afterSignIn, session } from "../api.js";

export default async function signIn(ctx) {
  const { query, config, navigate } = ctx;
  const nextOrder = decodeURIComponent((query.next || "").split("/")[2] || "").split("?")[0];
  const summary = h("div", { class: "summary-slot" });
  const submit = button(t("signin.submit"), { type: "submit", id: "signin-submit" });
  const form = h(
    "form",
    { id: "signin-form", class: "form", novalidate: true, "data-testid": "signin-form" },
    orderNumberField(query.order || (nextOrder ? session.orderNumberOf(nextOrder) : "")),
    emailField(),
    submit,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const entered = orderAndEmail(form, summary);
    if (!entered) return;
    const { orderNumber, email } = entered;
    setBusy(submit, true, t("signin.signing_in"));
    try {
      const data = await api("/portal/session", { method: "POST", body: { order_number: orderNumber, email } });
      navigate(afterSignIn(data, query.next), { replace: true });
    } catch (error) {
      setBusy(submit, false);
      const message = errorMessage(error, { 401: "signin.no_match", 429: "signin.locked_out" });
      if (error.status === 401) {
        // The same words whether the order is unknown or the email is wrong.
        setError(groupOf(form, "order-number"), message);
        showErrorSummary(summary, [{ group: groupOf(form, "order-number"), text: message }]);
      } else {
        showErrorSummary(summary, [{ text: message }]);
      }
    }
  });

  const notices = [];
  if (query.reason === "expired") {
    const hasDraft = nextOrder && session.hasDraft(nextOrder);
    notices.push(notice(hasDraft ? t("signin.expired_draft") : t("signin.expired"), { id: "session-expired", kind: "warning" }));
  } else if (query.reason === "signin") {
    notices.push(notice(t("signin.needed"), { id: "signin-needed" }));
  }

  // Drawn with the config known now; /portal/config may still change them (they sit below the form).
  const others = h("div", null, otherWays(config));
  ctx.whenConfig((loaded) => {
    if (otherWaysKey(loaded) !== otherWaysKey(config)) others.replaceChildren(...otherWays(loaded));
  });

  const node = h(
    "div",
    { class: "page page--narrow", "data-page": "signin" },
    summary,
    ...notices,
    heading(t("signin.title")),
    h("p", { class: "lead" }, t("signin.intro")),
    form,
    others,
  );
  return { title: t("signin.title"), node };
}

function otherWaysKey(config) {
  return `${config.magic_link !== false} ${Boolean(config.gift_returns && config.gift_returns.enabled)}`;
}

// "Other ways to sign in": the emailed link and the gift return, as the config allows.
function otherWays(config) {
  const links = [];
  if (config.magic_link !== false) {
    links.push(h("li", null, h("a", { href: "#/link", id: "magic-link-link", "data-testid": "magic-link-link" }, t("signin.use_link"))));
  }
  if (config.gift_returns && config.gift_returns.enabled) {
    links.push(h("li", null, h("a", { href: "#/gift", id: "gift-link", "data-testid": "gift-link" }, t("signin.gift"))));
  }
  return links.length ? [h("h2", { class: "heading-s" }, t("signin.other_ways")), h("ul", { class: "link-list" }, links)] : [];
}
