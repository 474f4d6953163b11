// #/unsubscribe/{token} : explains, and the button POSTs /portal/unsubscribe?token=...

import { h, clear, t, heading, button, notice, setBusy } from "../ui.js";
import { api, errorMessage } from "../api.js";

export default async function unsubscribe(ctx) {
  const { params } = ctx;
  const title = t("unsubscribe.title");
  const result = h("div", { id: "unsubscribe-result", "data-testid": "unsubscribe-result" });
  const submit = button(t("unsubscribe.button"), { id: "unsubscribe-submit" });
  const body = h("div", null, h("p", { class: "lead" }, t("unsubscribe.intro")), h("p", null, t("unsubscribe.portal_still")), submit);

  submit.addEventListener("click", async () => {
    setBusy(submit, true, t("common.please_wait"));
    clear(result);
    try {
      const data = await api(`/portal/unsubscribe?token=${encodeURIComponent(params.token)}`, { method: "POST" });
      clear(body);
      const done = h("h2", { class: "panel-title", id: "unsubscribed-title", tabindex: "-1" }, t("unsubscribe.done_title"));
      const channel = data && data.channel === "sms" ? "sms" : "email";
      body.append(h("div", { class: "panel panel--confirm", id: "unsubscribed", "data-testid": "unsubscribed", "data-channel": channel }, done, h("p", null, t(`unsubscribe.done_${channel}`))));
      done.focus();
    } catch (error) {
      setBusy(submit, false);
      const box = notice(errorMessage(error, { 401: "unsubscribe.link_invalid" }), { kind: "error", id: "unsubscribe-error" });
      box.setAttribute("tabindex", "-1");
      result.append(box);
      box.focus();
    }
  });

  const node = h("div", { class: "page page--narrow", "data-page": "unsubscribe" }, heading(title), result, body);
  return { title, node };
}
