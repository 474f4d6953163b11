// #/signin/{token} : the emailed sign-in link lands here, is redeemed once, then opens the order.

import { h, t, heading, linkButton } from "../ui.js";
import { api, errorMessage, afterSignIn } from "../api.js";

const attempts = new Map(); // token -> promise: a re-render (language switch) must not redeem twice

export default async function redeem(ctx) {
  const { params, navigate, query } = ctx;
  if (!attempts.has(params.token)) {
    attempts.set(params.token, api("/portal/session/redeem", { method: "POST", body: { token: params.token } }));
  }
  try {
    const data = await attempts.get(params.token);
    if (ctx.isCurrent()) navigate(afterSignIn(data, query.next), { replace: true });
    return null;
  } catch (error) {
    const reason = error.reason || error.code;
    const key = {
      link_expired: "redeem.expired",
      link_used: "redeem.used",
      link_invalid: "redeem.invalid",
    }[reason];
    const text = key ? t(key) : error.status === 401 ? t("redeem.invalid") : errorMessage(error);
    const node = h(
      "div",
      { class: "page page--narrow", "data-page": "redeem" },
      heading(t("redeem.failed_title")),
      h("p", { id: "redeem-error", "data-testid": "redeem-error" }, text),
      h("div", { class: "button-group" }, linkButton(t("redeem.new_link"), "#/link", { id: "new-link" }), linkButton(t("redeem.signin"), "#/", { kind: "secondary", id: "signin-instead" })),
    );
    return { title: t("redeem.failed_title"), node };
  }
}
