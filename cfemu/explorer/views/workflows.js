// Workflows: each Workflow with its instances by status, the instances (newest first,
// filtered by status, 25 to a page) and one instance's steps; pause, resume, restart,
// terminate and create go through the Workflow binding; Delete forgets an instance.
const WF_STATUSES = ["queued", "running", "paused", "errored", "terminated", "complete", "waitingForPause", "waiting"];
let wfName = null;
let wfPage = 1;
let wfInstanceId = null;

for (const s of WF_STATUSES) {
  const option = document.createElement("option");
  option.value = s; option.textContent = s;
  $("#wf-status").appendChild(option);
}

function wfPath(suffix) { return "/workflows/" + encodeURIComponent(wfName) + suffix; }

function wfResult(step) {
  if (step.output !== undefined) return JSON.stringify(step.output);
  if (step.type === "sleep" || step.type === "waitForEvent") return step.finished ? "finished" : "waiting";
  if (step.success === false) return "failed";
  return step.success ? "ok" : "running";
}

async function wfOpen(id) {
  wfInstanceId = id;
  const r = await api("GET", wfPath("/instances/" + encodeURIComponent(id)));
  if (!r.ok) { status(r.error, true); return; }
  const i = r.result;
  $("#wf-instance").hidden = false;
  $("#wf-title").textContent = "Instance " + id;
  const facts = ["status: " + i.status, "params: " + JSON.stringify(i.params), "queued: " + i.queued];
  if (i.output !== null) facts.push("output: " + JSON.stringify(i.output));
  if (i.error) facts.push("error: " + i.error.name + ": " + i.error.message);
  const factsEl = $("#wf-facts");
  factsEl.replaceChildren();
  for (const f of facts) { const d = document.createElement("div"); d.textContent = f; factsEl.appendChild(d); }
  factsEl.firstChild.id = "wf-instance-status";
  const actions = $("#wf-actions");
  actions.replaceChildren();
  for (const action of ["pause", "resume", "restart", "terminate"]) {
    button(actions, action[0].toUpperCase() + action.slice(1), "wf-" + action, async () => {
      const a = await api("PATCH", wfPath("/instances/" + encodeURIComponent(id) + "/status"), { action });
      status(a.ok ? action + ": " + id : a.error, !a.ok);
      await wfInstances();
      await wfOpen(id);
    });
  }
  button(actions, "Delete", "wf-delete", async () => {
    if (!confirm("Delete instance " + id + " and its history?")) return;
    const d = await api("DELETE", wfPath("/instances/" + encodeURIComponent(id)));
    status(d.ok ? "deleted " + id : d.error, !d.ok);
    if (d.ok) { wfInstanceId = null; $("#wf-instance").hidden = true; }
    await wfInstances();
  });
  const body = $("#wf-steps tbody");
  body.replaceChildren();
  for (const step of i.steps) {
    const tr = document.createElement("tr");
    tr.dataset.step = step.name;
    cell(tr, step.name, "name");
    cell(tr, step.type, "type");
    cell(tr, step.start || "", "start");
    cell(tr, step.end || "", "end");
    cell(tr, wfResult(step), "mono result");
    const attempts = step.attempts || [];
    cell(tr, attempts.map((a) => a.success === null ? "running" : a.success ? "ok" : "failed" + (a.error ? " (" + a.error.message + ")" : "")).join(", "), "attempts");
    body.appendChild(tr);
  }
}

async function wfInstances() {
  const wanted = $("#wf-status").value;
  const query = "?page=" + wfPage + (wanted ? "&status=" + encodeURIComponent(wanted) : "");
  const r = await api("GET", wfPath("/instances" + query));
  if (!r.ok) { status(r.error, true); return; }
  const body = $("#wf-instances tbody");
  body.replaceChildren();
  for (const inst of r.result) {
    const tr = document.createElement("tr");
    tr.dataset.id = inst.id;
    if (inst.id === wfInstanceId) tr.className = "selected";
    const name = cell(tr, inst.id, "mono name");
    name.style.cursor = "pointer";
    name.addEventListener("click", () => wfOpen(inst.id));
    cell(tr, inst.status, "status");
    cell(tr, inst.created_on || "", "created");
    body.appendChild(tr);
  }
  const info = r.info;
  $("#wf-page").textContent = "page " + info.page + " of " + info.total_pages + " (" + info.total_count + " instance(s))";
  $("#wf-prev").disabled = info.page <= 1;
  $("#wf-next").disabled = info.page >= info.total_pages;
  $("#wf-counts").textContent = WF_STATUSES.filter((s) => info.status_counts[s]).map((s) => s + " " + info.status_counts[s]).join(", ") || "no instances";
}

async function wfChoose(name) {
  wfName = name; wfPage = 1; wfInstanceId = null;
  $("#wf-instance").hidden = true;
  for (const tr of document.querySelectorAll("#wf-workflows tbody tr")) {
    tr.className = tr.dataset.name === name ? "selected" : "";
  }
  await wfInstances();
}

async function wfLoad() {
  const r = await api("GET", "/workflows");
  if (!r.ok) { status(r.error, true); return; }
  const body = $("#wf-workflows tbody");
  body.replaceChildren();
  for (const wf of r.result) {
    const tr = document.createElement("tr");
    tr.dataset.name = wf.name;
    const name = cell(tr, wf.name, "name");
    name.style.cursor = "pointer";
    name.addEventListener("click", () => wfChoose(wf.name));
    cell(tr, wf.class_name);
    cell(tr, wf.script_name);
    body.appendChild(tr);
  }
  if (r.result.length && wfName === null) await wfChoose(r.result[0].name);
}

$("#wf-status").addEventListener("change", () => { wfPage = 1; if (wfName) wfInstances(); });
$("#wf-prev").addEventListener("click", () => { wfPage -= 1; wfInstances(); });
$("#wf-next").addEventListener("click", () => { wfPage += 1; wfInstances(); });
$("#wf-create").addEventListener("click", async () => {
  if (!wfName) return;
  const r = await api("POST", wfPath("/instances"), {});
  status(r.ok ? "created " + r.result.id : r.error, !r.ok);
  await wfInstances();
});

VIEWS.workflows = wfLoad;
