// Bulk verification (批量核验): a ZIP, a CSV of digests or numbers, several files or a folder, posted to
// POST /v1/reports; the job polled (GET /v1/reports/{id}, every 500 ms) with a progress bar until it is done or
// failed; then the count per verdict, a row per certificate (the verdict by name and colour, the reasons by name,
// the certificate number, lab, instrument and valid-until date) and the report files (CSV, JSON, HTML) as links to
// GET /v1/reports/{id}?format=. A row names its failed checks by code; what each means (its severity and failure,
// zh/en) comes from the check catalog, GET /v1/checks, asked once. A refusal is said by its code and, on the
// Chinese page, in Chinese. Text from the service only ever goes into textContent.
import { $, el, errorOf } from "./common.js";
import { withAsOf } from "./app-fetch.js";
import { lang, t, table } from "./app-text.js";

const POLL_MS = 500;
const FORMATS = ["csv", "json", "html"];
const VERDICT_ORDER = ["VALID", "VALID_WITH_WARNINGS", "INVALID", "UNKNOWN", "ERROR"];
const VERDICT_CLASS = { VALID: "valid", VALID_WITH_WARNINGS: "warn", INVALID: "invalid", UNKNOWN: "invalid" };

let job = null; // the job as last answered ({id, status, done, total, summary, rows, files, error})
let uploading = 0; // files being uploaded (before the job is answered)
let refusal = null; // {err, retry}: the upload or a poll was refused (err null: the service cannot be reached);
//                     {key, code}: the page refused it itself (a folder without a file to verify)
let generation = 0; // a new upload stops the polling of the one before
let catalog = null; // code → the check catalog's entry {severity, name, failure}, once asked for

// ------------------------------------------------------------------ requests

// A GET or POST without marking the page busy (polling would make the page's status line flicker): {response,
// body}, body null when it is not JSON; null when the service cannot be reached.
async function fetchJson(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    return null;
  }
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  return { response: response, body: body };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Sends ``files`` (a ZIP, a CSV, certificate files) as one job and follows it until it is done or failed.
async function upload(files) {
  const mine = ++generation;
  job = null;
  refusal = null;
  uploading = files.length;
  render();
  const form = new FormData();
  for (const f of files) form.append("file", f, f.webkitRelativePath || f.name);
  const answer = await fetchJson(withAsOf("/v1/reports"), { method: "POST", body: form });
  if (mine !== generation) return;
  uploading = 0;
  if (!answer || answer.response.status !== 202 || !answer.body || !answer.body.id) {
    refuse(answer);
    return;
  }
  if (answer.body.status === "done") await loadCatalog();
  if (mine !== generation) return;
  job = answer.body;
  render();
  while (job.status === "running") {
    await sleep(POLL_MS);
    if (mine !== generation) return;
    const polled = await fetchJson("/v1/reports/" + encodeURIComponent(job.id), {
      headers: { Accept: "application/json" },
    });
    if (mine !== generation) return;
    if (!polled || !polled.response.ok || !polled.body || !polled.body.status) {
      refuse(polled);
      return;
    }
    if (polled.body.status === "done") await loadCatalog();
    if (mine !== generation) return;
    job = polled.body;
    render();
  }
}

// The check catalog (GET /v1/checks), asked once: without it a reason is said by its check's name alone.
async function loadCatalog() {
  if (catalog) return;
  const answer = await fetchJson("/v1/checks", { headers: { Accept: "application/json" } });
  if (answer && answer.response.ok && answer.body && Array.isArray(answer.body.checks)) {
    catalog = new Map(answer.body.checks.map((c) => [c.code, c]));
  }
}

function refuse(answer) {
  uploading = 0;
  refusal = answer
    ? { err: errorOf(answer.response, answer.body), retry: answer.response.headers.get("Retry-After") }
    : { err: null, retry: null };
  render();
}

// What is uploaded from a folder: its files, without the hidden ones (.DS_Store, __MACOSX/...), as a ZIP's are.
function visible(files) {
  return files.filter((f) => !(f.webkitRelativePath || f.name).split("/").some((p) => p.startsWith(".") || p === "__MACOSX"));
}

// ------------------------------------------------------------------ what is shown

// A refusal or a failed job: "Request failed — CODE：its Chinese text" on the Chinese page (the service's own
// message is English), "— CODE: message" on the English one.
function errorText(err, retry, prefix) {
  if (!err) return t("network");
  const zh = lang === "zh" ? table("errors", err.code) : null;
  let message = prefix + " — " + err.code + (zh && zh !== err.code ? "：" + zh : ": " + err.message);
  if (retry) message += " " + t("retryAfter", { s: retry });
  return message;
}

function showBulkError(message, code) {
  const box = $("bulk-error");
  box.hidden = !message;
  box.textContent = message || "";
  if (code) box.dataset.code = code;
  else box.removeAttribute("data-code");
}

// A verdict of a report row by its name: 有效, 有效（有警告）, 无效, 无效：未知证书, 无法核验 (ERROR, or no verdict).
function verdictName(verdict) {
  return VERDICT_CLASS[verdict] ? t(verdict) : t("CANNOT_VERIFY");
}

function verdictClass(verdict) {
  return VERDICT_CLASS[verdict] || "unknown";
}

// A row's reasons, each {code, name, severity}: a verified row's are "CODE 中文名 / English name; ..." (said by
// what their failure means, from the catalog, else by the check's name); an ERROR row's is "CODE: message" (said by
// the code's Chinese text on the Chinese page).
function reasonsOf(row) {
  const text = row.reasons || "";
  if (!text) return [];
  if (!VERDICT_CLASS[row.verdict]) {
    const m = text.match(/^([A-Z][A-Z0-9_]*): ?([\s\S]*)$/);
    const code = m ? m[1] : "";
    if (lang !== "zh") return [{ code: code, name: m ? m[2] : text }];
    const zh = code ? table("errors", code) : "";
    return [{ code: code, name: zh && zh !== code ? zh : t("bulkUnreadable") }];
  }
  return text.split("; ").map((part) => {
    const m = part.match(/^(\S+) (.*) \/ (.*)$/);
    if (!m) return { code: "", name: part };
    const spec = catalog ? catalog.get(m[1]) : null;
    const name = lang === "zh" ? m[2] : m[3];
    if (!spec || !spec.failure) return { code: m[1], name: name, title: null, severity: null };
    return { code: m[1], name: spec.failure[lang] || spec.failure.zh, title: name, severity: spec.severity };
  });
}

function render() {
  const section = $("bulk");
  section.dataset.status = uploading ? "uploading" : refusal ? "refused" : job ? job.status : "";
  if (job) section.dataset.reportId = job.id;
  else section.removeAttribute("data-report-id");

  const status = $("bulk-status");
  if (uploading) status.textContent = t("bulkUploading", { n: uploading });
  else if (job && job.status === "running" && !refusal) status.textContent = t("bulkRunning");
  else if (job && job.status === "done") status.textContent = t("bulkDone", { n: job.total });
  else status.textContent = "";

  if (refusal && refusal.key) showBulkError(t(refusal.key), refusal.code);
  else if (refusal) showBulkError(errorText(refusal.err, refusal.retry, t("errorPrefix")), refusal.err && refusal.err.code);
  else if (job && job.status === "failed" && job.error) showBulkError(errorText(job.error, null, t("bulkFailed")), job.error.code);
  else showBulkError(null);

  const progressBox = $("bulk-progress-box");
  progressBox.hidden = !job;
  if (job) {
    const bar = $("bulk-progress");
    bar.max = Math.max(job.total, 1);
    bar.value = job.done;
    bar.dataset.done = job.done;
    bar.dataset.total = job.total;
    $("bulk-progress-text").textContent = t("bulkProgress", { done: job.done, total: job.total });
  }

  const done = !!job && job.status === "done" && Array.isArray(job.rows);
  $("bulk-result").hidden = !done;
  if (!done) return;
  renderSummary(job);
  renderFiles(job);
  renderRows(job.rows);
}

function renderSummary(report) {
  const counts = report.summary || {};
  const verdicts = Object.keys(counts).sort((a, b) => rank(a) - rank(b));
  const chips = verdicts.map((v) =>
    el(
      "span",
      { class: "bulk-count " + verdictClass(v), "data-verdict": v, "data-count": counts[v] },
      el("span", { class: "bulk-count-name", text: verdictName(v) }),
      el("span", { class: "bulk-count-n", text: String(counts[v]) })
    )
  );
  $("bulk-summary").replaceChildren(el("span", { class: "bulk-total", text: t("bulkTotal", { n: report.total }) }), ...chips);
}

function rank(verdict) {
  const i = VERDICT_ORDER.indexOf(verdict);
  return i < 0 ? VERDICT_ORDER.length : i;
}

function renderFiles(report) {
  const links = FORMATS.map((format) => {
    const href = (report.files && report.files[format]) || "/v1/reports/" + encodeURIComponent(report.id) + "?format=" + format;
    return el("a", { href: href, "data-format": format, download: true, text: format.toUpperCase() });
  });
  $("bulk-links").replaceChildren(...links);
}

function renderRows(rows) {
  const head = el(
    "tr",
    null,
    ...[t("bulkFile"), t("bulkVerdict"), t("reasons"), table("fields", "certificate_number"), table("fields", "lab"),
      table("fields", "item"), table("fields", "serial_number"), table("fields", "valid_until")].map((h) =>
      el("th", { scope: "col", text: h })
    )
  );
  const body = el("tbody");
  for (const row of rows) {
    const known = VERDICT_CLASS[row.verdict] && row.verdict !== "UNKNOWN";
    const reasons = el("ul", { class: "bulk-reasons" });
    for (const r of reasonsOf(row)) {
      const sev = r.severity === "WARNING" ? "warning" : "error";
      reasons.append(
        el(
          "li",
          { "data-code": r.code || null, title: r.title || null },
          r.severity ? el("span", { class: "badge " + sev, text: t(r.severity) }) : null,
          el("span", { class: "bulk-reason", text: r.name })
        )
      );
    }
    body.append(
      el(
        "tr",
        { class: "bulk-row " + verdictClass(row.verdict), "data-path": row.path, "data-verdict": row.verdict },
        el("td", { class: "bulk-path", text: row.path }),
        el("td", { class: "bulk-verdict " + verdictClass(row.verdict), text: verdictName(row.verdict) }),
        el("td", { class: "bulk-reason-cell" }, reasons),
        el("td", { class: "bulk-number", text: row.certificate_number || "" }),
        el("td", { class: "bulk-lab", text: row.lab || "" }),
        el("td", { class: "bulk-instrument", text: row.instrument || "" }),
        el("td", { class: "bulk-serial", text: row.serial_number || "" }),
        el("td", { class: "bulk-valid-until", text: row.valid_until || (known ? t("notStated") : "") })
      )
    );
  }
  $("bulk-table").replaceChildren(el("thead", null, head), body);
}

// ------------------------------------------------------------------ wiring

/** Shows the bulk verification again in the page's language (after a switch). */
export function renderBulk() {
  render();
}

/** Wires the bulk section's two choosers (files, a folder). */
export function initBulk() {
  $("bulk-files").addEventListener("change", (e) => {
    const files = Array.from(e.target.files || []);
    e.target.value = "";
    if (files.length) upload(files);
  });
  $("bulk-folder").addEventListener("change", (e) => {
    const files = visible(Array.from(e.target.files || []));
    const chosen = e.target.files && e.target.files.length;
    e.target.value = "";
    if (files.length) upload(files);
    else if (chosen) {
      ++generation;
      job = null;
      uploading = 0;
      refusal = { key: "bulkNoFiles", code: "REPORT_EMPTY" };
      render();
    }
  });
}
