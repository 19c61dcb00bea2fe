// The verdict of a report and what it rests on: the verdict box, the reasons, the certificate's facts, its anchor on
// the chain and every check by family; the issuing lab's credit (app-credit.js) and the traceability chain
// (app-trace.js) beside them. Text from a report only ever goes into textContent.
import { $, el } from "./common.js";
import { renderLabCredit } from "./app-credit.js";
import { lang, t, table } from "./app-text.js";
import { renderTrace } from "./app-trace.js";

const FAMILY_ORDER = ["integrity", "identity", "authorization", "kind", "dates", "lifecycle", "traceability", "people"];

function verdictClass(report) {
  if (report.verdict === "VALID") return "valid";
  if (report.verdict === "VALID_WITH_WARNINGS") return "warn";
  return "invalid";
}

function verdictLabel(report) {
  if (report.unknown) return t("UNKNOWN");
  return t(report.verdict);
}

function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const d = new Date(seconds * 1000);
  const parts = new Intl.DateTimeFormat("sv-SE", {
    timeZone: "Asia/Shanghai",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hour12: false,
  }).format(d);
  return parts + " (UTC+8)";
}

export function render(report) {
  $("result").hidden = false;
  $("result").classList.remove("cannot");
  const cls = verdictClass(report);
  const box = $("verdict");
  box.className = "verdict " + cls;
  box.dataset.verdict = report.verdict;
  box.dataset.unknown = report.unknown ? "true" : "false";
  $("verdict-icon").textContent = cls === "valid" ? "✔" : cls === "warn" ? "!" : "✘";
  $("verdict-title").textContent = verdictLabel(report);
  $("verdict-meaning").textContent = report.unknown ? t("unknownSub") : t("meaning_" + report.verdict);
  const cert = report.certificate || {};
  const sub = [];
  if (cert.certificate_number) sub.push(table("kinds", cert.kind) + " " + cert.certificate_number);
  sub.push(t("asOf") + " " + formatTime(report.as_of));
  $("verdict-sub").textContent = sub.join(" · ");

  renderSummary(report);
  renderReasons(report);
  renderCertificate(report);
  renderAnchor(report);
  renderLabCredit(report);
  renderTrace(report.trace, report.verdict);
  renderChecks(report.checks || []);
}

// No verdict could be had (the service refused, failed or could not be reached; the digest in the link is not
// one): said as such, never as "invalid", and nothing else of an earlier report stays on the page.
export function renderCannotVerify() {
  $("result").hidden = false;
  $("result").classList.add("cannot");
  const box = $("verdict");
  box.className = "verdict unknown";
  box.dataset.verdict = "CANNOT_VERIFY";
  box.dataset.unknown = "false";
  $("verdict-icon").textContent = "?";
  $("verdict-title").textContent = t("CANNOT_VERIFY");
  $("verdict-meaning").textContent = t("meaning_CANNOT_VERIFY");
  $("verdict-facts").replaceChildren();
  $("verdict-sub").textContent = "";
}

// What a person holding the instrument asks first, inside the verdict box: which instrument, whose, from which
// lab, valid until when (a date as the certificate states it).
function renderSummary(report) {
  const list = $("verdict-facts");
  list.replaceChildren();
  if (report.unknown) return;
  const c = report.certificate || {};
  const item = c.item || {};
  const dates = c.dates || {};
  fact(list, "item", item.name);
  fact(list, "category_code", (lang === "zh" ? item.category_zh : item.category_en) || item.category_code);
  fact(list, "model", item.model);
  fact(list, "serial_number", item.serial_number);
  fact(list, "owner", (c.customer || {}).name);
  fact(list, "lab", c.lab_name_on_chain || c.lab_name);
  fact(list, "valid_until", dates.valid_until || (c.kind ? t("notStated") : null));
}

// A check's name comes with the report, from the one catalog (tracecert/verification/report.py).
function checkName(c) {
  return (c.name && c.name[lang]) || c.code;
}

// The detail in the page's language: the Chinese page never shows the English detail.
function detailOf(c) {
  return lang === "zh" ? c.detail_zh || "" : c.detail || "";
}

function renderReasons(report) {
  const list = $("reasons");
  list.replaceChildren();
  const reasons = report.reasons || [];
  if (!reasons.length) {
    list.append(el("li", { class: "reason ok", text: t("noReasons") }));
  }
  for (const r of reasons) {
    const sev = r.severity === "ERROR" ? "error" : "warning";
    list.append(
      el(
        "li",
        { class: "reason " + sev, "data-code": r.code },
        el("span", { class: "badge " + sev, text: t(r.severity) }),
        el("span", { class: "check-name", text: checkName(r) }),
        el("code", { class: "code", text: r.code }),
        el("span", { class: "msg", text: lang === "zh" ? r.zh : r.en }),
        detailOf(r) ? el("span", { class: "detail", text: detailOf(r) }) : null
      )
    );
  }
  if (report.replaced_by) {
    list.append(
      el(
        "li",
        { class: "reason replaced" },
        el("span", { text: t("replacedBy") + " " }),
        el("a", { href: "/c/" + report.replaced_by, class: "mono", text: report.replaced_by })
      )
    );
  }
}

function fact(list, key, value, mono) {
  if (value === null || value === undefined || value === "") return;
  list.append(el("dt", { text: table("fields", key) }), el("dd", { class: mono ? "mono" : null, text: String(value) }));
}

function renderCertificate(report) {
  const list = $("certificate");
  list.replaceChildren();
  const c = report.certificate || {};
  const item = c.item || {};
  const dates = c.dates || {};
  fact(list, "kind", c.kind ? table("kinds", c.kind) : null);
  fact(list, "certificate_number", c.certificate_number);
  fact(list, "lab", c.lab_name_on_chain || c.lab_name);
  fact(list, "lab_kind", c.lab_kind ? table("labKinds", c.lab_kind) : null);
  fact(list, "item", [item.name, item.model].filter(Boolean).join(" "));
  fact(list, "serial_number", item.serial_number);
  fact(list, "category_code", (lang === "zh" ? item.category_zh : item.category_en) || item.category_code);
  fact(list, "method", c.method);
  if (dates.performance_begin) {
    const span =
      dates.performance_end && dates.performance_end !== dates.performance_begin
        ? dates.performance_begin + " – " + dates.performance_end
        : dates.performance_begin;
    fact(list, "performance", span);
  }
  fact(list, "issue_date", dates.issue_date);
  fact(list, "valid_until", dates.valid_until);
  fact(list, "conclusion", c.conclusion ? table("conclusions", c.conclusion) : null);
  fact(list, "digest", report.digest, true);
}

function renderAnchor(report) {
  const list = $("anchor");
  list.replaceChildren();
  const a = report.anchor || {};
  fact(list, "chain_id", a.chain_id);
  fact(list, "block_number", a.block_number);
  fact(list, "block_timestamp", a.block_timestamp ? formatTime(a.block_timestamp) : null);
  fact(list, "batch_index", a.batch_index);
  fact(list, "leaf_index", a.leaf_index);
  fact(list, "root", a.root, true);
  fact(list, "contract", a.contract, true);
}

function renderChecks(checks) {
  const root = $("checks");
  root.replaceChildren();
  const byFamily = new Map();
  for (const c of checks) {
    if (!byFamily.has(c.family)) byFamily.set(c.family, []);
    byFamily.get(c.family).push(c);
  }
  const families = [...byFamily.keys()].sort((a, b) => rank(a) - rank(b));
  for (const family of families) {
    const items = byFamily.get(family);
    const failed = items.filter((c) => c.outcome === "FAIL").length;
    const group = el(
      "section",
      { class: "family" + (failed ? " has-fail" : ""), "data-family": family },
      el("h4", { text: table("families", family) + (failed ? " — " + failed + " " + t("FAIL") : "") })
    );
    const list = el("ul", { class: "check-list" });
    for (const c of items) {
      const outcome = c.outcome;
      const sev = outcome === "FAIL" ? (c.severity === "WARNING" ? "warning" : "error") : outcome === "PASS" ? "pass" : "skip";
      const name = checkName(c);
      list.append(
        el(
          "li",
          { class: "check " + sev, "data-code": c.code, "data-outcome": outcome },
          el("span", { class: "mark", "aria-hidden": "true", text: outcome === "PASS" ? "✔" : outcome === "FAIL" ? "✘" : "–" }),
          el("span", { class: "status-text", text: t(outcome) }),
          el("span", { class: "check-name", text: name }),
          el("code", { class: "code", text: c.code }),
          c.message ? el("span", { class: "msg", text: lang === "zh" ? c.message.zh : c.message.en }) : null,
          detailOf(c) ? el("span", { class: "detail", text: detailOf(c) }) : null
        )
      );
    }
    group.append(list);
    root.append(group);
  }
}

function rank(family) {
  const i = FAMILY_ORDER.indexOf(family);
  return i < 0 ? 99 : i;
}
