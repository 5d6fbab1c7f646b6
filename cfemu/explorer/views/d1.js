// D1: databases, their tables (schema, row counts), paged rows, migrations, export and an
// SQL console whose query can be shared as a link (?tab=d1&db=<id>&sql=<query>).
let selectedDb = null;
let d1Link = new URLSearchParams(location.search);  // consumed by the first load
const rowsState = { table: null, page: 1, pages: 1 };

function sqlValue(v) {
  if (v === null || v === undefined) return "NULL";
  if (Array.isArray(v)) return "BLOB (" + v.length + " bytes)";
  if (typeof v === "object") return JSON.stringify(v);
  return v;
}

function fillTable(selector, columns, rows) {
  const head = $(selector + " thead");
  const body = $(selector + " tbody");
  head.replaceChildren(); body.replaceChildren();
  const tr = document.createElement("tr");
  for (const c of columns) { const th = document.createElement("th"); th.textContent = c; tr.appendChild(th); }
  head.appendChild(tr);
  for (const row of rows) {
    const r = document.createElement("tr");
    for (const v of row) cell(r, sqlValue(v));
    body.appendChild(r);
  }
}

function dbPath(suffix) { return "/d1/database/" + encodeURIComponent(selectedDb.uuid) + suffix; }

async function runSql(sql) {
  return api("POST", dbPath("/raw"), { sql });
}

function renderResults(result) {
  const last = result[result.length - 1];
  if (!last) { fillTable("#sql-results", [], []); return; }
  fillTable("#sql-results", last.results.columns, last.results.rows);
  const m = last.meta;
  $("#sql-meta").textContent = last.results.rows.length + " row(s); rows read " + m.rows_read + ", written " + m.rows_written + ", " + m.duration + " ms";
}

function queryLink(sql) {
  const params = new URLSearchParams({ tab: "d1", db: selectedDb.uuid, sql });
  return location.pathname + "?" + params.toString();
}

async function showRows(page) {
  const t = rowsState.table;
  const r = await api("GET", dbPath("/tables/" + encodeURIComponent(t.name) + "/rows?per_page=50&page=" + page));
  if (!r.ok) { status(r.error, true); return; }
  rowsState.page = r.info.page; rowsState.pages = r.info.total_pages;
  $("#rows-panel").hidden = false;
  $("#rows-title").textContent = (t.type === "view" ? "View " : "Table ") + t.name;
  $("#rows-sql").textContent = t.sql || "";
  fillTable("#rows-table", r.result.columns, r.result.rows);
  $("#rows-info").textContent = "page " + r.info.page + " of " + r.info.total_pages + " (" + r.info.total_count + " row(s))";
  $("#rows-prev").disabled = r.info.page <= 1;
  $("#rows-next").disabled = r.info.page >= r.info.total_pages;
}

$("#rows-prev").addEventListener("click", () => showRows(rowsState.page - 1));
$("#rows-next").addEventListener("click", () => showRows(rowsState.page + 1));

async function showMigrations() {
  const out = $("#migrations");
  const r = await api("GET", dbPath("/migrations"));
  if (!r.ok) { out.textContent = r.error; return; }
  out.replaceChildren();
  const list = document.createElement("ul");
  for (const m of r.result.applied) {
    const li = document.createElement("li");
    li.className = "applied"; li.textContent = "✓ " + m.name + " (" + m.applied_at + ")";
    list.appendChild(li);
  }
  for (const name of r.result.pending) {
    const li = document.createElement("li");
    li.className = "pending paused"; li.textContent = "pending: " + name;
    list.appendChild(li);
  }
  if (!list.children.length) out.textContent = "none (" + (r.result.migrations_dir || "no migrations folder") + ")";
  else out.appendChild(list);
}

async function chooseDb(db) {
  selectedDb = db;
  $("#sql-db").textContent = db.name;
  $("#rows-panel").hidden = true;
  for (const tr of document.querySelectorAll("#databases-table tbody tr")) {
    tr.className = tr.dataset.uuid === db.uuid ? "selected" : "";
  }
  const exportLink = $("#d1-export");
  exportLink.href = API + dbPath("/export");
  exportLink.hidden = false;
  const r = await api("GET", dbPath("/tables"));
  const body = $("#tables-table tbody");
  body.replaceChildren();
  if (!r.ok) { status(r.error, true); return; }
  for (const t of r.result) {
    const tr = document.createElement("tr");
    tr.dataset.table = t.name;
    const a = cell(tr, t.name + (t.type === "view" ? " (view)" : ""), "name");
    a.style.cursor = "pointer";
    a.addEventListener("click", () => { rowsState.table = t; showRows(1); });
    cell(tr, t.row_count === null ? "" : t.row_count, "num rows");
    cell(tr, t.columns.map((c) => c.name + (c.type ? " " + c.type : "") + (c.pk ? " PK" : "")).join(", "), "mono");
    body.appendChild(tr);
  }
  await showMigrations();
}

async function loadDatabases() {
  const r = await api("GET", "/d1/database");
  if (!r.ok) { status(r.error, true); return; }
  const body = $("#databases-table tbody");
  body.replaceChildren();
  for (const db of r.result) {
    const tr = document.createElement("tr");
    tr.dataset.uuid = db.uuid;
    const name = cell(tr, db.name, "name");
    name.style.cursor = "pointer";
    name.addEventListener("click", () => chooseDb(db));
    cell(tr, db.uuid, "mono");
    body.appendChild(tr);
  }
  const link = d1Link;
  d1Link = null;
  const wanted = link && link.get("db");
  const linked = wanted ? r.result.find((db) => db.uuid === wanted || db.name === wanted) : null;
  if (wanted && !linked) status("No D1 database " + wanted, true);
  if (linked) await chooseDb(linked);
  else if (r.result.length && selectedDb === null) await chooseDb(r.result[0]);
  if (linked && link.get("sql")) {
    $("#sql-input").value = link.get("sql");
    $("#sql-form").requestSubmit();
  }
}

$("#sql-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("#sql-error").textContent = ""; $("#sql-meta").textContent = "";
  if (selectedDb === null) { $("#sql-error").textContent = "Choose a database first"; return; }
  const sql = $("#sql-input").value;
  const anchor = $("#sql-link");
  anchor.href = queryLink(sql); anchor.hidden = false;
  const r = await runSql(sql);
  if (!r.ok) {
    $("#sql-error").textContent = r.error;
    fillTable("#sql-results", [], []);
    return;
  }
  renderResults(r.result);
});

VIEWS.d1 = loadDatabases;
