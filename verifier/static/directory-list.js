// The lab directory's list (/labs): its filters (kept in the address), GET /v1/labs and the table of labs, each
// lab's name a link to its page (directory-lab.js).
import { $, el, gradeBadge, named } from "./common.js";
import { openLab } from "./directory-lab.js";
import { getJson, lang, say, scopeText, t } from "./directory-text.js";

const FILTERS = ["jurisdiction", "kind", "status", "category", "expiring_within_days"];
const FIELD = {
  jurisdiction: "f-jurisdiction",
  kind: "f-kind",
  status: "f-status",
  category: "f-category",
  expiring_within_days: "f-expiring",
};

export let lastList = null;

export function filtersFrom(params) {
  for (const name of FILTERS) $(FIELD[name]).value = params.get(name) || "";
}

export function queryOfForm() {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = $(FIELD[name]).value.trim();
    if (value) params.set(name, value);
  }
  const asOf = new URLSearchParams(location.search).get("as_of");
  if (asOf) params.set("as_of", asOf);
  const text = params.toString();
  return text ? "?" + text : "";
}

export async function loadList(query) {
  $("lab").hidden = true;
  $("labs-list").hidden = false;
  say("loading");
  const body = await getJson("/v1/labs" + query);
  if (!body) {
    say(null);
    $("labs-table").replaceChildren();
    lastList = null;
    return;
  }
  lastList = body;
  renderList(body);
}

export function renderList(body) {
  say("listed", { n: body.count, at: body.as_of });
  const holder = $("labs-table");
  holder.replaceChildren();
  if (!body.labs.length) {
    holder.append(el("p", { class: "hint no-labs", text: t("none") }));
    return;
  }
  const head = el("tr");
  for (const key of ["colName", "colKind", "colJurisdiction", "colStatus", "colAuthorization", "colScope",
    "colCertificates", "colGrade"]) head.append(el("th", { scope: "col", text: t(key) }));
  const rows = el("tbody");
  for (const lab of body.labs) {
    const link = el("a", { href: "/labs/" + lab.lab_id, class: "lab-link", text: lab.name });
    link.addEventListener("click", (e) => {
      if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
      e.preventDefault();
      history.pushState({}, "", "/labs/" + lab.lab_id);
      openLab(lab.lab_id);
    });
    const auth = lab.authorization;
    rows.append(
      el(
        "tr",
        { "data-lab-id": lab.lab_id, "data-status": lab.status.code, "data-kind": lab.kind.code },
        el("td", {}, link),
        el("td", { text: named(lab.kind, lang) }),
        el("td", { class: "num", text: String(lab.jurisdiction) }),
        el("td", { class: "state state-" + lab.status.code, text: named(lab.status, lang) }),
        el("td", { text: auth ? t("authUntil", { number: auth.number, until: auth.valid_until }) : t("noAuthorization") }),
        el("td", { text: scopeText(lab.scope) }),
        el("td", { class: "num", text: String(lab.certificates) }),
        el("td", {}, lab.credit_grade ? gradeBadge(lab.credit_grade, lang) : el("span", { class: "hint", text: t("noGrade") }))
      )
    );
  }
  holder.append(el("table", { class: "data labs" }, el("thead", {}, head), rows));
}
