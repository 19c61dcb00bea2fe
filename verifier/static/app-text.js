// The verifier page's texts in Chinese and English, the page's language (?lang=, then the stored choice, then
// Chinese) and the status line, which is said again in the other language on a switch.
import { $, translator } from "./common.js";

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

export let lang = pickLanguage();
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

// Switches to the other language and remembers the choice.
export function toggleLang() {
  lang = lang === "zh" ? "en" : "zh";
  try {
    localStorage.setItem("tracecert.lang", lang);
  } catch (e) {
    /* ignore */
  }
}

export const t = translator(TEXT, () => lang);

// A name from one of the tables (families, fields, kinds, ...); the English page shows the code when it has none.
export function table(name, key) {
  const own = TEXT[lang][name] || {};
  return own[key] || (lang === "en" ? key : (TEXT.zh[name] || {})[key] || key);
}

// The status line: ``key``'s text with ``vars`` (a var that is itself a text key is said in the page's language).
export function say(key, vars) {
  lastStatus = key ? [key, vars] : null;
  const shown = {};
  for (const [k, v] of Object.entries(vars || {})) shown[k] = typeof v === "string" && TEXT[lang][v] ? t(v) : v;
  $("status").textContent = key ? t(key, shown) : "";
}

// The status line said again (after a language switch).
export function sayAgain() {
  if (lastStatus) say(lastStatus[0], lastStatus[1]);
}
