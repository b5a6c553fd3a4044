// The Backup window: reads /api/v1, listens to /api/v1/events, and redraws.
// No framework and nothing fetched from elsewhere, so the page works offline.
"use strict";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const state = { status: null, jobs: new Map(), lastOp: 0, oldestOp: null, errorsOnly: false,
  drill: null, editing: null, archives: null, parts: [], archiveJob: null };

// ---- helpers -------------------------------------------------------------------

/** What kind of place a destination's target is. */
function targetKind(target) {
  const scheme = /^([a-z0-9]+):\/\//.exec(target);
  return { s3: "S3 bucket", sftp: "SFTP server", webdav: "WebDAV server", webdavs: "WebDAV server" }[scheme && scheme[1]] || "local folder";
}

/** The session's CSRF token, which every request that changes something carries (its
 * cookie is named by the port: two services on one machine keep their own). */
function csrfToken() {
  const port = location.port || (location.protocol === "https:" ? "443" : "80");
  const name = `triplicate_csrf_${port}=`;
  const found = document.cookie.split(/;\s*/).find((c) => c.startsWith(name));
  return found ? found.slice(name.length) : "";
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options, headers: { "X-CSRF-Token": csrfToken(), ...(options.headers || {}) } };
  if (init.body !== undefined && typeof init.body !== "string") {
    init.body = JSON.stringify(init.body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(API + path, init);
  if (response.status === 401) { location.reload(); throw new Error("signed out"); }
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error((data && data.error) || response.statusText);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    // Through the CSSOM: the page's CSP forbids style attributes.
    else if (k === "style") Object.assign(node.style, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
}

function duration(secs) {
  if (secs === undefined || secs === null) return "–";
  if (secs < 90) return Math.round(secs) + " s";
  if (secs < 5400) return Math.round(secs / 60) + " min";
  if (secs < 172800) return (secs / 3600).toFixed(1) + " h";
  return Math.round(secs / 86400) + " days";
}

function ago(unix) {
  if (!unix) return "never";
  const secs = Date.now() / 1000 - unix;
  if (secs < 5) return "just now";
  return duration(secs) + " ago";
}

function when(unix) {
  const d = new Date(unix * 1000);
  const today = new Date();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return d.toDateString() === today.toDateString() ? time : d.toLocaleDateString() + " " + time;
}

let toastTimer = null;
function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
}

// Runs fn at most once per `ms`, and always once after the last call: a steady stream
// of events (a long backup) refreshes at a steady pace instead of never or always.
function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
  };
}

// ---- status: destinations and warnings ------------------------------------------

// The library's states, as the page names and colours them.
function stateOf(d) {
  switch (d.state) {
    case "ok": return { label: "ok", cls: "ok" };
    case "backing up": return { label: "backing up", cls: "busy" };
    case "disabled": return { label: "paused", cls: "paused" };
    case "not mounted": return { label: "not mounted", cls: "bad" };
    case "full": return { label: "full", cls: "bad" };
    case "in use": return { label: "busy elsewhere", cls: "paused" };
    // A cold destination in its drawer: where it should be.
    case "offline": return { label: "away (cold)", cls: d.refresh_due ? "warn" : "paused" };
    default: return { label: d.state === "error" ? "unreachable" : d.state, cls: "bad" };
  }
}

async function loadStatus() {
  const s = await api("/status");
  state.status = s;
  $("node").textContent = "node " + s.node + " · triplicate " + s.version;
  $("policy").textContent = `${s.policy.copies} copies, ${s.policy.media} kinds of media, ${s.policy.offsite} offsite`;
  for (const job of s.jobs) state.jobs.set(job.id, job);
  drawDestinations(s.destinations);
  drawWarnings(s.warnings);
  const d = s.deleted;
  $("deleted-note").hidden = !d || d.photos === 0;
  if (d && d.photos) {
    const where = Object.entries(d.kept_in).map(([n, k]) => `${n}: ${k}`).join(", ");
    $("deleted-note").textContent = `Deleted from the library, kept in backups: ${d.kept} of ${d.photos} photos (${bytes(d.bytes)})` +
      (where ? `; copies at ${where}` : "") + ". Deletions never reach the backups: ";
    const link = document.createElement("a");
    link.href = "api/v1/deleted";
    link.textContent = "the list";
    $("deleted-note").append(link, " (or `triplicate restore --deleted --list`); `triplicate restore --deleted --to DIR` brings them back.");
  }
  $("service-alarm").hidden = !s.alarm;
  $("service-alarm-text").textContent = s.alarm ? s.alarm.message : "";
  const p = s.protection;
  $("alarm").hidden = !p.alarm;
  $("alarm-text").textContent = p.alarm || "";
  $("held-note").hidden = p.held === 0;
  $("held-note").textContent = `${p.held} changes held back from the backups` +
    (p.bit_rot ? ` (${p.bit_rot} possible bit rot)` : "") +
    ": the backups keep the earlier versions. `triplicate accept-changes --list` shows them.";
  if (p.append_only) $("node").textContent += " · append-only";
  drawJobs();
  drawSettingsList();
}

function drawDestinations(list) {
  const box = $("destinations");
  box.replaceChildren();
  if (list.length === 0) {
    box.append(el("p", { class: "muted" }, "No destinations yet. Add one with the ", el("b", {}, "⚙"), " button."));
  }
  for (const d of list) {
    const st = stateOf(d);
    const space = d.space;
    const used = space && space.total ? 100 * (1 - space.free / space.total) : null;
    const card = el("article", { class: "card " + st.cls, dataset: { dest: d.name, state: st.label } },
      el("header", {},
        el("h3", {}, d.name),
        el("span", { class: "state " + st.cls, dataset: { role: "state" } }, st.label)),
      el("div", { class: "where" }, d.target),
      el("div", { class: "tags" },
        el("span", { class: "tag" }, targetKind(d.target)),
        el("span", { class: "tag" }, d.media),
        el("span", { class: "tag" }, d.site === "onsite" ? "onsite" : "offsite: " + d.site),
        d.encrypted ? el("span", { class: "tag", title: "copies are stored encrypted with age" }, "age-encrypted") : null,
        d.automatic ? null : el("span", { class: "tag" }, "manual"),
        d.offline ? el("span", { class: "tag", title: "a cold destination, refreshed by hand now and then" }, "cold") : null,
        d.immutable
          ? el("span", { class: "tag", dataset: { role: "immutable" }, title: "the store refuses to delete or replace copies" }, "immutable")
          : el("span", { class: "tag", dataset: { role: "immutable" }, title: "anyone with write access there could delete copies: keep another copy offsite or cold" }, "not immutable")),
      d.detail ? el("div", { class: "detail" }, d.detail) : null,
      d.device_note ? el("div", { class: "detail bad", dataset: { role: "device-note" } }, d.device_note) : null,
      space ? el("div", { title: `${bytes(space.free)} free of ${bytes(space.total)}` },
        el("div", { class: "space" }, el("span", { style: { width: `${used.toFixed(1)}%` } })),
        el("small", { class: "muted" }, `${bytes(space.free)} free of ${bytes(space.total)}`)) : null,
      el("div", { class: "counts" },
        el("div", {}, el("b", {}, d.verified), "verified"),
        el("div", {}, el("b", {}, d.pending), "pending"),
        el("div", { class: d.failed ? "bad" : "" }, el("b", {}, d.failed), "failed")),
      proofsLine(d),
      drillLine(d),
      el("footer", {},
        el("span", {}, d.offline ? "refreshed " + ago(d.last_refreshed) + (d.refresh_due ? " · refresh due" : "") :
          "last success " + ago(d.last_success)),
        el("label", { class: "switch", title: "Back up automatically as photos arrive" },
          el("input", { type: "checkbox", checked: d.automatic, dataset: { role: "automatic" },
            onchange: (e) => setDestination(d.name, { automatic: e.target.checked }) }),
          "automatic"),
        el("button", { type: "button", class: "small", onclick: () => openSettings(d.name) }, "Edit")));
    box.append(card);
  }
}

/// The scheduled checks' coverage of a destination: the share of its copies read back
/// within verify.every, the oldest check, and copies overdue.
function proofsLine(d) {
  const p = d.proofs;
  if (!p || p.copies === 0) return null;
  const share = Math.floor((100 * p.within) / p.copies);
  const overdue = p.overdue ? ` · VERIFICATION OVERDUE for ${p.overdue}` : "";
  return el("div", { class: "detail" + (p.overdue ? " bad" : ""), dataset: { role: "proofs" } },
    `checked within ${d.verify_every}: ${share}% · oldest check ${ago(d.oldest_verification)}${overdue}`);
}

function drillLine(d) {
  const drill = d.last_drill;
  if (!drill) return null;
  return el("div", { class: "detail" + (drill.ok ? "" : " bad"), dataset: { role: "drill" } },
    drill.ok ? `restore drill ${ago(drill.at)}: ${drill.photos} photos back, byte for byte`
      : `restore drill ${ago(drill.at)} FAILED: ${drill.message}`);
}

function drawWarnings(list) {
  const ul = $("warnings");
  ul.replaceChildren();
  $("problems").hidden = list.length === 0;
  for (const w of list) {
    const subject = w.subject.replace(/^dest:/, "destination ").replace(/^library:/, "library ");
    ul.append(el("li", { class: "warning" + (w.acknowledged_at ? " seen" : ""), dataset: { kind: w.kind, subject: w.subject } },
      el("span", { class: "what" }, `${subject}: ${w.kind}`),
      el("span", {}, w.message),
      el("span", { class: "advice" }, "What to do: " + w.advice),
      el("span", { class: "meta" },
        el("span", {}, `since ${when(w.first_at)}` + (w.count > 1 ? ` · ${w.count} times` : "")),
        w.acknowledged_at ? el("span", {}, "acknowledged") :
          el("button", { type: "button", class: "small", onclick: () => acknowledge(w.id) }, "Acknowledge"))));
  }
}

async function acknowledge(id) {
  try { await api(`/warnings/${id}/acknowledge`, { method: "POST" }); await loadStatus(); }
  catch (e) { toast(e.message); }
}

async function setDestination(name, change) {
  try {
    await api(`/destinations/${encodeURIComponent(name)}`, { method: "PATCH", body: change });
    await loadStatus();
  } catch (e) { toast(e.message); await loadStatus(); }
}

// ---- coverage --------------------------------------------------------------------

async function loadCoverage() {
  const c = await api("/coverage");
  const s = c.summary;
  $("coverage-protected").textContent = s.protected;
  $("coverage-at-risk").textContent = s.at_risk;
  $("coverage-photos").textContent = s.photos;
  $("coverage-time").textContent = s.median_time_to_protected === null ? "–" : duration(s.median_time_to_protected);
  const notes = [];
  if (s.unreadable) notes.push(`${s.unreadable} cannot be read, so have no copy anywhere`);
  if (s.left_out) notes.push(`${s.left_out} files not backed up by choice (include rules)`);
  $("coverage-notes").textContent = notes.join(" · ");
  $("coverage-notes").hidden = notes.length === 0;
  const chart = $("chart");
  chart.replaceChildren();
  if (c.folders.length === 0) chart.append(el("p", { class: "muted" }, "No photos yet."));
  const many = new Set(c.folders.map((f) => f.library)).size > 1;
  // Newest date folders first.
  for (const f of [...c.folders].reverse()) {
    const pct = (n) => (100 * n / f.photos).toFixed(2) + "%";
    const name = (many ? f.library + "/" : "") + (f.folder || "(top)");
    const risk = f.partial + f.unprotected;
    chart.append(el("button", { type: "button", class: "row", dataset: { folder: f.folder, library: f.library },
      title: `${name}: ${f.protected} protected, ${f.partial} short of 3-2-1, ${f.unprotected} without backup`,
      onclick: () => openDrill(f.library, f.folder, name) },
      el("span", { class: "label" }, name),
      el("span", { class: "bar" },
        el("span", { class: "protected", style: { width: `${pct(f.protected)}` } }),
        el("span", { class: "partial", style: { width: `${pct(f.partial)}` } }),
        el("span", { class: "unprotected", style: { width: `${pct(f.unprotected)}` } })),
      el("span", { class: "count" }, risk ? `${risk} at risk` : `${f.photos} safe`)));
  }
  if (state.drill) loadDrill(true);
}

function openDrill(library, folder, name) {
  state.drill = { library, folder, name, offset: 0 };
  loadDrill(true);
}

async function loadDrill(fresh) {
  const d = state.drill;
  if (fresh) { d.offset = 0; $("drill-rows").replaceChildren(); }
  const q = new URLSearchParams({ offset: d.offset, limit: 100 });
  if (d.library !== null) q.set("library", d.library);
  if (d.folder !== null) q.set("folder", d.folder);
  const a = await api("/coverage/at-risk?" + q);
  $("drill").hidden = false;
  $("drill-title").textContent = `At risk in ${d.name}: ${a.total}`;
  for (const p of a.photos) {
    $("drill-rows").append(el("tr", {},
      el("td", {}, `${p.library}/${p.path}`),
      el("td", {}, p.description, ...p.reasons.map((r) => el("div", { class: "muted", dataset: { role: "reason" } }, r))),
      el("td", {}, p.lacks.map((l) => ({ copies: "more copies", media: "another kind of media", offsite: "an offsite copy" }[l] || l)).join(", "))));
  }
  if (a.total === 0) $("drill-rows").append(el("tr", {}, el("td", { colspan: 3 }, "Nothing: every photo here is protected.")));
  d.offset += a.photos.length;
  $("drill-more").hidden = d.offset >= a.total;
}

// ---- card ingest -----------------------------------------------------------------

async function loadIngests() {
  drawIngests(await api("/ingests"));
}

function drawIngests(list) {
  $("ingest-panel").hidden = list.length === 0;
  const ul = $("ingests");
  ul.replaceChildren();
  for (const r of list) {
    const copies = r.destinations.map((d) => d.state === "ok" ? `${d.name}: ${d.written} written, ${d.already} there already${d.failed ? `, ${d.failed} failed` : ""}` : `${d.name}: ${d.state}`);
    ul.append(el("li", { class: "ingest", dataset: { run: r.run, safe: String(r.verdict.safe) } },
      el("span", { class: "head" },
        el("span", { class: "state " + (r.verdict.safe ? "ok" : "bad") }, r.verdict.safe ? "SAFE TO FORMAT" : "NOT SAFE TO FORMAT"),
        el("strong", {}, r.label),
        el("span", { class: "muted" }, `${r.card} · ${when(r.finished_at)}`)),
      el("span", {}, `${r.files} files, ${bytes(r.bytes)} into ${r.library}: ${r.copied} copied, ${r.already} there already` + (copies.length ? ` · ${copies.join(" · ")}` : "")),
      r.verdict.safe ? el("span", { class: "muted" }, `Every file has ${r.verdict.rule.replace(/^every file has /, "")}.`) :
        el("ul", { class: "reasons" }, ...r.verdict.reasons.map((x) => el("li", {}, x)))));
  }
}

// ---- GRID ------------------------------------------------------------------------

async function loadGrid() {
  drawGrid(await api("/grid-status"));
}

function drawGrid(g) {
  const c = g.coverage;
  $("grid-summary").textContent = g.nodes.length > 1
    ? `· ${g.nodes.length} nodes · GRID-wide ${c.protected} of ${c.photos} photos protected`
    : "· this node only";
  const rows = $("grid-nodes");
  rows.replaceChildren();
  for (const n of g.nodes) {
    const lag = n.receives ? "central node" : g.central.length === 0 ? "no central node"
      : n.not_on_central === 0 ? "none" : `${n.not_on_central} (oldest ${ago(n.oldest_not_on_central)})`;
    const contact = n.this_node ? "this node" : n.last_contact ? ago(n.last_contact) : "through other peers";
    rows.append(el("tr", { dataset: { node: n.name, lag: String(n.not_on_central) } },
      el("td", {}, el("strong", {}, n.name)), el("td", {}, n.site), el("td", {}, n.photos),
      el("td", { class: n.not_on_central ? "warn" : "" }, lag), el("td", {}, contact)));
  }
  const peers = $("grid-peers");
  peers.replaceChildren();
  for (const p of g.peers) {
    const failing = p.last_error && (!p.last_contact || p.error_at >= p.last_contact);
    peers.append(el("li", { dataset: { peer: p.name, state: failing ? "failing" : p.last_contact ? "ok" : "new" } },
      el("span", {}, el("strong", {}, p.name), " ", el("span", { class: "muted" }, p.url),
        p.sync_photos ? el("span", { class: "muted" }, " · receives this node's photos") : null,
        failing ? el("span", { class: "bad" }, " · " + p.last_error) : null),
      el("button", { type: "button", class: "small danger", onclick: () => removePeer(p.name) }, "Remove")));
  }
}

async function addPeer(event) {
  event.preventDefault();
  const form = event.target;
  const error = $("peer-error");
  error.hidden = true;
  $("peer-add").disabled = true;
  try {
    const peer = await api("/peers", { method: "POST", body: {
      url: form.url.value.trim(), token: form.token.value.trim(), fingerprint: form.fingerprint.value.trim(),
      sync_photos: form.sync_photos.checked } });
    toast(`Added peer ${peer.name}.`);
    form.reset();
    await loadGrid();
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  } finally {
    $("peer-add").disabled = false;
  }
}

async function removePeer(name) {
  if (!confirm(`Remove peer ${name}? What it sent stays here.`)) return;
  try {
    await api(`/peers/${encodeURIComponent(name)}`, { method: "DELETE" });
    toast(`Removed peer ${name}.`);
    await loadGrid();
  } catch (e) { toast(e.message); }
}

// ---- jobs ------------------------------------------------------------------------

function drawJobs() {
  const ul = $("jobs");
  ul.replaceChildren();
  const jobs = [...state.jobs.values()].sort((a, b) => {
    const rank = (j) => ({ running: 0, queued: 1 }[j.state] ?? 2);
    return rank(a) - rank(b) || b.id - a.id;
  });
  // Quiet automatic passes that moved nothing are not worth a line.
  const shown = jobs.filter((j) => j.state === "running" || j.state === "queued" || j.kind !== "automatic" || j.files_planned > 0 || j.state === "failed").slice(0, 8);
  if (shown.length === 0) ul.append(el("li", { class: "muted" }, "Nothing running. New photos are backed up as they arrive."));
  for (const j of shown) {
    const total = j.bytes_planned || 0;
    const pct = j.state === "done" ? 100 : total ? Math.min(100, 100 * j.bytes_done / total) :
      j.files_planned ? 100 * j.files_done / j.files_planned : 0;
    ul.append(el("li", { class: "job " + j.state, dataset: { job: j.id, kind: j.kind, state: j.state } },
      el("div", { class: "head" },
        el("b", {}, j.title),
        el("span", { class: "muted" }, j.state === "running" ? (j.phase || "running") : j.state +
          (j.finished_at ? " " + ago(j.finished_at) : ""))),
      el("div", { class: "progress" }, el("span", { style: { width: `${pct.toFixed(1)}%` } })),
      el("div", { class: "numbers" },
        j.kind === "archive" ? el("span", {}, j.stages.length && j.stage !== null ? `stage ${j.stage + 1} of ${j.stages.length}` : "") :
          el("span", {}, `${j.files_done} of ${j.files_planned} ${j.kind === "verify" ? "checks" : "copies"}`),
        el("span", {}, `${bytes(j.bytes_done)} of ${bytes(j.bytes_planned)}`),
        j.state === "running" ? el("span", {}, `${bytes(j.speed)}/s`) : null,
        j.state === "running" && j.eta_seconds !== null ? el("span", {}, `about ${duration(j.eta_seconds)} left`) : null,
        j.files_failed ? el("span", { class: "bad" }, `${j.files_failed} failed`) : null,
        j.active_destinations.length ? el("span", {}, "→ " + j.active_destinations.join(", ")) : null),
      j.summary ? el("div", { class: "muted" }, j.summary) : null));
  }
}

async function act(path, body, what) {
  try {
    const job = await api(path, { method: "POST", body });
    state.jobs.set(job.id, job);
    drawJobs();
    toast(what);
  } catch (e) { toast(e.message); }
}

// ---- backups (archives) -----------------------------------------------------------

async function loadArchives() {
  state.archives = await api("/archives");
  drawArchives();
}

function drawArchives() {
  const data = state.archives;
  const box = $("archives");
  box.replaceChildren();
  if (!data.archives.length) box.append(el("p", { class: "muted" }, "No backups yet. Create one before an upgrade, a migration or a clean-up."));
  for (const [kind, title] of [["config", "Configuration"], ["images", "Images"]]) {
    const list = data.archives.filter((a) => a.kind === kind);
    if (!list.length) continue;
    box.append(el("h3", {}, title),
      el("div", { class: "scroll" }, el("table", { class: "list archives", dataset: { kind } },
        el("thead", {}, el("tr", {}, el("th", {}, "Created"), el("th", {}, "Holds"), el("th", {}, "Size"), el("th", {}, ""))),
        el("tbody", {}, list.map(archiveRow)))));
  }
  for (const b of data.broken) box.append(el("p", { class: "bad" }, b));
}

function archiveRow(a) {
  const holds = a.kind === "config" ? a.sections.join(", ") : `${a.folders.length} date folder${a.folders.length === 1 ? "" : "s"}`;
  const id = encodeURIComponent(a.id);
  return el("tr", { dataset: { archive: a.id } },
    el("td", {}, when(Date.parse(a.created) / 1000), a.pinned ? el("span", { class: "pill" }, "pinned") : null),
    el("td", {}, holds, el("div", { class: "muted" }, `${a.files} files, ${bytes(a.content_size)}`)),
    el("td", {}, bytes(a.size), el("div", { class: "muted" }, a.compression === "zstd" ? ".tar.zst" : ".tar.gz")),
    el("td", { class: "row-actions" },
      el("button", { type: "button", class: "small", dataset: { action: "info" }, onclick: () => archiveInfo(a.id) }, "Info"),
      el("button", { type: "button", class: "small", dataset: { action: "verify" }, onclick: (e) => archiveVerify(a.id, e.target) }, "Verify"),
      el("a", { class: "button", href: `${API}/archives/${id}/download`, download: "", dataset: { action: "download" } }, "Download"),
      el("button", { type: "button", class: "small danger", dataset: { action: "delete" }, onclick: () => archiveDelete(a) }, "Delete")));
}

async function archiveInfo(id) {
  try {
    const info = await api(`/archives/${encodeURIComponent(id)}`);
    const m = info.manifest;
    $("ai-title").textContent = `Backup ${m.id}`;
    $("ai-body").replaceChildren(
      el("p", {}, `${m.kind === "config" ? "Configuration" : "Images"} from node ${m.node}, made ${m.created} by ${m.tool}.`),
      m.sections.length ? el("p", {}, "Sections: " + m.sections.join(", ")) : null,
      m.folders.length ? el("p", {}, "Folders: " + m.folders.join(", ")) : null,
      el("p", {}, `${m.files.length} files, ${bytes(m.files.reduce((n, f) => n + f.size, 0))}; the file is ${bytes(info.archive.size)}.`),
      el("pre", { class: "files" }, m.files.slice(0, 200).map((f) => `${f.path}  ${bytes(f.size)}  ${f.blake3.slice(0, 16)}`).join("\n") +
        (m.files.length > 200 ? `\n… and ${m.files.length - 200} more` : "")),
      info.log ? el("h3", {}, "Log") : null,
      info.log ? el("pre", { class: "log" }, info.log) : null);
    $("archive-info").showModal();
  } catch (e) { toast(e.message); }
}

async function archiveVerify(id, button) {
  button.disabled = true;
  button.textContent = "Verifying…";
  try {
    const v = await api(`/archives/${encodeURIComponent(id)}/verify`, { method: "POST" });
    const ok = v.problems.length === 0;
    button.textContent = ok ? `OK: ${v.files} files match` : `${v.problems.length} problems`;
    button.className = "small " + (ok ? "verified-ok" : "danger");
    button.dataset.verified = ok ? "ok" : "bad";
    toast(ok ? "Every file matches its manifest." : v.problems.slice(0, 3).join("; "));
  } catch (e) { button.textContent = "Verify"; toast(e.message); }
  button.disabled = false;
}

async function archiveDelete(a) {
  if (!confirm(`Delete the backup of ${a.created}? This cannot be undone.`)) return;
  try {
    await api(`/archives/${encodeURIComponent(a.id)}`, { method: "DELETE" });
    toast("Backup deleted.");
    await loadArchives();
  } catch (e) { toast(e.message); }
}

async function uploadArchive(event) {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  toast(`Uploading ${file.name} and checking every file…`);
  try {
    const response = await fetch(API + "/archives/upload", {
      method: "POST", credentials: "same-origin", body: file,
      headers: { "Content-Type": "application/octet-stream", "X-CSRF-Token": csrfToken() },
    });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    toast(`Backup ${data.id} uploaded: every file matches its manifest.`);
    await loadArchives();
  } catch (e) { toast("Upload refused: " + e.message); }
}

const archiveKind = () => document.querySelector('#archive-form [name="kind"]:checked').value;
const chosenParts = () => [...document.querySelectorAll("#archive-parts input:checked")].map((i) => i.value);

async function openCreateBackup() {
  $("archive-error").hidden = true;
  for (const box of document.querySelectorAll("#archive-checklist input")) box.checked = false;
  $("archive-dialog").showModal();
  await Promise.all([loadArchives(), loadParts()]).catch((e) => toast(e.message));
}

async function loadParts() {
  const kind = archiveKind();
  const box = $("archive-parts");
  state.parts = [];
  box.replaceChildren(el("p", { class: "muted" }, "Measuring…"));
  drawTotal();
  const parts = await api("/archives/estimate", { method: "POST", body: { kind } });
  if (kind !== archiveKind()) return;
  state.parts = parts;
  if (!parts.length) box.replaceChildren(el("p", { class: "muted" }, "No date folders in the libraries."));
  else box.replaceChildren(...parts.map((p) => el("label", { class: "check", dataset: { part: p.name } },
    el("input", { type: "checkbox", value: p.name, checked: true, disabled: kind === "config" && p.name === "core", onchange: drawTotal }),
    el("span", {}, p.name === "core" ? "core (always)" : p.name, p.description ? el("span", { class: "muted" }, " " + p.description) : null),
    el("span", { class: "sizes" }, `${p.files} files, ${bytes(p.raw)} → ~${bytes(p.compressed)}`))));
  drawTotal();
}

function drawTotal() {
  const chosen = new Set(chosenParts());
  const parts = (state.parts || []).filter((p) => chosen.has(p.name));
  const raw = parts.reduce((n, p) => n + p.raw, 0);
  const compressed = parts.reduce((n, p) => n + p.compressed, 0);
  const free = state.archives ? state.archives.free : null;
  $("archive-total").textContent = parts.length ? `${parts.length} part${parts.length === 1 ? "" : "s"}: ${bytes(raw)}, about ${bytes(compressed)} compressed.` : "";
  $("check-room").textContent = free === null ? "There is room for it in the archives folder." :
    `There is room for it: about ${bytes(compressed)} needed, ${bytes(free)} free in ${state.archives.folder}.`;
  const ticked = [...document.querySelectorAll("#archive-checklist input")].every((b) => b.checked);
  $("archive-go").disabled = !(ticked && parts.length);
}

async function createBackup(event) {
  event.preventDefault();
  const kind = archiveKind();
  const chosen = chosenParts();
  const body = { kind, compression: document.querySelector('#archive-form [name="zstd"]').checked ? "zstd" : "gzip" };
  if (kind === "config") body.sections = chosen.filter((n) => n !== "core");
  // Every folder ticked: all of them (folders that appear meanwhile included).
  else body.folders = chosen.length === state.parts.length ? [] : chosen;
  try {
    const job = await api("/archives", { method: "POST", body });
    state.archiveJob = job.id;
    state.jobs.set(job.id, job);
    drawJobs();
    $("archive-dialog").close();
    $("archive-progress").showModal();
    drawArchiveProgress(job);
  } catch (e) {
    $("archive-error").textContent = e.message;
    $("archive-error").hidden = false;
  }
}

function drawArchiveProgress(job) {
  if (job.id !== state.archiveJob) return;
  const dlg = $("archive-progress");
  dlg.dataset.state = job.state;
  $("ap-title").textContent = job.title;
  const finished = job.state === "done" || job.state === "failed";
  const stages = job.stages || [];
  $("ap-stages").replaceChildren(...stages.map((s, i) => el("li", {
    class: job.state === "done" || (job.stage !== null && i < job.stage) ? "done" : i === job.stage && !finished ? "current" : "",
  }, s)));
  // The whole: stages done, and the share of the current one.
  const share = job.bytes_planned ? Math.min(1, job.bytes_done / job.bytes_planned) : 0;
  const pct = job.state === "done" ? 100 : stages.length && job.stage !== null ? 100 * (job.stage + share) / stages.length : 0;
  $("ap-bar").style.width = `${pct.toFixed(1)}%`;
  $("ap-percent").textContent = `${Math.round(pct)}%`;
  $("ap-text").textContent = finished ? (job.summary || job.state) :
    job.state === "queued" ? "Waiting for the job before it…" :
    job.phase + (job.bytes_planned ? ` (${bytes(job.bytes_done)} of ${bytes(job.bytes_planned)})` : "");
  $("ap-warnings").replaceChildren(...(job.warnings || []).map((w) => el("li", {}, w)));
  if (finished) loadArchives().catch(() => {});
}

// ---- operations ------------------------------------------------------------------

function opRow(op) {
  const failed = !["verified", "repaired", "ok", "kept", "removed"].includes(op.outcome);
  return el("tr", { class: failed ? "failed" : "", dataset: { op: op.id } },
    el("td", {}, when(op.at)),
    el("td", {}, op.kind),
    el("td", {}, op.dest || ""),
    el("td", {}, op.path || ""),
    el("td", {}, op.outcome + (op.message ? ": " + op.message : "")));
}

async function loadOperations() {
  const q = new URLSearchParams({ limit: 50 });
  if (state.errorsOnly) q.set("errors", "true");
  const a = await api("/operations?" + q);
  const body = $("operations");
  body.replaceChildren(...a.operations.map(opRow));
  if (a.operations.length === 0) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "Nothing yet.")));
  state.lastOp = a.operations.length ? a.operations[0].id : state.lastOp;
  state.oldestOp = a.next_before;
  $("older").hidden = !a.next_before;
}

async function newerOperations() {
  const q = new URLSearchParams({ after: state.lastOp, limit: 200 });
  if (state.errorsOnly) q.set("errors", "true");
  const a = await api("/operations?" + q);
  if (a.operations.length === 0) return;
  const body = $("operations");
  if (body.querySelector("td[colspan]")) body.replaceChildren();
  body.prepend(...a.operations.map(opRow));
  state.lastOp = a.operations[0].id;
  while (body.children.length > 300) body.lastChild.remove();
}

async function olderOperations() {
  const q = new URLSearchParams({ before: state.oldestOp, limit: 50 });
  if (state.errorsOnly) q.set("errors", "true");
  const a = await api("/operations?" + q);
  $("operations").append(...a.operations.map(opRow));
  state.oldestOp = a.next_before;
  $("older").hidden = !a.next_before;
}

// ---- settings --------------------------------------------------------------------

function drawSettingsList() {
  const ul = $("settings-list");
  const list = state.status ? state.status.destinations : [];
  // Redrawn only when it changed: a redraw under a person's click would lose the click.
  const drawn = JSON.stringify(list.map((d) => [d.name, d.media, d.site, d.automatic]));
  if (ul.dataset.drawn === drawn) return;
  ul.dataset.drawn = drawn;
  ul.replaceChildren();
  if (list.length === 0) ul.append(el("li", { class: "muted" }, "None yet."));
  for (const d of list) {
    ul.append(el("li", { dataset: { dest: d.name } },
      el("span", {}, el("b", {}, d.name), " ", el("span", { class: "muted" }, `${d.media}, ${d.site}`)),
      el("span", { class: "row" },
        el("label", { class: "switch" },
          el("input", { type: "checkbox", checked: d.automatic, dataset: { role: "automatic" },
            onchange: (e) => setDestination(d.name, { automatic: e.target.checked }) }), "automatic"),
        el("button", { type: "button", class: "small", onclick: () => editDestination(d.name) }, "Edit"))));
  }
}

function openSettings(name) {
  const dialog = $("settings");
  if (!dialog.open) dialog.showModal();
  if (name) editDestination(name); else resetForm();
  loadChannels().catch((e) => toast(e.message));
}

// ---- notification channels ---------------------------------------------------------

async function loadChannels() {
  const list = await api("/notify/channels");
  const ul = $("channels");
  ul.replaceChildren();
  if (list.length === 0) ul.append(el("li", { class: "muted" }, "None yet: nobody is told when something goes wrong."));
  for (const c of list) {
    const to = c.to.length ? ` → ${c.to.join(", ")}` : "";
    ul.append(el("li", { dataset: { channel: c.name } },
      el("span", {}, el("b", {}, c.name), " ", el("span", { class: "muted" }, `${c.kind}, ${c.target}${to}`),
        el("span", { class: "muted", dataset: { role: "result" } })),
      el("span", { class: "row" },
        el("button", { type: "button", class: "small", onclick: (e) => testChannels(c.name, e.target) }, "Send test"),
        el("button", { type: "button", class: "small danger", onclick: () => removeChannel(c.name) }, "Remove"))));
  }
}

async function testChannels(name, button) {
  if (button) button.disabled = true;
  try {
    const results = await api("/notify/test", { method: "POST", body: name ? { name } : {} });
    for (const r of results) {
      const li = document.querySelector(`#channels li[data-channel="${CSS.escape(r.channel)}"] [data-role="result"]`);
      if (li) {
        li.textContent = r.sent ? " · test sent" : ` · NOT SENT: ${r.error}`;
        li.className = r.sent ? "muted" : "bad";
      }
    }
    const failed = results.filter((r) => !r.sent);
    toast(failed.length ? `Not sent through ${failed.map((r) => r.channel).join(", ")}.` : "Test message sent.");
  } catch (e) { toast(e.message); } finally { if (button) button.disabled = false; }
}

async function addChannel(event) {
  event.preventDefault();
  const form = event.target;
  const error = $("channel-error");
  error.hidden = true;
  $("channel-add").disabled = true;
  try {
    const c = await api("/notify/channels", { method: "POST", body: {
      name: form.name.value.trim(), kind: form.kind.value, url: form.url.value.trim(),
      to: form.to.value.split(",").map((t) => t.trim()).filter((t) => t),
      from: form.from.value.trim() || null, credentials_file: form.credentials_file.value.trim() || null,
      severity: form.severity.value } });
    toast(`Added channel ${c.name}; send it a test message.`);
    form.reset();
    await loadChannels();
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
  } finally {
    $("channel-add").disabled = false;
  }
}

async function removeChannel(name) {
  if (!confirm(`Remove channel ${name}? Nothing more is sent through it.`)) return;
  try {
    await api(`/notify/channels/${encodeURIComponent(name)}`, { method: "DELETE" });
    toast(`Removed channel ${name}.`);
    await loadChannels();
  } catch (e) { toast(e.message); }
}

function resetForm() {
  const f = $("dest-form");
  f.reset();
  state.editing = null;
  f.elements.name.disabled = false;
  f.elements.target.disabled = false;
  $("form-title").textContent = "Add a destination";
  $("dest-save").textContent = "Add destination";
  $("dest-cancel").hidden = true;
  $("dest-remove").hidden = true;
  $("form-error").hidden = true;
}

async function editDestination(name) {
  const d = await api(`/destinations/${encodeURIComponent(name)}`);
  const f = $("dest-form");
  state.editing = name;
  f.elements.name.value = d.name;
  f.elements.name.disabled = true;
  f.elements.target.value = d.target;
  f.elements.target.disabled = true;
  f.elements.media.value = d.media;
  f.elements.site.value = d.site;
  f.elements.layout.value = d.layout;
  f.elements.automatic.checked = d.automatic;
  f.elements.enabled.checked = d.enabled;
  $("form-title").textContent = `Edit ${d.name}`;
  $("dest-save").textContent = "Save";
  $("dest-cancel").hidden = false;
  $("dest-remove").hidden = false;
  $("form-error").hidden = true;
}

async function saveDestination(event) {
  event.preventDefault();
  const f = event.target.elements;
  const error = $("form-error");
  error.hidden = true;
  $("dest-save").disabled = true;
  try {
    if (state.editing) {
      await api(`/destinations/${encodeURIComponent(state.editing)}`, { method: "PATCH", body: {
        media: f.media.value, site: f.site.value, layout: f.layout.value || undefined,
        automatic: f.automatic.checked, enabled: f.enabled.checked } });
      toast(`Saved ${state.editing}.`);
    } else {
      const added = await api("/destinations", { method: "POST", body: { create: f.create.checked,
        name: f.name.value.trim(), target: f.target.value.trim(), media: f.media.value,
        site: f.site.value.trim(), layout: f.layout.value.trim() || undefined, automatic: f.automatic.checked } });
      if (!f.enabled.checked) await api(`/destinations/${encodeURIComponent(added.name)}/disable`, { method: "POST" });
      toast(added.automatic ? `Added ${added.name}: photos start going there now.`
        : `Added ${added.name}: "Back up existing photos" fills it.`);
    }
    resetForm();
    await loadStatus();
  } catch (e) {
    // The refusal names the command line's flag; here it is a box to tick.
    error.textContent = e.message.replace("--create makes the folder", "tick \"Create the folder\" to make it");
    error.hidden = false;
  } finally {
    $("dest-save").disabled = false;
  }
}

async function removeDestination() {
  const name = state.editing;
  if (!name || !confirm(`Forget ${name}? Its copies stay on the disk; Triplicate just stops using it.`)) return;
  try {
    await api(`/destinations/${encodeURIComponent(name)}`, { method: "DELETE" });
    toast(`Forgot ${name}; its data is untouched.`);
    resetForm();
    await refreshAll();
  } catch (e) { toast(e.message); }
}

// ---- live updates ----------------------------------------------------------------

const refreshStatus = throttle(() => loadStatus().catch(() => {}), 500);
// Coverage looks at every photo: at most every 3 s.
const refreshCoverage = throttle(() => loadCoverage().catch(() => {}), 3000);
const refreshOperations = throttle(() => newerOperations().catch(() => {}), 500);
const refreshGrid = throttle(() => loadGrid().catch(() => {}), 3000);

async function refreshAll() {
  await Promise.all([loadStatus(), loadCoverage(), loadOperations(), loadIngests(), loadGrid(), loadArchives()]).catch((e) => toast(e.message));
}

function connect() {
  const live = $("live");
  const source = new EventSource(API + "/events");
  source.addEventListener("hello", () => {
    live.textContent = "live";
    live.classList.remove("off");
    refreshAll();
  });
  source.addEventListener("job", (e) => {
    const { job } = JSON.parse(e.data);
    const before = state.jobs.get(job.id);
    state.jobs.set(job.id, job);
    drawJobs();
    if (job.state !== "running" || !before || before.state !== "running") { refreshStatus(); refreshCoverage(); }
    if (job.kind === "ingest" && job.state !== "running" && job.state !== "queued") loadIngests().catch(() => {});
    if (job.kind === "archive") drawArchiveProgress(job);
  });
  source.addEventListener("status", () => { refreshStatus(); refreshCoverage(); refreshGrid(); });
  source.addEventListener("warnings", refreshStatus);
  source.addEventListener("config", refreshStatus);
  source.addEventListener("operations", refreshOperations);
  source.addEventListener("resync", refreshAll);
  source.onerror = () => {
    live.textContent = "reconnecting…";
    live.classList.add("off");
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("backup-existing").addEventListener("click", () => act("/actions/backup-existing", undefined, "Backing up every photo to every destination…"));
  $("verify-sample").addEventListener("click", () => {
    $("verify-menu").open = false;
    act("/actions/verify", { sample_percent: 5 }, "Verifying 5% of the copies…");
  });
  $("verify-all").addEventListener("click", () => {
    $("verify-menu").open = false;
    act("/actions/verify", {}, "Verifying every copy…");
  });
  $("rescan").addEventListener("click", () => act("/actions/rescan", undefined, "Looking for new photos…"));
  $("gear").addEventListener("click", () => openSettings(null));
  $("sign-out").addEventListener("click", async () => {
    try { await api("/session", { method: "DELETE" }); } finally { location.replace("/"); }
  });
  $("dest-form").addEventListener("submit", saveDestination);
  $("peer-form").addEventListener("submit", addPeer);
  $("channel-form").addEventListener("submit", addChannel);
  $("notify-test-all").addEventListener("click", (e) => testChannels(null, e.target));
  $("dest-cancel").addEventListener("click", resetForm);
  $("dest-remove").addEventListener("click", removeDestination);
  $("drill-close").addEventListener("click", () => { state.drill = null; $("drill").hidden = true; });
  $("drill-more").addEventListener("click", () => loadDrill(false));
  $("show-at-risk").addEventListener("click", () => openDrill(null, null, "every library"));
  $("older").addEventListener("click", olderOperations);
  $("archive-create").addEventListener("click", openCreateBackup);
  $("archive-upload").addEventListener("change", uploadArchive);
  $("archive-form").addEventListener("submit", createBackup);
  for (const radio of document.querySelectorAll('#archive-form [name="kind"]')) {
    radio.addEventListener("change", () => loadParts().catch((e) => toast(e.message)));
  }
  for (const box of document.querySelectorAll("#archive-checklist input")) box.addEventListener("change", drawTotal);
  $("errors-only").addEventListener("change", (e) => { state.errorsOnly = e.target.checked; loadOperations(); });
  refreshAll();
  connect();
  // Relative times ("2 min ago") age even when nothing happens.
  setInterval(refreshStatus, 30000);
  // Peers' news arrives by pulling, not as events here: look every 5 s.
  setInterval(refreshGrid, 5000);
});
