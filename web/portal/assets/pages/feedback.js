// #/feedback/{token} : the satisfaction survey from the email (rating 1-5 + comment).

import { h, clear, t, heading, radios, field, button, setError, clearError, showErrorSummary, setBusy } from "../ui.js";
import { api, errorMessage } from "../api.js";

export default async function feedback(ctx) {
  const { params } = ctx;
  const title = t("feedback.title");
  const summary = h("div", { class: "summary-slot" });
  const ratingGroup = radios({
    id: "rating",
    name: "rating",
    legend: t("feedback.rating"),
    legendClass: "legend--m",
    hint: t("feedback.rating_hint"),
    options: [5, 4, 3, 2, 1].map((n) => ({ value: String(n), label: t(`feedback.rating_${n}`), testid: `rating-${n}` })),
  });
  const comment = h("textarea", { class: "textarea", name: "comment", rows: "5", maxlength: "1000", "data-testid": "feedback-comment" });
  const commentGroup = field({ id: "feedback-comment", label: t("feedback.comment"), hint: t("feedback.comment_hint"), optional: true, control: comment });
  const submit = button(t("feedback.submit"), { type: "submit", id: "feedback-submit" });
  const form = h("form", { id: "feedback-form", class: "form", novalidate: true, "data-testid": "feedback-form" }, ratingGroup, commentGroup, submit);
  const body = h("div", null, h("p", { class: "lead" }, t("feedback.intro")), form);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(ratingGroup);
    const chosen = form.querySelector('input[name="rating"]:checked');
    if (!chosen) {
      setError(ratingGroup, t("feedback.rating_missing"));
      showErrorSummary(summary, [{ group: ratingGroup, text: t("feedback.rating_missing") }]);
      return;
    }
    setBusy(submit, true, t("common.please_wait"));
    const payload = { token: params.token, rating: Number(chosen.value) };
    if (comment.value.trim()) payload.comment = comment.value.trim();
    try {
      await api("/portal/feedback", { method: "POST", body: payload });
      clear(summary);
      clear(body);
      const done = h("h2", { class: "panel-title", id: "feedback-thanks-title", tabindex: "-1" }, t("feedback.thanks_title"));
      body.append(h("div", { class: "panel panel--confirm", id: "feedback-thanks", "data-testid": "feedback-thanks" }, done, h("p", null, t("feedback.thanks_body"))));
      done.focus();
    } catch (error) {
      setBusy(submit, false);
      const text = errorMessage(error, { 401: "feedback.link_invalid", 404: "feedback.link_invalid" });
      showErrorSummary(summary, [{ text }]);
    }
  });

  const node = h("div", { class: "page page--narrow", "data-page": "feedback" }, summary, heading(title), body);
  return { title, node };
}
