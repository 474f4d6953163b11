// #/gift : a gift recipient signs in with order number + gift code (or postcode) + their own email.

import {
  h, t, locale,
  heading, button, field, setError, showErrorSummary, notice, backLink, orderNumberField, emailField, orderAndEmail, groupOf, setBusy,
} from "../ui.js";
import { api, errorMessage, afterSignIn, session } from "../api.js";

export default async function giftSignIn(ctx) {
  const { config, navigate, query } = ctx;
  const gift = config.gift_returns || {};
  const title = t("gift.title");
  if (!gift.enabled) {
    const node = h(
      "div",
      { class: "page page--narrow", "data-page": "gift" },
      backLink(t("common.back"), "#/"),
      heading(title),
      notice(t("gift.disabled"), { id: "gift-disabled" }),
    );
    return { title, node };
  }
  const byPostcode = gift.verify_by === "postal_code";
  const nextOrder = decodeURIComponent((query.next || "").split("/")[2] || "").split("?")[0];
  const secretId = byPostcode ? "postal-code" : "gift-code";
  const summary = h("div", { class: "summary-slot" });
  const submit = button(t("gift.submit"), { type: "submit", id: "gift-submit" });
  const form = h(
    "form",
    { id: "gift-form", class: "form", novalidate: true, "data-testid": "gift-form" },
    orderNumberField(nextOrder ? session.orderNumberOf(nextOrder) : ""),
    field({
      id: secretId,
      label: byPostcode ? t("gift.postal_code") : t("gift.gift_code"),
      hint: byPostcode ? t("gift.postal_code_hint") : t("gift.gift_code_hint"),
      control: h("input", {
        class: ["input", byPostcode ? "input--short" : "input--medium"],
        type: "text",
        name: "secret",
        autocomplete: byPostcode ? "postal-code" : "off",
        spellcheck: "false",
      }),
    }),
    emailField({ label: t("gift.email"), hint: t("gift.email_hint") }),
    submit,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const secret = form.elements.secret.value.trim();
    const missing = byPostcode ? t("gift.postal_code_missing") : t("gift.gift_code_missing");
    const entered = orderAndEmail(form, summary, [{ group: groupOf(form, secretId), value: secret, message: missing }]);
    if (!entered) return;
    const { orderNumber, email } = entered;
    setBusy(submit, true, t("signin.signing_in"));
    const body = { order_number: orderNumber, email, locale: locale() };
    body[byPostcode ? "postal_code" : "gift_code"] = secret;
    try {
      const data = await api("/portal/gift-session", { method: "POST", body });
      navigate(afterSignIn({ ...data, gift: true }, query.next), { replace: true });
    } catch (error) {
      setBusy(submit, false);
      const message = errorMessage(error, {
        401: "gift.no_match",
        429: "signin.locked_out",
        gift_returns_disabled: "gift.disabled",
      });
      if (error.status === 401) {
        setError(groupOf(form, "order-number"), message);
        showErrorSummary(summary, [{ group: groupOf(form, "order-number"), text: message }]);
      } else {
        showErrorSummary(summary, [{ text: message }]);
      }
    }
  });

  const node = h(
    "div",
    { class: "page page--narrow", "data-page": "gift" },
    backLink(t("common.back"), "#/"),
    summary,
    query.reason === "expired"
      ? notice(nextOrder && session.hasDraft(nextOrder) ? t("signin.expired_draft") : t("signin.expired"), { id: "session-expired", kind: "warning" })
      : query.reason === "signin"
        ? notice(t("signin.needed"), { id: "signin-needed" })
        : null,
    heading(title),
    h("p", { class: "lead" }, t("gift.intro")),
    h("div", { class: "inset", id: "gift-credit-note", "data-testid": "gift-credit-note" }, h("p", null, t("gift.credit_explainer")), h("p", null, t("gift.private"))),
    form,
  );
  return { title, node };
}
