// KV: namespaces, their keys (prefix, cursor paging), and a value with its metadata and
// expiration, read, written (multipart value + metadata, ?expiration_ttl=) or deleted.
let kvNamespace = null;
let kvCursor = "";

function kvPath(suffix) { return "/storage/kv/namespaces/" + encodeURIComponent(kvNamespace.id) + suffix; }

function kvSay(text, bad) {
  const out = $("#kv-result");
  out.className = bad ? "error" : "okmsg";
  out.textContent = text;
}

async function kvOpen(key) {
  $("#kv-key").value = key.name;
  $("#kv-metadata").value = key.metadata === undefined ? "" : JSON.stringify(key.metadata);
  $("#kv-ttl").value = "";
  const response = await fetch(API + kvPath("/values/" + encodeURIComponent(key.name)));
  if (!response.ok) { kvSay("HTTP " + response.status, true); return; }
  $("#kv-value").value = await response.text();
  kvSay(key.expiration ? "expires " + new Date(key.expiration * 1000).toISOString() : "", false);
}

async function kvKeys(more) {
  const body = $("#kv-keys tbody");
  if (!more) { body.replaceChildren(); kvCursor = ""; }
  const params = new URLSearchParams();
  const prefix = $("#kv-prefix").value;
  if (prefix) params.set("prefix", prefix);
  if (more && kvCursor) params.set("cursor", kvCursor);
  const r = await api("GET", kvPath("/keys?" + params.toString()));
  if (!r.ok) { status(r.error, true); return; }
  for (const key of r.result) {
    const tr = document.createElement("tr");
    tr.dataset.key = key.name;
    const name = cell(tr, key.name, "mono name");
    name.style.cursor = "pointer";
    name.addEventListener("click", () => kvOpen(key));
    cell(tr, key.expiration ? new Date(key.expiration * 1000).toISOString() : "", "expires");
    cell(tr, key.metadata === undefined ? "" : JSON.stringify(key.metadata), "mono metadata");
    body.appendChild(tr);
  }
  kvCursor = r.info.cursor;
  $("#kv-more").hidden = !kvCursor;
}

async function kvChoose(ns) {
  kvNamespace = ns;
  $("#kv-ns").textContent = ns.title;
  for (const tr of document.querySelectorAll("#kv-namespaces tbody tr")) {
    tr.className = tr.dataset.id === ns.id ? "selected" : "";
  }
  await kvKeys(false);
}

async function kvLoad() {
  const r = await api("GET", "/storage/kv/namespaces");
  if (!r.ok) { status(r.error, true); return; }
  const body = $("#kv-namespaces tbody");
  body.replaceChildren();
  for (const ns of r.result) {
    const tr = document.createElement("tr");
    tr.dataset.id = ns.id;
    const name = cell(tr, ns.title, "name");
    name.style.cursor = "pointer";
    name.addEventListener("click", () => kvChoose(ns));
    cell(tr, ns.id, "mono");
    body.appendChild(tr);
  }
  if (r.result.length && kvNamespace === null) await kvChoose(r.result[0]);
}

$("#kv-filter").addEventListener("submit", (ev) => { ev.preventDefault(); if (kvNamespace) kvKeys(false); });
$("#kv-more").addEventListener("click", () => kvKeys(true));

$("#kv-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (kvNamespace === null) return;
  const key = $("#kv-key").value;
  if (!key) { kvSay("a key is required", true); return; }
  const form = new FormData();
  form.append("value", $("#kv-value").value);
  const metadata = $("#kv-metadata").value.trim();
  if (metadata) {
    try { JSON.parse(metadata); } catch (err) { kvSay("metadata is not JSON: " + err.message, true); return; }
    form.append("metadata", metadata);
  }
  const ttl = $("#kv-ttl").value.trim();
  const query = ttl ? "?expiration_ttl=" + encodeURIComponent(ttl) : "";
  let data = null;
  try {
    const response = await fetch(API + kvPath("/values/" + encodeURIComponent(key)) + query, { method: "PUT", body: form });
    data = await response.json();
  } catch (err) { kvSay(err.message, true); return; }
  if (!data.success) { kvSay(data.errors[0].message + " [code " + data.errors[0].code + "]", true); return; }
  kvSay("stored " + key, false);
  await kvKeys(false);
});

$("#kv-delete").addEventListener("click", async () => {
  const key = $("#kv-key").value;
  if (kvNamespace === null || !key) return;
  const r = await api("DELETE", kvPath("/values/" + encodeURIComponent(key)));
  kvSay(r.ok ? "deleted " + key : r.error, !r.ok);
  await kvKeys(false);
});

VIEWS.kv = kvLoad;
