// rag-rerank playground: plain DOM, no framework, no network beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const STOP = new Set(("a an and are as at be by do does for from how i in is it of on or the this to what when " +
  "where which who why with you your can my me we").split(" "));

// The API key lives in this variable only (not in storage), as the page promises.
let apiKey = "";
$("api-key").addEventListener("input", (e) => { apiKey = e.target.value.trim(); });

function headers() {
  const h = { "Content-Type": "application/json" };
  if (apiKey) h["Authorization"] = "Bearer " + apiKey;
  return h;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

// A readable message for any failed call: the server's JSON message, the status, Retry-After.
async function describeFailure(response) {
  let message = "";
  try {
    const body = await response.json();
    message = body.message || (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  } catch (err) {
    message = response.statusText || "no details";
  }
  const names = { 401: "Unauthorized (set the API key above)", 413: "Request too large", 422: "Invalid request",
    503: "Service busy or unavailable", 504: "Timed out" };
  let text = `${names[response.status] || "Error"} (HTTP ${response.status}): ${message}`;
  const retry = response.headers.get("Retry-After");
  if (retry) text += ` Retry in ${retry} s.`;
  return text;
}

async function call(method, path, body) {
  let response;
  try {
    response = await fetch(path, { method, headers: headers(), body: body ? JSON.stringify(body) : undefined });
  } catch (err) {
    throw new Error(`Could not reach the server (${err.message}). Is it still running?`);
  }
  if (!response.ok) throw new Error(await describeFailure(response));
  return response.json();
}

function queryTerms(query) {
  return [...new Set((query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [])
    .filter((w) => w.length > 2 && !STOP.has(w)))];
}

// Text with the query's words marked, built from text nodes (never innerHTML).
function highlighted(text, terms, clip) {
  const p = document.createElement("p");
  p.className = clip ? "text clip" : "text";
  if (!terms.length) { p.textContent = text; return p; }
  const escaped = terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(${escaped.join("|")})[\\p{L}\\p{N}]*`, "giu");
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) p.appendChild(document.createTextNode(text.slice(last, match.index)));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    p.appendChild(mark);
    last = match.index + match[0].length;
  }
  if (last < text.length) p.appendChild(document.createTextNode(text.slice(last)));
  return p;
}

function span(text, className) {
  const s = document.createElement("span");
  if (className) s.className = className;
  s.textContent = text;
  return s;
}

function scoreBar(score) {
  const bar = document.createElement("div");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
  bar.appendChild(fill);
  return bar;
}

// Movement of a document from its retrieval rank to its reranked rank.
function movement(before, after, keep) {
  if (before > keep) return { text: `new in top ${keep} (was #${before})`, cls: "new" };
  if (before === after) return { text: "=", cls: "same" };
  return before > after ? { text: `↑${before - after}`, cls: "up" } : { text: `↓${after - before}`, cls: "down" };
}

// Where a passage comes from: its file (a link the server serves, at the page for PDFs), page and
// heading path; more sources when the same text is in several files.
function origin(doc) {
  const m = doc.metadata || {};
  const sources = Array.isArray(m.sources) && m.sources.length ? m.sources : (m.source ? [m] : []);
  if (!sources.length) return null;
  const box = document.createElement("div");
  box.className = "origin";
  sources.slice(0, 3).forEach((where, n) => {
    if (n) box.appendChild(document.createTextNode(" · also "));
    const name = String(where.source || "").split("/").pop();
    const page = where.page ? `#page=${where.page}` : "";
    const local = String(where.source || "").startsWith("/");
    const label = name + (where.page ? `, page ${where.page}` : "") + (where.heading ? ` — ${where.heading}` : "");
    if (local) {
      const a = document.createElement("a");
      a.href = `/source?path=${encodeURIComponent(where.source)}${page}`;
      a.target = "_blank";
      a.rel = "noopener";
      a.className = "source-link";
      a.textContent = label;
      box.appendChild(a);
    } else {
      box.appendChild(span(label, "source-name"));
    }
  });
  if (sources.length > 3) box.appendChild(document.createTextNode(` (+${sources.length - 3} more)`));
  return box;
}

function item({ rank, text, terms, meta, score, move, top, doc }) {
  const li = document.createElement("li");
  if (top) li.classList.add("top");
  const row = document.createElement("div");
  row.className = "row";
  const left = document.createElement("span");
  left.appendChild(span(`#${rank}`, "rank"));
  if (move) { left.appendChild(document.createTextNode(" ")); left.appendChild(span(move.text, `move ${move.cls}`)); }
  row.appendChild(left);
  row.appendChild(span(meta, "source"));
  li.appendChild(row);
  if (score !== undefined && score !== null) li.appendChild(scoreBar(score));
  li.appendChild(highlighted(text, terms, true));
  const where = doc ? origin(doc) : null;
  if (where) li.appendChild(where);
  return li;
}

function ranksLabel(doc) {
  const ranks = doc.metadata && doc.metadata.retrieval_ranks ? doc.metadata.retrieval_ranks : {};
  const parts = [];
  if (ranks.bm25) parts.push(`BM25 #${ranks.bm25}`);
  if (ranks.vector) parts.push(`vector #${ranks.vector}`);
  if (doc.retrieval_score !== null && doc.retrieval_score !== undefined) parts.push(`RRF ${doc.retrieval_score.toFixed(4)}`);
  return parts.join(" · ") || "—";
}

function summary(el, parts) {
  el.replaceChildren(...parts.map(([label, value, badgeClass]) => {
    const s = document.createElement("span");
    s.appendChild(document.createTextNode(label + " "));
    const b = document.createElement(badgeClass !== undefined ? "span" : "b");
    if (badgeClass !== undefined) b.className = "badge " + badgeClass;
    b.textContent = value;
    s.appendChild(b);
    return s;
  }));
  el.hidden = false;
}

function describeReranker(info) {
  if (!info) return "none (reranking disabled)";
  let text = `${info.model} (${info.type}, ${info.engine || info.backend})`;
  if (info.served_by && info.served_by.model) {
    text += ` served by ${info.served_by.model}` + (info.served_by.engine ? ` (${info.served_by.engine})` : "");
  }
  if (info.replicas && info.replicas.length) {
    const engines = [...new Set(info.replicas.map((r) => `${r.model} ${r.engine}`))];
    text += ` on ${info.replicas.length} replica(s): ${engines.join(", ")}`;
  }
  return text;
}

async function search(event) {
  event.preventDefault();
  showError("");
  const query = $("query").value;
  if (!query.trim()) { showError("Type a query first: the query must not be empty."); return; }
  const topK = parseInt($("top-k").value, 10) || 20;
  const topN = parseInt($("top-n").value, 10) || 5;
  const button = $("search-button");
  button.disabled = true;
  try {
    const body = await call("POST", "/query", { query, top_k: topK, top_n: topN, return_candidates: true });
    render(body, query, topN);
  } catch (err) {
    showError(err.message);
  } finally {
    button.disabled = false;
  }
}

function render(body, query, topN) {
  const terms = queryTerms(query);
  const candidates = body.candidates || [];
  $("retrieval-list").replaceChildren(...candidates.map((doc, n) => item({
    rank: n + 1, text: doc.text, terms, meta: ranksLabel(doc), top: n < topN, doc,
  })));
  $("reranked-list").replaceChildren(...body.documents.map((doc, n) => item({
    rank: n + 1, text: doc.text, terms, score: doc.rerank_score,
    move: movement(doc.retrieval_rank, n + 1, topN),
    meta: doc.rerank_score !== null && doc.rerank_score !== undefined
      ? `score ${doc.rerank_score.toFixed(4)} · was #${doc.retrieval_rank}` : `retrieval #${doc.retrieval_rank}`,
    top: true, doc,
  })));
  const t = body.timings;
  const perDoc = candidates.length && t.rerank_ms ? (t.rerank_ms / candidates.length).toFixed(1) : "—";
  const okStates = ["ok", "cached"];
  const parts = [
    ["rerank status", body.rerank_status, okStates.includes(body.rerank_status) ? "" : "warn"],
    ["reranker", describeReranker(body.reranker)],
    ["retrieval", `${t.retrieval_ms.toFixed(1)} ms`],
    ["rerank", `${t.rerank_ms.toFixed(1)} ms`],
    ["per document", perDoc === "—" ? perDoc : `${perDoc} ms`],
    ["total", `${t.total_ms.toFixed(1)} ms`],
  ];
  if (body.language_warning) {
    parts.push(["LANGUAGE", body.language_warning, "warn"]);
  }
  if (body.reranker && body.reranker.fallback_from) {
    parts.push(["FALLBACK", `configured ${body.reranker.fallback_from} unavailable`, "warn"]);
  }
  if (body.error) parts.push(["note", body.error, "warn"]);
  summary($("search-summary"), parts);
  $("search-columns").hidden = false;
}

function splitPassages(text) {
  const blocks = text.split(/\n\s*\n/).map((b) => b.trim()).filter(Boolean);
  if (blocks.length > 1) return blocks;
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}

async function rerankPasted(event) {
  event.preventDefault();
  showError("");
  const query = $("paste-query").value;
  const passages = splitPassages($("paste-passages").value);
  if (!query.trim()) { showError("Type a query first: the query must not be empty."); return; }
  if (!passages.length) { showError("Paste at least one passage."); return; }
  const button = $("paste-button");
  button.disabled = true;
  try {
    const started = performance.now();
    const body = await call("POST", "/v1/rerank", { query, documents: passages, return_documents: true });
    const elapsed = performance.now() - started;
    const terms = queryTerms(query);
    $("paste-list").replaceChildren(...body.results.map((r, n) => item({
      rank: n + 1, text: r.document ? r.document.text : passages[r.index], terms, score: r.relevance_score,
      move: movement(r.index + 1, n + 1, passages.length),
      meta: `score ${r.relevance_score.toFixed(4)} · pasted #${r.index + 1}`, top: n === 0,
    })));
    $("paste-list").hidden = false;
    summary($("paste-summary"), [
      ["reranker", body.model || "?"],
      ["passages", String(passages.length)],
      ["tokens", body.usage ? String(body.usage.total_tokens) : "—"],
      ["round trip", `${elapsed.toFixed(0)} ms`],
      ["server", body.meta && body.meta.rerank_ms !== undefined ? `${body.meta.rerank_ms.toFixed(1)} ms` : "—"],
    ]);
  } catch (err) {
    showError(err.message);
  } finally {
    button.disabled = false;
  }
}

function selectTab(tab) {
  for (const t of document.querySelectorAll('[role="tab"]')) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    $(t.dataset.panel).hidden = !selected;
  }
  showError("");
}

async function loadStatus() {
  try {
    const health = await call("GET", "/health");
    $("status-reranker").textContent = "reranker: " + describeReranker(health.reranker);
    $("status-index").textContent = `index "${health.index.name}": ${health.index.passages} passages`;
    const fallback = health.reranker && health.reranker.fallback_from;
    const box = $("status-fallback");
    box.hidden = !fallback;
    if (fallback) box.textContent = `FALLBACK: ${fallback} could not be loaded (${health.reranker.fallback_reason})`;
    if (health.reranker_error) showError("The reranker is not loaded: " + health.reranker_error);
  } catch (err) {
    $("status-reranker").textContent = "reranker: unknown (" + err.message + ")";
  }
}

for (const tab of document.querySelectorAll('[role="tab"]')) tab.addEventListener("click", () => selectTab(tab));
$("search-form").addEventListener("submit", search);
$("paste-form").addEventListener("submit", rerankPasted);
loadStatus();
