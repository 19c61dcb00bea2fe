// A lab's page in the directory (/labs/{lab_id}, from GET /v1/labs/{lab_id}): its facts, authorizations and scope,
// status changes, signing keys, the certificates anchored per month (directory-chart.js) and its credit record.
import { $, el, gradeBadge, named, windowText } from "./common.js";
import { renderMonths } from "./directory-chart.js";
import { getJson, lang, say, scopeText, t } from "./directory-text.js";

export let lastLab = null;

export async function openLab(id) {
  $("labs-list").hidden = true;
  $("lab").hidden = true;
  say("loadingLab");
  const body = await getJson("/v1/labs/" + encodeURIComponent(id));
  say(null);
  if (!body) {
    $("labs-list").hidden = false;
    lastLab = null;
    return;
  }
  lastLab = body;
  renderLab(body);
  $("lab").scrollIntoView({ block: "start" });
}

function fact(list, key, value, attrs) {
  if (value === null || value === undefined || value === "") return;
  const dd = el("dd", attrs || {});
  if (typeof value === "string") dd.textContent = value;
  else dd.append(value);
  list.append(el("dt", { text: t(key) }), dd);
}

export function renderLab(lab) {
  $("lab").hidden = false;
  $("lab").dataset.labId = lab.lab_id;
  $("lab-name").textContent = lab.name;
  const facts = $("lab-facts");
  facts.replaceChildren();
  fact(facts, "labId", lab.lab_id, { class: "mono" });
  fact(facts, "kind", named(lab.kind, lang));
  fact(facts, "jurisdiction", String(lab.jurisdiction));
  fact(facts, "status", el("span", { class: "state state-" + lab.status.code, text: named(lab.status, lang) }), { id: "lab-status" });
  const auth = lab.authorization;
  fact(facts, "authorization", auth ? auth.number + " · " + t("validWindow", { from: auth.valid_from, until: auth.valid_until }) : t("noAuthorization"));
  fact(facts, "scope", scopeText(lab.scope));
  fact(facts, "grade", lab.credit_grade ? gradeBadge(lab.credit_grade, lang) : t("noGrade"), { id: "lab-grade-now" });
  fact(facts, "certificates", t("certificatesN", { n: lab.certificates }));
  fact(facts, "registered", t("registeredBy", { at: lab.registered.at, by: lab.registered.by_name || lab.registered.by }));
  fact(facts, "asOf", lab.as_of);

  const auths = $("lab-authorizations");
  auths.replaceChildren();
  for (const a of lab.authorizations) {
    auths.append(
      el(
        "li",
        { "data-number": a.number, "data-index": a.index },
        el("div", { class: "entry-head" }, el("span", { class: "entry-index", text: "#" + a.index }),
          el("span", { class: "entry-kind", text: a.number })),
        el("div", { text: t("validWindow", { from: a.valid_from, until: a.valid_until }) + " · " + t("recordedAt", { at: a.recorded_at }) }),
        el("div", { class: "scope", text: t("scope") + "：" + scopeText(a.scope) })
      )
    );
  }

  const statuses = $("lab-statuses");
  statuses.replaceChildren();
  for (const s of lab.statuses) {
    statuses.append(
      el(
        "li",
        { "data-status": s.status.code, "data-reason": s.reason ? String(s.reason.code) : "" },
        el("div", { class: "entry-head" }, el("span", { class: "entry-index", text: s.since }),
          el("span", { class: "state state-" + s.status.code, text: named(s.status, lang) })),
        el("div", { class: "reason-text", text: t("reason") + "：" + (s.reason ? named(s.reason, lang) : t("noReason")) }),
        el("div", { class: "hint" }, el("span", { text: t("by") + " " }), el("code", { text: s.by }))
      )
    );
  }

  const keys = $("lab-keys");
  keys.replaceChildren();
  for (const k of lab.keys) {
    let window;
    if (k.valid_until === null) window = t("keyOpen", { from: k.valid_from });
    else if (k.closed_reason !== null) window = t("keyClosed", { from: k.valid_from, until: k.valid_until, reason: k.closed_reason });
    else window = t("keyWindow", { from: k.valid_from, until: k.valid_until });
    keys.append(
      el("li", { "data-key-id": k.key_id }, el("code", { text: k.key_id }),
        el("div", { text: window + " · " + t("keyRegistered", { at: k.registered_at }) }))
    );
  }

  renderMonths(lab.certificates_per_month || {});
  renderCreditRecord(lab.credit);
}

function renderCreditRecord(credit) {
  const holder = $("lab-credit-record");
  holder.replaceChildren();
  if (!credit) {
    holder.append(el("p", { class: "hint", text: t("noCreditRecord") }));
    return;
  }
  holder.append(el("p", { id: "lab-credit-grade" }, gradeBadge(credit.grade, lang)));
  if (!credit.entries.length) {
    holder.append(el("p", { class: "hint no-entries", text: t("noEntries") }));
    return;
  }
  const inForce = new Set(credit.in_force);
  const list = el("ul", { class: "credit-entries" });
  for (const e of credit.entries) {
    const marks = [];
    if (inForce.has(e.index)) marks.push(el("span", { class: "mark-tag in-force", text: t("inForce") }));
    if (e.lifts !== null) marks.push(el("span", { class: "mark-tag", text: t("lifts", { i: e.lifts }) }));
    if (e.lifted_by !== null) marks.push(el("span", { class: "mark-tag lifted", text: t("liftedBy", { i: e.lifted_by }) }));
    const facts = el("dl", { class: "facts" });
    for (const [key, value] of [["reason", named(e.reason, lang)], ["caseNumber", e.case_number], ["effective", windowText(e, t)], ["recorded", e.recorded_at]]) {
      facts.append(el("dt", { text: t(key) }), el("dd", { text: value }));
    }
    list.append(
      el(
        "li",
        { class: "credit-entry" + (inForce.has(e.index) ? " in-force" : ""), "data-kind": e.kind.code, "data-index": e.index },
        el("div", { class: "entry-head" }, el("span", { class: "entry-index", text: "#" + e.index }),
          el("span", { class: "entry-kind", text: named(e.kind, lang) }), ...marks),
        facts
      )
    );
  }
  holder.append(list);
}

