// MouseAct offline widget kit: renders an app's form from GET /api/app, runs it with
// POST /api/run, polls GET /api/jobs/<id> for progress and log lines, then shows the results.
// Plain browser JavaScript: no framework, no CDN, no build step.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
};

let spec = null;
let currentJob = null;

async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(url, opts);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = { error: `HTTP ${resp.status}` }; }
  if (!resp.ok) throw new Error((data && data.error) || `HTTP ${resp.status}`);
  return data;
}

// ---- form ---------------------------------------------------------------------------------------
function fieldId(opt) { return `opt-${opt.name}`; }

function renderField(opt) {
  const id = fieldId(opt);
  const label = el("label", { for: id, class: opt.required ? "required" : null, text: opt.label || opt.name });
  let input;
  const dflt = opt.default;
  switch (opt.widget) {
    case "checkbox":
      input = el("input", { type: "checkbox", id, name: opt.name, checked: !!dflt });
      break;
    case "select":
      input = el("select", { id, name: opt.name },
        // "(default)" sends nothing: the command's (or the chosen model's) own setting
        ...(opt.required ? [] : [el("option", { value: "", text: opt.placeholder ? `(${opt.placeholder})` : "(default)" })]),
        ...opt.choices.map((c) => el("option", { value: c, text: c, selected: String(dflt) === c })));
      break;
    case "number":
      input = el("input", { type: "number", id, name: opt.name, step: opt.number_type === "int" ? "1" : "any",
                            value: dflt ?? "", placeholder: opt.placeholder || "" });
      break;
    case "lines":
      input = el("textarea", { id, name: opt.name, placeholder: opt.placeholder || "one per line" });
      input.value = Array.isArray(dflt) ? dflt.join("\n") : (dflt ?? "");
      break;
    case "outdir":
      input = el("div", { class: "auto", id, text: "a new folder for each run (shown in the results)" });
      break;
    case "path": {
      const text = el("input", { type: "text", id, name: opt.name, value: dflt ?? "",
                                 placeholder: opt.placeholder || "path on this computer" });
      const picker = el("input", { type: "file", hidden: true, accept: opt.accept || null });
      const button = el("button", { type: "button", text: "Upload…", title: "copy a file to the app and use it",
                                    hidden: opt.upload === false, onclick: () => picker.click() });
      picker.addEventListener("change", async () => {
        if (!picker.files.length) return;
        const fd = new FormData();
        fd.append("file", picker.files[0]);
        button.disabled = true; button.textContent = "uploading…";
        try { text.value = (await api("POST", "/api/upload", fd)).path; }
        catch (e) { showError(`upload failed: ${e.message}`); }
        finally { button.disabled = false; button.textContent = "Upload…"; }
      });
      input = el("div", { class: "path-row" }, text, button, picker);
      break;
    }
    default:
      // a list default is shown as the user would type it: "0.33, 1, 3" (the server parses it back)
      input = el("input", { type: "text", id, name: opt.name, value: Array.isArray(dflt) ? dflt.join(", ") : (dflt ?? ""),
                            placeholder: opt.placeholder || "" });
  }
  const flag = opt.store === "config" ? ` (${opt.flag} ${opt.set_key || opt.name}=…)` : opt.flag ? ` (${opt.flag})` : "";
  return el("div", { class: "field", "data-name": opt.name }, label, input,
            el("div", { class: "help", text: (opt.help || "") + flag }));
}

function formValues() {
  const values = {};
  for (const opt of spec.options) {
    if (opt.widget === "outdir") continue;
    const node = document.getElementById(fieldId(opt));
    if (!node) continue;
    if (opt.widget === "checkbox") values[opt.name] = node.checked;
    else if (opt.widget === "lines") values[opt.name] = node.value.split("\n").map((s) => s.trim()).filter(Boolean);
    else values[opt.name] = node.value;
  }
  return values;
}

function validate() {
  let ok = true;
  for (const opt of spec.options) {
    const row = document.querySelector(`.field[data-name="${opt.name}"]`);
    const node = document.getElementById(fieldId(opt));
    if (!row || !node || !opt.required || opt.widget === "outdir" || opt.widget === "checkbox") continue;
    const empty = !String(node.value || "").trim();
    row.classList.toggle("invalid", empty);
    if (empty) ok = false;
  }
  return ok;
}

// ---- running ------------------------------------------------------------------------------------
function showError(message) {
  const box = $("#job-error");
  $("#status-card").hidden = false;
  box.hidden = !message;
  box.textContent = message || "";
}

function setStatus(status) {
  const badge = $("#job-status");
  badge.textContent = status;
  badge.className = `badge ${status}`;
}

// The last submitted values are remembered per app (in this browser only), so a researcher
// re-running with one change does not retype every path.
function storageKey() { return `mouseact-app-${spec.app}`; }

function restoreValues() {
  let saved;
  try { saved = JSON.parse(localStorage.getItem(storageKey()) || "null"); } catch (e) { saved = null; }
  if (!saved) return;
  for (const opt of spec.options) {
    const node = document.getElementById(fieldId(opt));
    if (!node || !(opt.name in saved) || opt.widget === "outdir") continue;
    const v = saved[opt.name];
    if (opt.widget === "checkbox") node.checked = !!v;
    else if (opt.widget === "lines") node.value = (v || []).join("\n");
    else node.value = v ?? "";
  }
}

async function run() {
  if (!validate()) { showError("fill in the fields marked in red"); return; }
  try { localStorage.setItem(storageKey(), JSON.stringify(formValues())); } catch (e) { /* private mode */ }
  showError("");
  $("#job-log").textContent = "";
  $("#results").replaceChildren();
  $("#results-card").hidden = true;
  $("#status-card").hidden = false;
  $("#run-button").disabled = true;
  setStatus("queued");
  try {
    const started = await api("POST", "/api/run", { values: formValues() });
    $("#command-line").textContent = "mouseact " + started.argv.map(shellQuote).join(" ");
    currentJob = { id: started.job_id, since: 0 };
    $("#cancel-button").hidden = false;
    poll();
  } catch (e) {
    setStatus("failed");
    showError(e.message);
    $("#run-button").disabled = false;
  }
}

function shellQuote(s) { return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`; }

async function poll() {
  if (!currentJob) return;
  let snap;
  try { snap = await api("GET", `/api/jobs/${currentJob.id}?since=${currentJob.since}`); }
  catch (e) { showError(`lost contact with the app: ${e.message}`); setTimeout(poll, 2000); return; }
  currentJob.since = snap.log_next;
  const log = $("#job-log");
  if (snap.log.length) {
    log.textContent += snap.log.join("\n") + "\n";
    log.scrollTop = log.scrollHeight;
  }
  setStatus(snap.status);
  const bar = $("#job-progress");
  if (snap.progress === null || snap.progress === undefined) bar.removeAttribute("value");
  else bar.value = snap.progress;
  $("#progress-text").textContent = snap.progress_text || "";
  $("#job-elapsed").textContent = `${snap.elapsed_s.toFixed(1)} s`;
  if (["done", "failed", "cancelled"].includes(snap.status)) {
    currentJob = null;
    $("#progress-text").textContent = "";  // the last bar's text is stale once the command ended
    $("#run-button").disabled = false;
    $("#cancel-button").hidden = true;
    if (snap.status === "done") { bar.value = 1; showResults(snap.id, snap.result); }
    else { bar.value = 0; showError(snap.error || snap.status); }
    return;
  }
  setTimeout(poll, 700);
}

async function cancel() {
  if (!currentJob) return;
  try { await api("POST", `/api/jobs/${currentJob.id}/cancel`); } catch (e) { showError(e.message); }
}

// ---- results ------------------------------------------------------------------------------------
function fileUrl(jobId, rel) {
  return `/api/jobs/${jobId}/files/${rel.split("/").map(encodeURIComponent).join("/")}`;
}

function showResults(jobId, result) {
  const box = $("#results");
  box.replaceChildren();
  $("#results-card").hidden = false;
  box.append(el("p", { class: "result-caption", text: `outputs: ${result.out_dir}` }));
  for (const t of result.tables || []) {
    const head = el("tr", {}, ...t.header.map((h) => el("th", { text: h })));
    const rows = t.rows.map((r) => el("tr", {}, ...r.map((c) => el("td", { text: c }))));
    box.append(el("h3", { text: t.path }),
               el("div", { class: "table-scroll" },
                  el("table", { class: "result-table", "data-path": t.path }, el("thead", {}, head), el("tbody", {}, ...rows))));
    if (t.total_rows > t.rows.length) box.append(el("p", { class: "result-caption", text: `first ${t.rows.length} of ${t.total_rows} rows` }));
  }
  for (const t of result.texts || []) {
    box.append(el("h3", { text: t.path }), el("pre", { class: "result-text", text: t.text }));
  }
  if ((result.images || []).length) {
    box.append(el("div", { class: "images" }, ...result.images.map((p) =>
      el("figure", {}, el("a", { href: fileUrl(jobId, p), target: "_blank" },
                          el("img", { src: fileUrl(jobId, p), alt: p })), el("figcaption", { text: p })))));
  }
  const files = result.files || [];
  if (files.length) {
    box.append(el("h3", { text: `files (${result.n_files})` }),
               el("ul", { class: "files" }, ...files.map((f) =>
                 el("li", {}, el("a", { href: fileUrl(jobId, f.path), target: "_blank", text: f.path })))));
  } else {
    box.append(el("p", { text: "the command wrote no files; see the log above" }));
  }
}

// ---- start --------------------------------------------------------------------------------------
async function main() {
  try { spec = await api("GET", "/api/app"); }
  catch (e) { $("#app-title").textContent = "app failed to load"; showError(e.message); return; }
  document.title = `${spec.title} · MouseAct`;
  $("#app-title").textContent = spec.title;
  $("#app-description").textContent = spec.description;
  $("#app-usage").textContent = spec.usage;
  const form = $("#app-form");
  form.replaceChildren(...spec.options.map(renderField));
  restoreValues();
  form.addEventListener("submit", (ev) => { ev.preventDefault(); run(); });
  $("#run-button").addEventListener("click", run);
  $("#cancel-button").addEventListener("click", cancel);
  $("#run-button").disabled = false;
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", main);
