// The tutor page: one session's events (server-sent) drawn into the chat, the side panel and the run browser.
// Text from the server is set with textContent; only HTML the server rendered from markdown (raw HTML escaped)
// goes through innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);
let session = null;   // the open session's id
let stream = null;    // its EventSource

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || response.statusText);
  return data;
}

function maths(root) {
  if (!window.katex) return;
  for (const node of root.querySelectorAll(".math")) {
    if (node.dataset.tex !== undefined) continue;
    node.dataset.tex = node.textContent;
    katex.render(node.textContent.trim(), node, { displayMode: node.classList.contains("block"), throwOnError: false });
  }
}

function fileUrl(path, download) {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return `/files/${encodeURIComponent(session)}/${encoded}${download ? "?download=1" : ""}`;
}

// --- the chat ------------------------------------------------------------------------------------------------

function keyed(key, make) {
  // the element an event with this key draws into: created once, updated by the later events with the same key
  let node = key ? document.querySelector(`[data-key="${CSS.escape(key)}"]`) : null;
  if (!node) {
    node = make();
    if (key) node.dataset.key = key;
  }
  return node;
}

function makeTool() {
  const details = el("details", "tool");
  details.append(el("summary"), el("pre", "args"), el("pre", "result"), el("div", "inside"));
  return details;
}

function place(node, parent) {
  // a run's progress goes inside the tool call that started it (created here if its event comes later, on reconnect)
  if (node.isConnected) return;
  if (parent) {
    const tool = keyed(`tool-${parent}`, makeTool);
    place(tool);
    tool.querySelector(".inside").appendChild(node);
    return;
  }
  $("chat").appendChild(node);
  node.scrollIntoView({ block: "end" });
}

const draw = {
  user(e) {
    place(el("div", "msg user", e.text));
  },
  answer(e) {
    const node = keyed(e.key, () => el("div", "msg answer"));
    node.innerHTML = e.html;
    node.classList.toggle("streaming", !e.done);
    maths(node);
    place(node);
    node.scrollIntoView({ block: "end" });
  },
  tool(e) {
    const node = keyed(e.key, makeTool);
    if (e.ok === null && e.name === "run_workflow") node.open = true; // the run's progress shows while it runs
    const state = e.ok === null ? "running…" : e.ok ? "done" : "failed";
    node.querySelector("summary").textContent = `${e.name} — ${state}`;
    node.dataset.state = e.ok === null ? "running" : e.ok ? "ok" : "failed";
    node.querySelector(".args").textContent = e.args;
    node.querySelector(".result").textContent = e.answer || "";
    place(node);
  },
  node(e) {
    const node = keyed(e.key, () => el("div", "node"));
    const took = e.seconds !== undefined && e.seconds !== null ? ` (${e.seconds} s)` : "";
    node.textContent = `${e.state === "done" ? "✓" : e.state === "failed" ? "✗" : "…"} ${e.node}${took}`;
    if (e.error) node.textContent += `: ${e.error}`;
    node.dataset.state = e.state;
    place(node, e.parent);
  },
  progress(e) {
    const node = keyed(e.key, () => {
      const box = el("div", "progress");
      box.append(el("span"), el("progress"));
      return box;
    });
    node.querySelector("span").textContent = `${e.task}: ${e.done} / ${e.total} events`;
    node.querySelector("progress").max = e.total;
    node.querySelector("progress").value = e.done;
    place(node, e.parent);
  },
  note(e) {
    place(el("div", "note", e.text), e.parent);
  },
  confirm(e) {
    const node = keyed(e.key, () => el("div", "confirm"));
    node.replaceChildren(el("p", null, e.question));
    if (e.state === "waiting") {
      const run = el("button", "run", "Run");
      const cancel = el("button", "cancel", "Cancel");
      run.type = cancel.type = "button";
      run.onclick = () => answer(true);
      cancel.onclick = () => answer(false);
      node.append(run, cancel);
    } else {
      node.append(el("p", "answered", e.state === "yes" ? "→ run" : "→ not run"));
    }
    place(node);
  },
  plots(e) {
    const node = keyed(e.key, () => el("figure", "plots"));
    node.replaceChildren();
    for (const path of e.files) {
      const img = el("img");
      img.src = fileUrl(path);
      img.alt = path;
      node.appendChild(img);
    }
    const open = el("button", "open-run", `open ${e.run}`);
    open.type = "button";
    open.onclick = () => openRun(e.run);
    node.appendChild(open);
    place(node);
  },
  error(e) {
    place(el("div", "msg error", e.text));
  },
  busy(e) {
    $("send").disabled = e.busy;
    document.body.classList.toggle("busy", e.busy);
    listSessions();
  },
  cost(e) {
    $("cost").textContent = `${e.tokens.toLocaleString()} tokens · $${e.dollars.toFixed(4)} · ≥ ${e.tool_cpu_seconds.toFixed(1)} s CPU in tools (${e.tool_seconds.toFixed(1)} s wall)`;
  },
  panel(e) {
    const plan = $("plan");
    if (e.workflow) {
      plan.replaceChildren(el("h3", null, e.workflow_name), el("pre", null, e.workflow));
    }
    const assumptions = $("assumptions");
    if (e.assumptions.length) {
      assumptions.replaceChildren(...e.assumptions.map((a) => {
        const item = el("details", "assumption");
        item.append(el("summary", null, `${a.topic}: ${a.choice}`), el("p", null, `${a.source} — ${a.reason}`));
        return item;
      }));
    }
    $("runs").replaceChildren(...e.runs.map((run) => {
      const item = el("li");
      const link = el("button", "link", run.name);
      link.type = "button";
      link.onclick = () => openRun(run.name);
      item.append(link, el("span", `state ${run.state}`, run.state));
      return item;
    }));
  },
};

async function answer(yes) {
  try {
    await api("POST", `/api/sessions/${session}/confirm`, { yes });
  } catch (error) {
    draw.error({ text: error.message });
  }
}

// --- sessions ------------------------------------------------------------------------------------------------

async function listSessions() {
  const found = await api("GET", "/api/sessions");
  $("sessions").replaceChildren(...found.map((s) => {
    const item = el("li", s.id === session ? "current" : "");
    const link = el("button", "link", s.id);
    link.type = "button";
    link.onclick = () => openSession(s.id);
    item.append(link, el("small", null, `${s.runs} run${s.runs === 1 ? "" : "s"}${s.busy ? " · busy" : ""}`));
    return item;
  }));
}

async function openSession(id) {
  try {
    await api("POST", `/api/sessions/${encodeURIComponent(id)}/open`);
  } catch (error) {
    draw.error({ text: error.message });
    return;
  }
  if (stream) stream.close();
  session = id;
  location.hash = id;
  $("chat").replaceChildren();
  $("plan").replaceChildren(el("p", "hint", "no workflow proposed yet"));
  $("assumptions").replaceChildren(el("p", "hint", "listed when a run has planned"));
  stream = new EventSource(`/api/sessions/${encodeURIComponent(id)}/events`);
  stream.onmessage = (message) => {
    const event = JSON.parse(message.data);
    (draw[event.type] || (() => {}))(event);
  };
  stream.onerror = () => {
    // the browser retries a dropped stream by itself; a refused one (a restarted server) is opened anew
    if (stream.readyState === EventSource.CLOSED && session === id) setTimeout(() => openSession(id), 2000);
  };
  listSessions();
}

async function newSession() {
  const created = await api("POST", "/api/sessions");
  await openSession(created.id);
}

async function ask(event) {
  event.preventDefault();
  const text = $("question").value.trim();
  if (!text) return;
  try {
    if (!session) await newSession();
    await api("POST", `/api/sessions/${session}/say`, { text });
    $("question").value = "";
  } catch (error) {
    draw.error({ text: error.message });
  }
}

// --- the run browser -----------------------------------------------------------------------------------------

async function openRun(name) {
  let run;
  try {
    run = await api("GET", `/api/sessions/${session}/runs/${name}`);
  } catch (error) {
    draw.error({ text: error.message });
    return;
  }
  $("run-title").textContent = `${session}/${run.name}`;
  $("run-state").textContent = run.error ? `${run.state}: ${run.error}` : run.state;
  $("run-plots").replaceChildren(...run.plots.map((path) => {
    const link = el("a");
    const img = el("img");
    link.href = img.src = fileUrl(path);
    link.target = "_blank";
    img.alt = img.title = path.slice(run.name.length + 1);
    link.appendChild(img);
    return link;
  }));
  const report = $("run-report");
  report.innerHTML = run.report || "<p>no report.md yet</p>";
  // the report's links and pictures are relative to the run directory
  for (const img of report.querySelectorAll("img[src]")) {
    if (!/^[a-z]+:|^\//i.test(img.getAttribute("src"))) img.src = fileUrl(`${run.name}/${img.getAttribute("src")}`);
  }
  for (const link of report.querySelectorAll("a[href]")) {
    if (!/^[a-z]+:|^\/|^#/i.test(link.getAttribute("href"))) link.href = fileUrl(`${run.name}/${link.getAttribute("href")}`);
  }
  maths(report);
  $("run-files").replaceChildren(...run.files.map((file) => {
    const item = el("li");
    const link = el("a", null, file.path.slice(run.name.length + 1));
    link.href = fileUrl(file.path, true);
    item.append(link, el("small", null, ` ${file.bytes.toLocaleString()} bytes`));
    return item;
  }));
  $("run-browser").hidden = false;
}

// --- start ---------------------------------------------------------------------------------------------------

window.addEventListener("DOMContentLoaded", async () => {
  $("ask").addEventListener("submit", ask);
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) ask(event);
  });
  $("new-session").onclick = () => newSession().catch((error) => draw.error({ text: error.message }));
  $("close-run").onclick = () => { $("run-browser").hidden = true; };
  const info = await api("GET", "/api/info");
  if (info.replay) {
    $("replay-banner").hidden = false;
    // a demo: the recorded question is ready to send (another question leaves the recording)
    if (info.questions.length) {
      const question = $("question");
      question.value = question.placeholder = info.questions[0];
      // typing the question out replaces the suggestion instead of appending to it (any other text leaves the
      // recording anyway)
      question.addEventListener("beforeinput", () => { if (question.value === question.placeholder) question.value = ""; });
    }
  }
  if (location.hash.length > 1) await openSession(decodeURIComponent(location.hash.slice(1)));
  else await listSessions();
});
