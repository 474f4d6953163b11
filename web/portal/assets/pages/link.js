// #/link : "email me a sign-in link" (always the same answer).

import {
  h, clear, t, locale,
  heading, button, showErrorSummary, notice, backLink, orderNumberField, emailField, orderAndEmail, setBusy,
} from "../ui.js";
import { api, errorMessage } from "../api.js";

export default async function signInLink(ctx) {
  const summary = h("div", { class: "summary-slot" });
  const submit = button(t("link.submit"), { type: "submit", id: "link-submit" });
  const form = h(
    "form",
    { id: "link-form", class: "form", novalidate: true, "data-testid": "link-form" },
    orderNumberField(),
    emailField({ hint: t("link.email_hint") }),
    submit,
  );
  const body = h("div", null, h("p", { class: "lead" }, t("link.intro")), form);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const entered = orderAndEmail(form, summary);
    if (!entered) return;
    const { orderNumber, email } = entered;
    setBusy(submit, true, t("link.sending"));
    try {
      await api("/portal/session/link", { method: "POST", body: { order_number: orderNumber, email, locale: locale() } });
      clear(summary);
      clear(body);
      const title = h("h2", { class: "panel-title", id: "link-sent-title", tabindex: "-1" }, t("link.sent_title"));
      body.append(
        h(
          "div",
          { class: "panel panel--confirm", id: "link-sent", "data-testid": "link-sent", role: "status" },
          title,
          h("p", null, t("link.sent_body")),
        ),
        h("p", null, t("link.sent_help")),
        h("p", null, h("a", { href: "#/", id: "back-to-signin" }, t("link.back_to_signin"))),
      );
      title.focus();
    } catch (error) {
      setBusy(submit, false);
      showErrorSummary(summary, [{ text: errorMessage(error) }]);
    }
  });

  const node = h(
    "div",
    { class: "page page--narrow", "data-page": "link" },
    backLink(t("common.back"), "#/"),
    summary,
    heading(t("link.title")),
    ctx.config.magic_link === false ? notice(t("link.disabled")) : body,
  );
  return { title: t("link.title"), node };
}
