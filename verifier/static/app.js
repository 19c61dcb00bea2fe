// TraceCert verifier page: drop a file, type a number or a digest, or open /c/{digest} from a QR code.
// Everything here is local (no CDN, no build step). Text from a report is untrusted: it only ever goes into
// textContent or SVG text nodes, never into HTML.
"use strict";

(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";

  const TEXT = {
    zh: {
      skip: "跳到主要内容",
      title: "TraceCert 证书核验",
      subtitle: "对照区块链核验检定证书与校准证书：真实性、机构授权、状态与溯源链",
      inputsTitle: "要核验的证书",
      dropTitle: "拖放证书文件到此处，或点击选择文件",
      dropHint: "证明包 (JSON)、PDF 或 DCC XML；可同时选择证明包及其原始文件",
      byNumber: "按证书编号查询",
      labLabel: "机构代码（统一社会信用代码）或机构 ID",
      numberLabel: "证书编号",
      byDigest: "按证书摘要查询",
      digestLabel: "证书摘要（0x 加 64 位十六进制，证书二维码中的链接也可）",
      asOfLabel: "核验时间（可选）",
      asOfHint: "留空为当前时间；选定日期按该日结束时（北京时间）核验",
      verify: "核验",
      reasons: "结论原因",
      noReasons: "全部检查通过。",
      certificate: "证书",
      anchor: "链上存证",
      trace: "溯源链",
      traceHint: "自下而上：被核验的证书 → 所用计量标准的证书 → 国家计量院。点击节点可核验该证书。",
      traceText: "文字版溯源链",
      traceNone: "没有溯源信息（证书未能核验）。",
      traceGraph: "溯源链图",
      checks: "全部检查项",
      footer: "核验只信任区块链：证书文件、注册平台和本页面都不被视为可信来源。",
      langButton: "English",
      verifying: "正在核验…",
      uploading: "正在上传并核验 {n} 个文件…",
      done: "核验完成：{verdict}",
      VALID: "有效",
      VALID_WITH_WARNINGS: "有效（有警告）",
      INVALID: "无效",
      UNKNOWN: "无效：未知证书",
      unknownSub: "未找到该证书的链上存证，不能视为有效。",
      asOf: "核验时间",
      PASS: "通过",
      FAIL: "未通过",
      SKIP: "未执行",
      ERROR: "错误",
      WARNING: "警告",
      replacedBy: "已被替代，新证书",
      errorPrefix: "请求失败",
      badDigest: "证书摘要应为 0x 加 64 位十六进制数字。",
      needLabAndNumber: "请填写机构代码和证书编号。",
      retryAfter: "请 {s} 秒后重试。",
      network: "无法连接核验服务。",
      families: {
        integrity: "完整性（是否与存证一致）",
        identity: "签名与密钥",
        authorization: "机构授权",
        kind: "证书类型",
        dates: "日期",
        lifecycle: "状态（撤销、替代、有效期）",
        traceability: "溯源",
        people: "人员",
      },
      fields: {
        kind: "证书类型",
        certificate_number: "证书编号",
        lab: "出具机构",
        lab_kind: "机构类型",
        lab_id: "机构 ID",
        item: "器具",
        serial_number: "出厂编号",
        model: "型号",
        category_code: "器具类别",
        method: "依据",
        conclusion: "结论",
        performance: "检定/校准日期",
        issue_date: "签发日期",
        valid_until: "有效期至",
        digest: "证书摘要",
        chain_id: "链 ID",
        contract: "证书合约",
        root: "默克尔根",
        batch_index: "批次",
        block_number: "区块高度",
        block_timestamp: "上链时间",
        leaf_index: "批内序号",
      },
      kinds: {
        VERIFICATION: "检定证书",
        CALIBRATION: "校准证书",
        VERIFICATION_FAIL_NOTICE: "检定结果通知书",
      },
      labKinds: {
        NMI: "国家计量院",
        LEGAL_METROLOGY_INSTITUTE: "法定计量检定机构",
        AUTHORIZED_BODY: "授权计量技术机构",
        ACCREDITED_LAB: "认可实验室",
      },
      conclusions: { PASS: "合格", FAIL: "不合格" },
      creditLookup: "信用查询",
      creditLabel: "机构 ID（0x 加 64 位十六进制）或企业统一社会信用代码",
      lookup: "查询",
      creditTitle: "信用记录",
      creditHint: "监管部门在链上记录的处罚与解除；信用等级由生效中最严重的一条决定。",
      labCredit: "出具机构的信用",
      gradeNow: "当前信用等级",
      gradeAtIssue: "出具时信用等级",
      atIssue: "出具时生效的处罚",
      noneAtIssue: "出具时没有生效的处罚。",
      fullRecord: "查看完整信用记录",
      creditLooking: "正在查询信用记录…",
      creditDone: "信用记录查询完成",
      needSubject: "请填写机构 ID 或企业统一社会信用代码。",
      subject: "主体",
      subjectKind: "主体类型",
      labName: "机构名称",
      creditAsOf: "截至",
      grade: "信用等级",
      noEntries: "信用记录中没有任何条目。",
      entries: "全部记录（{n} 条）",
      reason: "原因",
      caseNumber: "案号",
      effective: "有效期",
      window: "{start} 至 {until}",
      untilLifted: "{start} 起，直至解除",
      liftingFrom: "{start} 起生效",
      recorded: "记录时间",
      recordedBy: "记录机关账户",
      inForce: "生效中",
      notInForce: "未在生效",
      liftedBy: "已由 #{i} 解除",
      lifts: "解除 #{i}",
    },
    en: {
      skip: "Skip to the main content",
      title: "TraceCert certificate verification",
      subtitle:
        "Check verification and calibration certificates against the chain: authenticity, the lab's authorization, status and traceability",
      inputsTitle: "Certificate to verify",
      dropTitle: "Drop a certificate file here, or click to choose one",
      dropHint: "A proof bundle (JSON), a PDF or a DCC XML; a bundle and its original document may be chosen together",
      byNumber: "Look up by certificate number",
      labLabel: "Lab code (unified social credit code) or lab id",
      numberLabel: "Certificate number",
      byDigest: "Look up by certificate digest",
      digestLabel: "Certificate digest (0x + 64 hex digits, or the link in the certificate's QR code)",
      asOfLabel: "Verify as of (optional)",
      asOfHint: "Empty means now; a date means the end of that day (China Standard Time)",
      verify: "Verify",
      reasons: "Reasons",
      noReasons: "Every check passed.",
      certificate: "Certificate",
      anchor: "Anchor on the chain",
      trace: "Traceability chain",
      traceHint:
        "Bottom to top: the certificate checked → its standards' certificates → the national metrology institute. Click a node to verify that certificate.",
      traceText: "Traceability chain as text",
      traceNone: "No traceability information (the certificate could not be verified).",
      traceGraph: "Traceability graph",
      checks: "Every check",
      footer: "Verification trusts only the chain: not the certificate file, not the registry, not this page.",
      langButton: "中文",
      verifying: "Verifying…",
      uploading: "Uploading and verifying {n} file(s)…",
      done: "Verification finished: {verdict}",
      VALID: "Valid",
      VALID_WITH_WARNINGS: "Valid with warnings",
      INVALID: "Invalid",
      UNKNOWN: "Invalid: unknown certificate",
      unknownSub: "No anchoring of this certificate was found; it cannot be treated as valid.",
      asOf: "as of",
      PASS: "passed",
      FAIL: "failed",
      SKIP: "skipped",
      ERROR: "error",
      WARNING: "warning",
      replacedBy: "Substituted by",
      errorPrefix: "Request failed",
      badDigest: "A certificate digest is 0x followed by 64 hexadecimal digits.",
      needLabAndNumber: "Enter the lab code and the certificate number.",
      retryAfter: "Retry in {s} s.",
      network: "The verification service cannot be reached.",
      families: {
        integrity: "Integrity (is it what was anchored?)",
        identity: "Signature and key",
        authorization: "Lab authorization",
        kind: "Certificate kind",
        dates: "Dates",
        lifecycle: "Status (revocation, substitution, expiry)",
        traceability: "Traceability",
        people: "People",
      },
      fields: {
        kind: "Kind",
        certificate_number: "Certificate number",
        lab: "Issuing lab",
        lab_kind: "Lab kind",
        lab_id: "Lab id",
        item: "Instrument",
        serial_number: "Serial number",
        model: "Model",
        category_code: "Category",
        method: "Method",
        conclusion: "Conclusion",
        performance: "Performed",
        issue_date: "Issued",
        valid_until: "Valid until",
        digest: "Digest",
        chain_id: "Chain id",
        contract: "Certificate contract",
        root: "Merkle root",
        batch_index: "Batch",
        block_number: "Block",
        block_timestamp: "Anchored at",
        leaf_index: "Leaf index",
      },
      kinds: {
        VERIFICATION: "Verification certificate",
        CALIBRATION: "Calibration certificate",
        VERIFICATION_FAIL_NOTICE: "Verification result notice",
      },
      labKinds: {
        NMI: "National metrology institute",
        LEGAL_METROLOGY_INSTITUTE: "Legal metrology institute",
        AUTHORIZED_BODY: "Authorized body",
        ACCREDITED_LAB: "Accredited lab",
      },
      conclusions: { PASS: "Pass", FAIL: "Fail" },
      creditLookup: "Credit lookup",
      creditLabel: "Lab id (0x + 64 hex digits) or an enterprise's unified social credit code",
      lookup: "Look up",
      creditTitle: "Credit record",
      creditHint: "Sanctions and liftings the regulators recorded on the chain; the worst entry in force decides the grade.",
      labCredit: "The issuing lab's credit",
      gradeNow: "Credit grade now",
      gradeAtIssue: "Credit grade when issued",
      atIssue: "Sanctions in force when issued",
      noneAtIssue: "No sanction was in force when it was issued.",
      fullRecord: "Full credit record",
      creditLooking: "Looking up the credit record…",
      creditDone: "Credit record found",
      needSubject: "Enter a lab id or an enterprise's unified social credit code.",
      subject: "Subject",
      subjectKind: "Kind",
      labName: "Lab",
      creditAsOf: "As of",
      grade: "Credit grade",
      noEntries: "The credit record has no entries.",
      entries: "Every entry ({n})",
      reason: "Reason",
      caseNumber: "Case number",
      effective: "In effect",
      window: "{start} to {until}",
      untilLifted: "from {start} until lifted",
      liftingFrom: "effective from {start}",
      recorded: "Recorded",
      recordedBy: "Recorded by",
      inForce: "in force",
      notInForce: "not in force",
      liftedBy: "lifted by #{i}",
      lifts: "lifts #{i}",
    },
  };

  const FAMILY_ORDER = ["integrity", "identity", "authorization", "kind", "dates", "lifecycle", "traceability", "people"];
  const DIGEST_RE = /^(0x)?[0-9a-fA-F]{64}$/;

  let lang = pickLanguage();
  let lastReport = null;
  let lastCredit = null;
  let lastStatus = null; // [key, vars]: re-said in the other language on a switch

  function pickLanguage() {
    const fromUrl = new URLSearchParams(location.search).get("lang");
    if (fromUrl === "en" || fromUrl === "zh") return fromUrl;
    try {
      const stored = localStorage.getItem("tracecert.lang");
      if (stored === "en" || stored === "zh") return stored;
    } catch (e) {
      /* storage may be disabled */
    }
    return "zh";
  }

  function t(key, vars) {
    let s = TEXT[lang][key];
    if (s === undefined) s = TEXT.zh[key];
    if (s === undefined) return key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace("{" + k + "}", String(v));
    return s;
  }

  function table(name, key) {
    const own = TEXT[lang][name] || {};
    return own[key] || (lang === "en" ? key : (TEXT.zh[name] || {})[key] || key);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ language

  function applyLanguage() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    $("lang-toggle").textContent = t("langButton");
    $("lang-toggle").setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
    if (lastReport) render(lastReport);
    if (lastCredit) renderCredit(lastCredit);
    if (lastStatus) say(lastStatus[0], lastStatus[1]);
  }

  function say(key, vars) {
    lastStatus = key ? [key, vars] : null;
    const shown = {};
    for (const [k, v] of Object.entries(vars || {})) shown[k] = typeof v === "string" && TEXT[lang][v] ? t(v) : v;
    $("status").textContent = key ? t(key, shown) : "";
  }

  function toggleLanguage() {
    lang = lang === "zh" ? "en" : "zh";
    try {
      localStorage.setItem("tracecert.lang", lang);
    } catch (e) {
      /* ignore */
    }
    applyLanguage();
  }

  // ------------------------------------------------------------------ requests

  function asOfParam() {
    const v = $("as-of-input").value;
    return v ? v : null;
  }

  function withAsOf(url) {
    const asOf = asOfParam();
    return asOf ? url + (url.includes("?") ? "&" : "?") + "as_of=" + encodeURIComponent(asOf) : url;
  }

  async function run(request) {
    showError(null);
    if (request.files) say("uploading", { n: request.files.length });
    else say("verifying");
    document.body.classList.add("busy");
    let response;
    try {
      if (request.files) {
        const form = new FormData();
        for (const f of request.files) form.append("file", f, f.name);
        const asOf = asOfParam();
        if (asOf) form.append("as_of", asOf);
        response = await fetch("/v1/verify", { method: "POST", body: form });
      } else {
        response = await fetch(withAsOf(request.url), { headers: { Accept: "application/json" } });
      }
    } catch (e) {
      document.body.classList.remove("busy");
      say(null);
      showError(t("network"));
      return;
    }
    document.body.classList.remove("busy");
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok || !body || !body.verdict) {
      failed(response, body);
      return;
    }
    lastReport = body;
    render(body);
    say("done", { verdict: body.unknown ? "UNKNOWN" : body.verdict });
  }

  function failed(response, body) {
    say(null);
    const err = body && body.error ? body.error : { code: "HTTP_" + response.status, message: response.statusText };
    let message = t("errorPrefix") + " — " + err.code + ": " + err.message;
    const retry = response.headers.get("Retry-After");
    if (response.status === 429 && retry) message += " " + t("retryAfter", { s: retry });
    showError(message, err.code);
  }

  // The credit record of a lab (its id) or an enterprise (its USCI): GET /v1/credit/{subject}.
  async function lookupCredit(raw) {
    const subject = (raw || "").trim();
    if (!subject) {
      showError(t("needSubject"), "REQUEST_INVALID");
      return;
    }
    $("credit-input").value = subject;
    showError(null);
    say("creditLooking");
    document.body.classList.add("busy");
    let response;
    try {
      response = await fetch("/v1/credit/" + encodeURIComponent(subject), { headers: { Accept: "application/json" } });
    } catch (e) {
      document.body.classList.remove("busy");
      say(null);
      showError(t("network"));
      return;
    }
    document.body.classList.remove("busy");
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok || !body || !body.grade) {
      failed(response, body);
      return;
    }
    lastCredit = body;
    renderCredit(body);
    say("creditDone");
    $("credit").scrollIntoView({ block: "start" });
  }

  function showError(message, code) {
    const box = $("error");
    if (!message) {
      box.hidden = true;
      box.textContent = "";
      box.removeAttribute("data-code");
      return;
    }
    box.textContent = message;
    if (code) box.dataset.code = code;
    box.hidden = false;
  }

  function verifyDigest(raw, push) {
    let digest = raw.trim();
    const fromLink = digest.match(/\/c\/((0x)?[0-9a-fA-F]{64})/);
    if (fromLink) digest = fromLink[1];
    if (!DIGEST_RE.test(digest)) {
      showError(t("badDigest"), "INVALID_DIGEST");
      return;
    }
    if (!digest.startsWith("0x")) digest = "0x" + digest;
    digest = digest.toLowerCase();
    if (push && location.pathname !== "/c/" + digest) history.pushState({}, "", "/c/" + digest + location.search);
    $("digest-input").value = digest;
    run({ url: "/v1/certificates/" + digest + "/verification" });
  }

  function verifyNumber(lab, number) {
    if (!lab.trim() || !number.trim()) {
      showError(t("needLabAndNumber"), "REQUEST_INVALID");
      return;
    }
    const url =
      "/v1/labs/" + encodeURIComponent(lab.trim()) + "/certificates/" + encodeURIComponent(number.trim()) + "/verification";
    run({ url: url });
  }

  function verifyFiles(fileList) {
    const files = Array.from(fileList || []);
    if (files.length) run({ files: files });
  }

  // ------------------------------------------------------------------ rendering

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

  function render(report) {
    $("result").hidden = false;
    const cls = verdictClass(report);
    const box = $("verdict");
    box.className = "verdict " + cls;
    box.dataset.verdict = report.verdict;
    box.dataset.unknown = report.unknown ? "true" : "false";
    $("verdict-icon").textContent = cls === "valid" ? "✔" : cls === "warn" ? "!" : "✘";
    $("verdict-title").textContent = verdictLabel(report);
    const cert = report.certificate || {};
    const sub = [];
    if (report.unknown) sub.push(t("unknownSub"));
    if (cert.certificate_number) sub.push(table("kinds", cert.kind) + " " + cert.certificate_number);
    const labName = cert.lab_name_on_chain || cert.lab_name;
    if (labName) sub.push(labName);
    sub.push(t("asOf") + " " + formatTime(report.as_of));
    $("verdict-sub").textContent = sub.join(" · ");

    renderReasons(report);
    renderCertificate(report);
    renderAnchor(report);
    renderLabCredit(report);
    renderTrace(report.trace, report.verdict);
    renderChecks(report.checks || []);
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

  // ------------------------------------------------------------------ credit

  // A name from the answer ({code, zh, en}) in the page's language.
  function named(n) {
    return n ? n[lang] || n.code : "";
  }

  function gradeBadge(grade) {
    return el(
      "span",
      { class: "grade", "data-grade": grade.code, title: grade.code + " " + grade.zh + " / " + grade.en },
      el("span", { class: "grade-letter grade-" + grade.code, text: grade.code }),
      el("span", { class: "grade-name", text: named(grade) })
    );
  }

  function windowText(e) {
    if (e.lifts !== null && e.lifts !== undefined) return t("liftingFrom", { start: e.effective_from });
    if (!e.effective_until) return t("untilLifted", { start: e.effective_from });
    return t("window", { start: e.effective_from, until: e.effective_until });
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
    add("reason", named(e.reason));
    add("caseNumber", e.case_number);
    add("effective", windowText(e));
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
        el("span", { class: "entry-kind", text: named(e.kind) }), ...marks),
      facts
    );
  }

  function renderLabCredit(report) {
    const card = $("lab-credit-card");
    const holder = $("lab-credit");
    holder.replaceChildren();
    const cert = report.certificate || {};
    const credit = cert.lab_credit;
    card.hidden = !credit;
    if (!credit) return;
    const grades = el("dl", { class: "facts grades" });
    grades.append(el("dt", { text: t("gradeNow") }), el("dd", { id: "lab-grade" }, gradeBadge(credit.grade)));
    grades.append(
      el("dt", { text: t("gradeAtIssue") }),
      el("dd", { id: "lab-grade-at-issue" }, gradeBadge(credit.grade_at_issue))
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

  function renderCredit(answer) {
    $("credit").hidden = false;
    const holder = $("credit-body");
    holder.replaceChildren();
    const facts = el("dl", { class: "facts" });
    const add = (key, value, mono) => {
      if (value === null || value === undefined || value === "") return;
      facts.append(el("dt", { text: t(key) }), el("dd", { class: mono ? "mono" : null, text: String(value) }));
    };
    add("subject", answer.subject, true);
    add("subjectKind", named(answer.subject_kind));
    add("labName", answer.lab_name);
    add("creditAsOf", answer.as_of);
    facts.append(el("dt", { text: t("grade") }), el("dd", { id: "credit-grade" }, gradeBadge(answer.grade)));
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

  // ------------------------------------------------------------------ traceability graph

  const NODE_W = 232;
  const NODE_H = 92;
  const GAP_X = 36;
  const GAP_Y = 64;

  function layout(root) {
    // Leaves take consecutive slots and a node is centred over its children's span. The checked certificate is
    // drawn at the bottom and each standard's certificate one row higher, so the NMI ends a chain at the top.
    const nodes = [];
    const edges = [];
    let slot = 0;
    let maxDepth = 0;
    function walk(node, depth) {
      const entry = { node: node, depth: depth, x: 0 };
      nodes.push(entry);
      maxDepth = Math.max(maxDepth, depth);
      const kids = node.children || [];
      if (!kids.length) {
        entry.x = slot++;
      } else {
        const xs = kids.map((k) => {
          const child = walk(k, depth + 1);
          edges.push({ from: child, to: entry, label: k.standard });
          return child.x;
        });
        entry.x = (Math.min(...xs) + Math.max(...xs)) / 2;
      }
      return entry;
    }
    walk(root, 0);
    for (const n of nodes) {
      n.cx = GAP_X + n.x * (NODE_W + GAP_X) + NODE_W / 2;
      n.cy = GAP_Y / 2 + (maxDepth - n.depth) * (NODE_H + GAP_Y) + NODE_H / 2;
    }
    const width = GAP_X + Math.max(slot, 1) * (NODE_W + GAP_X);
    const height = GAP_Y + (maxDepth + 1) * (NODE_H + GAP_Y) - GAP_Y;
    return { nodes: nodes, edges: edges, width: width, height: height };
  }

  function shorten(text, max) {
    if (!text) return "";
    const chars = Array.from(text);
    return chars.length > max ? chars.slice(0, max - 1).join("") + "…" : text;
  }

  function nodeClass(node) {
    if (node.verdict === "VALID") return "valid";
    if (node.verdict === "VALID_WITH_WARNINGS") return "warn";
    if (node.verdict === "INVALID") return "invalid";
    return "unknown";
  }

  function renderTrace(tree, rootVerdict) {
    const holder = $("trace");
    const textHolder = $("trace-list");
    holder.replaceChildren();
    textHolder.replaceChildren();
    if (!tree) {
      holder.append(el("p", { class: "hint", text: t("traceNone") }));
      return;
    }
    // The engine gives verdicts to the standards' certificates; the checked one's is the report's.
    if (!tree.verdict && rootVerdict) tree = Object.assign({}, tree, { verdict: rootVerdict });
    const g = layout(tree);
    const root = svg("svg", {
      id: "trace-graph",
      class: "trace-graph",
      viewBox: "0 0 " + g.width + " " + g.height,
      width: g.width,
      height: g.height,
      role: "img",
      "aria-labelledby": "trace-graph-title",
    });
    root.append(svg("title", { id: "trace-graph-title" }, t("traceGraph")));
    const defs = svg("defs");
    const marker = svg("marker", {
      id: "arrow",
      viewBox: "0 0 10 10",
      refX: 10,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
    });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head" }));
    defs.append(marker);
    root.append(defs);

    for (const e of g.edges) {
      // Value flows down: from the standard's certificate (above) to the certificate that used it (below).
      const x1 = e.from.cx;
      const y1 = e.from.cy + NODE_H / 2;
      const x2 = e.to.cx;
      const y2 = e.to.cy - NODE_H / 2;
      const edge = svg("g", { class: "edge" });
      edge.append(svg("line", { x1: x1, y1: y1, x2: x2, y2: y2 - 2, "marker-end": "url(#arrow)" }));
      if (e.label) {
        edge.append(
          svg("text", { x: (x1 + x2) / 2 + 6, y: (y1 + y2) / 2 + 4, class: "edge-label" }, shorten(e.label, 16))
        );
      }
      root.append(edge);
    }

    for (const n of g.nodes) {
      const d = n.node;
      const cls = nodeClass(d);
      const group = svg("g", {
        class: "node " + cls,
        "data-digest": d.digest || "",
        "data-verdict": d.verdict || "UNKNOWN",
        "data-lab-kind": d.lab_kind || "",
      });
      const x = n.cx - NODE_W / 2;
      const y = n.cy - NODE_H / 2;
      group.append(svg("rect", { x: x, y: y, width: NODE_W, height: NODE_H, rx: 8, ry: 8 }));
      const kind = d.lab_kind ? table("labKinds", d.lab_kind) : "";
      group.append(svg("text", { x: x + 10, y: y + 21, class: "node-title" }, shorten(d.lab_name || d.lab_id || "?", 15)));
      group.append(svg("text", { x: x + 10, y: y + 40, class: "node-sub" }, shorten(kind, 30)));
      group.append(svg("text", { x: x + 10, y: y + 58, class: "node-sub" }, shorten(d.certificate_number || "", 30)));
      const verdictText = d.verdict ? t(d.verdict) : lang === "zh" ? "未知" : "unknown";
      group.append(svg("text", { x: x + 10, y: y + 79, class: "node-verdict" }, verdictText));
      const tip = [d.lab_name, kind, d.certificate_number, d.digest, d.note].filter(Boolean).join("\n");
      group.append(svg("title", {}, tip));
      if (d.digest) {
        const link = svg("a", { href: "/c/" + d.digest, class: "node-link" });
        link.setAttribute("aria-label", [d.lab_name, d.certificate_number, verdictText].filter(Boolean).join(", "));
        link.append(group);
        root.append(link);
      } else {
        root.append(group);
      }
    }
    holder.append(root);
    textHolder.append(traceList(tree));
  }

  function traceList(node) {
    const kind = node.lab_kind ? " (" + table("labKinds", node.lab_kind) + ")" : "";
    const verdict = node.verdict ? t(node.verdict) : lang === "zh" ? "未知" : "unknown";
    const via = node.standard ? node.standard + " ← " : "";
    const li = el(
      "li",
      {},
      el("span", { text: via + (node.certificate_number || "?") + " · " + (node.lab_name || "") + kind + " · " + verdict }),
      node.note ? el("span", { class: "detail", text: " " + node.note }) : null
    );
    const kids = node.children || [];
    if (kids.length) {
      const ul = el("ul");
      for (const k of kids) ul.append(traceList(k).firstChild);
      li.append(ul);
    }
    const wrap = el("ul");
    wrap.append(li);
    return wrap;
  }

  // ------------------------------------------------------------------ wiring

  function route(push) {
    const m = location.pathname.match(/^\/c\/([^/]+)\/?$/);
    const asOf = new URLSearchParams(location.search).get("as_of");
    if (asOf && /^\d{4}-\d{2}-\d{2}$/.test(asOf)) $("as-of-input").value = asOf;
    if (m) verifyDigest(decodeURIComponent(m[1]), push);
  }

  function init() {
    applyLanguage();
    $("lang-toggle").addEventListener("click", toggleLanguage);
    $("file-input").addEventListener("change", (e) => {
      verifyFiles(e.target.files);
      e.target.value = "";
    });
    const zone = $("dropzone");
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (e) => {
        e.preventDefault();
        zone.classList.add("over");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      zone.addEventListener(type, () => zone.classList.remove("over"));
    }
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      verifyFiles(e.dataTransfer ? e.dataTransfer.files : null);
    });
    $("digest-form").addEventListener("submit", (e) => {
      e.preventDefault();
      verifyDigest($("digest-input").value, true);
    });
    $("credit-form").addEventListener("submit", (e) => {
      e.preventDefault();
      lookupCredit($("credit-input").value);
    });
    $("number-form").addEventListener("submit", (e) => {
      e.preventDefault();
      verifyNumber($("lab-input").value, $("number-input").value);
    });
    window.addEventListener("popstate", () => route(false));
    route(false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
