// 影响范围: a certificate's downstream impact (GET /v1/certificates/{digest}/dependents, and its CSV export).

import { $, el } from "./dom.js";
import { has, t } from "./i18n.js";
import { latest, read, say, shown, showError } from "./session.js";
import { digestLink, hexCode } from "./values.js";

export async function loadImpact(digest) {
  const wanted = digest.trim().toLowerCase();
  const mine = ++latest.impact;
  showError(null);
  say("loadingImpact");
  const answer = await read("/v1/certificates/" + encodeURIComponent(wanted) + "/dependents");
  if (mine !== latest.impact) return;
  say(null);
  if (!answer) {
    $("impact-result").hidden = true;
    return;
  }
  shown.impact = answer.body;
  history.replaceState(null, "", "#impact/" + answer.body.digest);
  renderImpact();
}

function inForceText(d) {
  if (d.in_force) return t("inForce");
  if (d.revoked_or_substituted) return t("revoked");
  if (d.status !== "ANCHORED") return t("notAnchored");
  return t("expired");
}

export function renderImpact() {
  const body = shown.impact;
  if (!body) return;
  $("impact-result").hidden = false;
  const summary = $("impact-summary");
  summary.dataset.total = String(body.total);
  let text = body.total
    ? t("impactSummary", { total: body.total, shown: body.dependents.length, inForce: body.in_force })
    : t("noDependents");
  if (body.withheld) text += t("impactWithheld", { withheld: body.withheld });
  summary.textContent = text;
  $("impact-csv").dataset.digest = body.digest;
  $("impact-csv").href = "#impact/" + body.digest;
  const table = $("impact-table");
  table.replaceChildren();
  if (!body.dependents.length) return;
  table.append(
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { text: t("colDepth") }),
        el("th", { text: t("colCertificate") }),
        el("th", { text: t("colKind") }),
        el("th", { text: t("colLab") }),
        el("th", { text: t("colSerial") }),
        el("th", { text: t("colOwner") }),
        el("th", { text: t("colValidUntil") }),
        el("th", { text: t("colStatus") }),
        el("th", { text: t("colInForce") })
      )
    )
  );
  const rows = el("tbody");
  for (const d of body.dependents) {
    rows.append(
      el(
        "tr",
        { "data-digest": d.digest, "data-depth": d.depth, "data-lab-id": d.lab_id, "data-in-force": d.in_force ? "true" : "false" },
        el("td", { class: "num", text: t("depthN", { n: d.depth }) }),
        el("td", {}, el("div", { text: d.certificate_number }), digestLink(d.digest)),
        el("td", { text: has("kind_" + d.kind) ? t("kind_" + d.kind) : d.kind }),
        el("td", {}, hexCode(d.lab_id)),
        el("td", { text: d.serial_number || t("none") }),
        el("td", { text: d.customer || t("none") }),
        el("td", { text: d.valid_until || t("none") }),
        el("td", { text: has("status_" + d.status) ? t("status_" + d.status) : d.status }),
        el("td", { class: d.in_force ? "in-force-yes" : "in-force-no", text: inForceText(d) })
      )
    );
  }
  table.append(rows);
}

// The CSV export: fetched with the token in its header (a plain link would carry none), saved as a file.
export async function exportCsv(event) {
  event.preventDefault();
  const digest = event.currentTarget.dataset.digest;
  if (!digest) return;
  showError(null);
  say("exporting");
  const answer = await read("/v1/certificates/" + encodeURIComponent(digest) + "/dependents?format=csv", "blob");
  say(null);
  if (!answer) return;
  const named = /filename="([^"]+)"/.exec(answer.response.headers.get("Content-Disposition") || "");
  const url = URL.createObjectURL(answer.blob);
  const save = el("a", { href: url, download: named ? named[1] : "dependents.csv", hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
