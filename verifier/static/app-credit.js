// Credit on the verifier page: the issuing lab's credit beside a report (its grade now and at issue, the sanctions in
// force at issue) and the credit lookup of a lab (its id) or an enterprise (its USCI): GET /v1/credit/{subject}.
import { $, el, gradeBadge, named, requestJson, showError, windowText } from "./common.js";
import { failed, unreachable } from "./app-fetch.js";
import { lang, say, t } from "./app-text.js";

export let lastCredit = null;

function badge(grade) {
  return gradeBadge(grade, lang, grade.code + " " + grade.zh + " / " + grade.en);
}

// One entry of a credit record; ``inForce`` null when the caller does not say (the sanctions in force at issue).
function creditEntry(e, inForce) {
  const isLifting = e.lifts !== null && e.lifts !== undefined;
  const marks = [];
  if (inForce === true) marks.push(el("span", { class: "mark-tag in-force", text: t("inForce") }));
  if (inForce === false && !isLifting && (e.lifted_by === null || e.lifted_by === undefined))
    marks.push(el("span", { class: "mark-tag", text: t("notInForce") }));
  if (isLifting) marks.push(el("span", { class: "mark-tag", text: t("lifts", { i: e.lifts }) }));
  if (e.lifted_by !== null && e.lifted_by !== undefined)
    marks.push(el("span", { class: "mark-tag lifted", text: t("liftedBy", { i: e.lifted_by }) }));
  const facts = el("dl", { class: "facts" });
  const add = (key, value, mono) => {
    if (value === null || value === undefined || value === "") return;
    facts.append(el("dt", { text: t(key) }), el("dd", { class: mono ? "mono" : null, text: String(value) }));
  };
  add("reason", named(e.reason, lang));
  add("caseNumber", e.case_number);
  add("effective", windowText(e, t));
  add("recorded", e.recorded_at);
  add("recordedBy", e.recorded_by, true);
  return el(
    "li",
    {
      class: "credit-entry" + (inForce ? " in-force" : ""),
      "data-index": e.index,
      "data-kind": e.kind.code,
      "data-case": e.case_number,
      "data-in-force": inForce === null ? null : String(inForce),
    },
    el("div", { class: "entry-head" }, el("span", { class: "entry-index", text: "#" + e.index }),
      el("span", { class: "entry-kind", text: named(e.kind, lang) }), ...marks),
    facts
  );
}

export function renderLabCredit(report) {
  const card = $("lab-credit-card");
  const holder = $("lab-credit");
  holder.replaceChildren();
  const cert = report.certificate || {};
  const credit = cert.lab_credit;
  card.hidden = !credit;
  if (!credit) return;
  const grades = el("dl", { class: "facts grades" });
  grades.append(el("dt", { text: t("gradeNow") }), el("dd", { id: "lab-grade" }, badge(credit.grade)));
  grades.append(
    el("dt", { text: t("gradeAtIssue") }),
    el("dd", { id: "lab-grade-at-issue" }, badge(credit.grade_at_issue))
  );
  holder.append(grades);
  const atIssue = credit.in_force_at_issue || [];
  holder.append(el("h4", { text: t("atIssue") }));
  if (!atIssue.length) {
    holder.append(el("p", { class: "hint none-at-issue", text: t("noneAtIssue") }));
  } else {
    const list = el("ul", { class: "credit-entries at-issue" });
    for (const e of atIssue) list.append(creditEntry(e, null));
    holder.append(list);
  }
  if (cert.lab_id) {
    const button = el("button", { type: "button", id: "lab-credit-lookup", class: "link-button", text: t("fullRecord") });
    button.addEventListener("click", () => lookupCredit(cert.lab_id));
    holder.append(button);
  }
}

export function renderCredit(answer) {
  $("credit").hidden = false;
  const holder = $("credit-body");
  holder.replaceChildren();
  const facts = el("dl", { class: "facts" });
  const add = (key, value, mono) => {
    if (value === null || value === undefined || value === "") return;
    facts.append(el("dt", { text: t(key) }), el("dd", { class: mono ? "mono" : null, text: String(value) }));
  };
  add("subject", answer.subject, true);
  add("subjectKind", named(answer.subject_kind, lang));
  add("labName", answer.lab_name);
  add("creditAsOf", answer.as_of);
  facts.append(el("dt", { text: t("grade") }), el("dd", { id: "credit-grade" }, badge(answer.grade)));
  holder.append(facts);
  const entries = answer.entries || [];
  if (!entries.length) {
    holder.append(el("p", { class: "hint no-entries", text: t("noEntries") }));
    return;
  }
  holder.append(el("h4", { text: t("entries", { n: entries.length }) }));
  const inForce = new Set(answer.in_force || []);
  const list = el("ul", { class: "credit-entries" });
  for (const e of entries) list.append(creditEntry(e, inForce.has(e.index)));
  holder.append(list);
}

// The credit record of a lab (its id) or an enterprise (its USCI): GET /v1/credit/{subject}.
export async function lookupCredit(raw) {
  const subject = (raw || "").trim();
  if (!subject) {
    showError(t("needSubject"), "REQUEST_INVALID");
    return;
  }
  $("credit-input").value = subject;
  showError(null);
  say("creditLooking");
  const answer = await requestJson("/v1/credit/" + encodeURIComponent(subject), { headers: { Accept: "application/json" } });
  if (!answer) {
    unreachable();
    return;
  }
  const { response, body } = answer;
  if (!response.ok || !body || !body.grade) {
    failed(response, body);
    return;
  }
  lastCredit = body;
  renderCredit(body);
  say("creditDone");
  $("credit").scrollIntoView({ block: "start" });
}
