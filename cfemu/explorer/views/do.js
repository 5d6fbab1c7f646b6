// Durable Objects: namespaces (classes), the objects that have storage, and one object's
// tables, key-value pairs, pending alarm and read-only SQL. Nothing here wakes an object.
let doNamespace = null;
let doObjectId = null;
let doCursor = "";

function doPath(suffix) { return "/workers/durable_objects/namespaces/" + encodeURIComponent(doNamespace.id) + suffix; }

function doFill(selector, columns, rows) {
  const head = $(selector + " thead");
  const body = $(selector + " tbody");
  head.replaceChildren(); body.replaceChildren();
  const tr = document.createElement("tr");
  for (const c of columns) { const th = document.createElement("th"); th.textContent = c; tr.appendChild(th); }
  head.appendChild(tr);
  for (const row of rows) {
    const r = document.createElement("tr");
    for (const v of row) cell(r, v === null ? "NULL" : (typeof v === "object" ? JSON.stringify(v) : v));
    body.appendChild(r);
  }
}

async function doQuery(sql) {
  $("#do-error").textContent = "";
  const r = await api("POST", doPath("/query"), { durable_object_id: doObjectId, queries: [{ sql }] });
  if (!r.ok) { $("#do-error").textContent = r.error; doFill("#do-results", [], []); return; }
  doFill("#do-results", r.result[0].columns, r.result[0].rows);
}

async function doOpen(obj) {
  doObjectId = obj.id;
  for (const tr of document.querySelectorAll("#do-objects tbody tr")) {
    tr.className = tr.dataset.id === obj.id ? "selected" : "";
  }
  const r = await api("GET", doPath("/objects/" + obj.id));
  if (!r.ok) { status(r.error, true); return; }
  const o = r.result;
  $("#do-object").hidden = false;
  $("#do-title").textContent = doNamespace.class + " " + (o.name || o.id);
  $("#do-facts").textContent = "id " + o.id + "; " + o.size_bytes + " bytes; alarm: " + (o.alarm === null ? "none" : new Date(o.alarm).toISOString());
  const tables = $("#do-tables tbody");
  tables.replaceChildren();
  for (const t of o.tables) {
    const tr = document.createElement("tr");
    tr.dataset.table = t.name;
    const name = cell(tr, t.name, "name");
    name.style.cursor = "pointer";
    name.addEventListener("click", () => {
      $("#do-sql").value = "SELECT * FROM \"" + t.name.replace(/"/g, '""') + "\" LIMIT 100";
      doQuery($("#do-sql").value);
    });
    cell(tr, t.row_count, "num rows");
    cell(tr, t.sql, "mono");
    tables.appendChild(tr);
  }
  const kv = await api("GET", doPath("/objects/" + obj.id + "/kv?limit=100"));
  const pairs = $("#do-kv tbody");
  pairs.replaceChildren();
  if (kv.ok) {
    for (const p of kv.result) {
      const tr = document.createElement("tr");
      cell(tr, p.key, "mono key"); cell(tr, p.value_preview, "mono preview");
      pairs.appendChild(tr);
    }
  }
  $("#do-sql-form").hidden = !doNamespace.use_sqlite;
  doFill("#do-results", [], []);
}

async function doObjects(more) {
  const body = $("#do-objects tbody");
  if (!more) { body.replaceChildren(); doCursor = ""; }
  const query = more && doCursor ? "?cursor=" + encodeURIComponent(doCursor) : "";
  const r = await api("GET", doPath("/objects" + query));
  if (!r.ok) { status(r.error, true); return; }
  for (const obj of r.result) {
    const tr = document.createElement("tr");
    tr.dataset.id = obj.id;
    const name = cell(tr, obj.name || "(no name)", "name");
    name.style.cursor = "pointer";
    name.addEventListener("click", () => doOpen(obj));
    cell(tr, obj.id.slice(0, 16) + "…", "mono");
    body.appendChild(tr);
  }
  doCursor = r.info.cursor;
  $("#do-more").hidden = !doCursor;
}

async function doChoose(ns) {
  doNamespace = ns;
  $("#do-object").hidden = true;
  for (const tr of document.querySelectorAll("#do-namespaces tbody tr")) {
    tr.className = tr.dataset.id === ns.id ? "selected" : "";
  }
  await doObjects(false);
}

async function doLoad() {
  const r = await api("GET", "/workers/durable_objects/namespaces");
  if (!r.ok) { status(r.error, true); return; }
  const body = $("#do-namespaces tbody");
  body.replaceChildren();
  for (const ns of r.result) {
    const tr = document.createElement("tr");
    tr.dataset.id = ns.id;
    const name = cell(tr, ns.class, "name");
    name.style.cursor = "pointer";
    name.addEventListener("click", () => doChoose(ns));
    cell(tr, ns.script);
    cell(tr, ns.use_sqlite ? "SQLite" : "key-value");
    body.appendChild(tr);
  }
  if (r.result.length && doNamespace === null) await doChoose(r.result[0]);
}

$("#do-more").addEventListener("click", () => doObjects(true));
$("#do-sql-form").addEventListener("submit", (ev) => { ev.preventDefault(); if (doObjectId) doQuery($("#do-sql").value); });

VIEWS.do = doLoad;
