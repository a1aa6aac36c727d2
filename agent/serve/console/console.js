// PixelRTS boot host console: behaviour for the server-rendered page (no framework, no build).
// Markup comes from the server (hono/jsx, escaped); this script places and colours it from data
// attributes, filters tiles, moves them (drag and drop, Alt+arrows), and keeps everything live
// from the event stream (/api/v1/events): pull progress, VM states, serial output.
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
  const grid = $("#grid");
  const panel = $("#panel");
  const vmList = $("#vm-list");
  const notice = $("#notice");
  const q = $("#q");
  const selects = $$("select[data-filter]");
  const COLOR = /^#[0-9a-fA-F]{3,8}$/;
  const rootStyle = getComputedStyle(document.documentElement);
  const CELL_W = parseFloat(rootStyle.getPropertyValue("--cell-w")) || 128;
  const CELL_H = parseFloat(rootStyle.getPropertyValue("--cell-h")) || 164;
  const MAX_SERIAL_CHARS = 400000;

  let selected = null;
  let drag = null;
  let justDragged = false;
  /** entry id → what the panel shows about its pull */
  const pulls = new Map();
  /** vm id → bytes of serial output shown; chunks that arrive before the log was read wait */
  const serialBytes = new Map();
  const serialWaiting = new Map();
  const addingVm = new Set();

  const say = (message) => {
    notice.textContent = message || "";
    notice.hidden = !message;
  };

  async function api(path, body) {
    const res = await fetch(path, body === undefined ? { headers: { accept: "application/json" } } : { method: "POST", headers: { accept: "application/json", "content-type": "application/json" }, body: JSON.stringify(body) });
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(data && data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${res.status}`);
    return data;
  }

  async function fragment(path) {
    const res = await fetch(path, { headers: { accept: "text/html" } });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.text();
  }

  /** Colour and position come from data attributes: the page's CSP allows no inline style. */
  function paint(el) {
    const c = el.dataset.color;
    if (c && COLOR.test(c)) el.style.setProperty("--src", c);
    if (el.classList.contains("tile")) {
      el.style.left = `${Number(el.dataset.x) * CELL_W}px`;
      el.style.top = `${Number(el.dataset.y) * CELL_H}px`;
    }
  }

  const tiles = () => $$(".tile", grid);
  const tileOf = (id) => tiles().find((t) => t.dataset.id === id);

  function sizeGrid() {
    let mx = 0;
    let my = 0;
    for (const t of tiles()) {
      mx = Math.max(mx, Number(t.dataset.x));
      my = Math.max(my, Number(t.dataset.y));
    }
    grid.style.width = `${(mx + 2) * CELL_W}px`;
    grid.style.height = `${(my + 2) * CELL_H}px`;
  }

  function rebuildOptions() {
    for (const sel of selects) {
      const key = sel.dataset.filter;
      const values = [...new Set(tiles().map((t) => t.dataset[key]).filter(Boolean))].sort();
      const current = sel.value;
      sel.replaceChildren(new Option("all", ""), ...values.map((v) => new Option(v, v)));
      sel.value = values.includes(current) ? current : "";
    }
  }

  function applyFilters() {
    const words = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    const f = Object.fromEntries(selects.map((s) => [s.dataset.filter, s.value]));
    let shown = 0;
    const all = tiles();
    for (const t of all) {
      const ok = words.every((w) => t.dataset.search.includes(w)) && (!f.distro || t.dataset.distro === f.distro) && (!f.arch || t.dataset.arch === f.arch) && (!f.type || t.dataset.type === f.type);
      t.hidden = !ok;
      if (ok) shown++;
    }
    $("#count").textContent = shown === all.length ? `${all.length} containers` : `${shown} of ${all.length} containers`;
  }

  function setupTiles() {
    tiles().forEach(paint);
    sizeGrid();
    rebuildOptions();
    applyFilters();
    if (selected) tileOf(selected)?.classList.add("selected");
  }

  let reloadTimer = null;
  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(async () => {
      if (drag) return scheduleReload();
      try {
        grid.innerHTML = await fragment("/console/tiles");
        setupTiles();
        $("#sources").innerHTML = await fragment("/console/sources");
        $$("#sources [data-color]").forEach(paint);
        if (selected) await refreshPanelFacts(selected);
      } catch (e) {
        say(`Could not refresh the catalog: ${e.message}`);
      }
    }, 150);
  }

  let panelTimer = null;
  function schedulePanelRefresh() {
    clearTimeout(panelTimer);
    panelTimer = setTimeout(() => selected && refreshPanelFacts(selected).catch(() => {}), 150);
  }

  // ---- the panel of the selected container ----
  async function select(id) {
    selected = id;
    for (const t of tiles()) t.classList.toggle("selected", t.dataset.id === id);
    try {
      panel.innerHTML = await fragment(`/console/entry/${encodeURIComponent(id)}`);
      $$("[data-color]", panel).forEach(paint);
      const p = pulls.get(id);
      if (p) showPull(p);
    } catch (e) {
      say(`Could not show ${id}: ${e.message}`);
    }
  }

  /** New badges and facts (a pull finished, a VM started) without losing what was typed. */
  async function refreshPanelFacts(id) {
    const entry = panel.querySelector(".entry");
    if (!entry || entry.dataset.id !== id) return;
    const tpl = document.createElement("template");
    tpl.innerHTML = await fragment(`/console/entry/${encodeURIComponent(id)}`);
    for (const sel of [".entry-head", ".facts"]) {
      const fresh = $(sel, tpl.content);
      const old = $(sel, entry);
      if (fresh && old) old.replaceWith(fresh);
    }
    $$("[data-color]", entry).forEach(paint);
  }

  const fmtBytes = (n) => {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let v = n;
    let i = 0;
    while (v >= 1000 && i < units.length - 1) {
      v /= 1000;
      i++;
    }
    return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
  };
  const fmtTime = (s) => {
    const t = Math.max(0, Math.round(s));
    const h = Math.floor(t / 3600);
    const m = Math.floor((t % 3600) / 60);
    const sec = String(t % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
  };

  function onPull(d) {
    const prev = pulls.get(d.entry_id) || { percent: 0, text: "" };
    let p = prev;
    if (d.event === "start") p = { percent: d.resume_from && d.size ? Math.floor((d.resume_from * 100) / d.size) : 0, text: `Downloading ${fmtBytes(d.size)}…`, running: true };
    else if (d.event === "progress") {
      const pct = d.total > 0 ? Math.min(100, Math.floor((d.bytes * 100) / d.total)) : 0;
      const speed = d.speed !== undefined ? `${fmtBytes(d.speed)}/s` : "—";
      const eta = d.eta_s !== undefined ? fmtTime(d.eta_s) : "—";
      p = { percent: pct, text: `${pct}% · ${fmtBytes(d.bytes)} of ${fmtBytes(d.total)} · ${speed} · ETA ${eta}`, running: true };
    } else if (d.event === "retry") p = { ...prev, text: `${d.reason}: retry ${d.attempt} of ${d.of}…`, running: true };
    else if (d.event === "verified") p = { percent: 100, text: `Verified: sha256 ${d.sha256.slice(0, 16)}…`, running: true };
    else if (d.event === "done") p = { percent: 100, text: d.from_cache ? `Already in this host's cache (sha256 ${d.sha256.slice(0, 16)}…).` : `Pulled and verified: ${fmtBytes(d.size)}, sha256 ${d.sha256.slice(0, 16)}…`, running: false };
    else if (d.event === "error") p = { ...prev, text: `Failed: ${d.code}: ${d.message}`, running: false, failed: true };
    else if (d.event === "note") p = { ...prev, text: d.message };
    p.entry_id = d.entry_id;
    pulls.set(d.entry_id, p);
    showPull(p);
  }

  function showPull(p) {
    const entry = panel.querySelector(".entry");
    if (!entry || entry.dataset.id !== p.entry_id) return;
    const bar = $(".progress", entry);
    bar.hidden = false;
    bar.setAttribute("aria-valuenow", String(p.percent));
    bar.style.setProperty("--pct", `${p.percent}%`);
    $(".pull-status", entry).textContent = p.text;
    const btn = $("[data-action=pull]", entry);
    btn.disabled = Boolean(p.running);
    if (p.percent === 100 && !p.running && !p.failed) btn.textContent = "Pull again (revalidate)";
  }

  panel.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("[data-action=pull]");
    if (!btn) return;
    const id = btn.closest(".entry").dataset.id;
    btn.disabled = true;
    onPull({ event: "note", entry_id: id, message: "Asking for it…" });
    try {
      await api("/api/v1/pulls", { ref: id });
    } catch (e) {
      onPull({ event: "error", entry_id: id, code: "", message: e.message });
      btn.disabled = false;
    }
  });

  panel.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form.boot");
    if (!form) return;
    ev.preventDefault();
    const id = form.closest(".entry").dataset.id;
    const status = $(".boot-status", form);
    const button = $("button[type=submit]", form);
    const body = {};
    const fd = new FormData(form);
    for (const key of ["memory", "cpus", "cmdline"]) {
      const v = String(fd.get(key) || "").trim();
      if (v) body[key] = key === "cpus" ? Number(v) : v;
    }
    button.disabled = true;
    status.textContent = "Starting…";
    try {
      const r = await api(`/api/v1/catalog/${encodeURIComponent(id)}/boot`, body);
      if (!r.success) status.textContent = `Failed: ${r.error_code ? `${r.error_code}: ` : ""}${r.error_message}`;
      else status.textContent = r.pid ? `Started ${r.vm_id} (pid ${r.pid}), VNC ${r.vnc_host}:${r.vnc_port}.` : `Booting ${r.vm_id}: fetching the container first…`;
      if (r.vm_id) addVm(r.vm_id);
    } catch (e) {
      status.textContent = e.message;
    } finally {
      button.disabled = false;
    }
  });

  // ---- tiles: select, drag and drop, keyboard moves ----
  grid.addEventListener("click", (ev) => {
    const btn = ev.target.closest(".tile-button");
    if (!btn) return;
    if (justDragged) {
      justDragged = false;
      return;
    }
    select(btn.closest(".tile").dataset.id);
  });

  async function move(id, x, y) {
    try {
      const r = await api("/api/v1/catalog/layout", { entry_id: id, new_position: { x, y } });
      place(id, r.position);
      if (r.swapped_with) place(r.swapped_with.entry_id, r.swapped_with.position);
      sizeGrid();
    } catch (e) {
      say(`Could not move ${id}: ${e.message}`);
      const t = tileOf(id);
      if (t) paint(t);
    }
  }

  function place(id, pos) {
    const t = tileOf(id);
    if (!t) return;
    t.dataset.x = String(pos.x);
    t.dataset.y = String(pos.y);
    paint(t);
  }

  const cellAt = (clientX, clientY) => {
    const r = grid.getBoundingClientRect();
    return { x: Math.max(0, Math.min(999, Math.floor((clientX - r.left) / CELL_W))), y: Math.max(0, Math.floor((clientY - r.top) / CELL_H)) };
  };

  grid.addEventListener("pointerdown", (ev) => {
    const tile = ev.target.closest(".tile");
    if (!tile || ev.button !== 0) return;
    drag = { tile, x0: ev.clientX, y0: ev.clientY, moved: false, pointerId: ev.pointerId, over: null };
  });
  grid.addEventListener("pointermove", (ev) => {
    if (!drag || ev.pointerId !== drag.pointerId) return;
    const dx = ev.clientX - drag.x0;
    const dy = ev.clientY - drag.y0;
    if (!drag.moved) {
      if (Math.hypot(dx, dy) < 5) return;
      drag.moved = true;
      drag.tile.setPointerCapture(ev.pointerId);
      drag.tile.classList.add("dragging");
    }
    drag.tile.style.transform = `translate(${dx}px, ${dy}px)`;
    const cell = cellAt(ev.clientX, ev.clientY);
    const over = tiles().find((t) => t !== drag.tile && Number(t.dataset.x) === cell.x && Number(t.dataset.y) === cell.y) || null;
    if (over !== drag.over) {
      drag.over?.classList.remove("drop-target");
      over?.classList.add("drop-target");
      drag.over = over;
    }
  });
  const endDrag = (ev, drop) => {
    if (!drag || ev.pointerId !== drag.pointerId) return;
    const d = drag;
    drag = null;
    if (!d.moved) return;
    justDragged = true;
    setTimeout(() => (justDragged = false), 0);
    d.tile.classList.remove("dragging");
    d.tile.style.transform = "";
    d.over?.classList.remove("drop-target");
    if (!drop) return;
    const cell = cellAt(ev.clientX, ev.clientY);
    if (cell.x !== Number(d.tile.dataset.x) || cell.y !== Number(d.tile.dataset.y)) move(d.tile.dataset.id, cell.x, cell.y);
  };
  grid.addEventListener("pointerup", (ev) => endDrag(ev, true));
  grid.addEventListener("pointercancel", (ev) => endDrag(ev, false));

  grid.addEventListener("keydown", (ev) => {
    const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[ev.key];
    const tile = ev.target.closest(".tile");
    if (!ev.altKey || !step || !tile) return;
    ev.preventDefault();
    const x = Number(tile.dataset.x) + step[0];
    const y = Number(tile.dataset.y) + step[1];
    if (x >= 0 && y >= 0) move(tile.dataset.id, x, y);
  });

  q.addEventListener("input", applyFilters);
  for (const s of selects) s.addEventListener("change", applyFilters);

  $("#refresh").addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    btn.disabled = true;
    try {
      const r = await api("/api/v1/catalog/refresh", {});
      say("");
      $("#count").textContent = `${r.entries_count} containers`;
    } catch (e) {
      say(`Refresh failed: ${e.message}`);
    } finally {
      btn.disabled = false;
    }
  });

  // ---- virtual machines ----
  const vmCard = (id) => vmList.querySelector(`.vm[data-vm="${id}"]`);
  const LIVE = ["booting", "running"];

  async function addVm(id) {
    if (vmCard(id) || addingVm.has(id)) return;
    addingVm.add(id);
    try {
      const tpl = document.createElement("template");
      tpl.innerHTML = await fragment(`/console/vm/${encodeURIComponent(id)}`);
      if (!vmCard(id)) vmList.prepend(tpl.content);
      $("#no-vms").hidden = true;
      await loadSerial(id);
    } catch (e) {
      say(`Could not show ${id}: ${e.message}`);
    } finally {
      addingVm.delete(id);
    }
  }

  function updateVm(v) {
    const card = vmCard(v.vm_id);
    if (!card) {
      addVm(v.vm_id);
    } else {
      card.dataset.status = v.status;
      card.dataset.started = v.started_at || "";
      card.dataset.stopped = v.stopped_at || "";
      const badge = $("[data-field=status]", card);
      badge.textContent = v.stopping && LIVE.includes(v.status) ? "stopping" : v.status;
      badge.className = `badge state ${v.status}`;
      $("[data-field=pid]", card).textContent = v.pid === null ? "—" : String(v.pid);
      const vnc = $("[data-field=vnc]", card);
      if (v.vnc_port !== null && LIVE.includes(v.status)) {
        const code = document.createElement("code");
        code.textContent = `${v.vnc_host}:${v.vnc_port}`;
        vnc.replaceChildren(code);
      } else vnc.textContent = "—";
      $("[data-field=error]", card).textContent = v.error_message || "";
      if (v.memory) $("[data-field=guest]", card).textContent = `${v.memory}, ${v.cpus} CPU${v.cpus === 1 ? "" : "s"}, ${v.accel === "kvm" ? "KVM" : "TCG"}`;
      $("[data-action=stop]", card).disabled = !LIVE.includes(v.status) || v.stopping;
      tickUptime(card);
    }
    if (v.entry_id === selected) schedulePanelRefresh();
    // the tile's "running" badge
    const tile = tileOf(v.entry_id);
    if (tile) {
      const live = LIVE.includes(v.status) || $$(".vm", vmList).some((c) => c.dataset.entry === v.entry_id && LIVE.includes(c.dataset.status));
      tile.dataset.status = live ? "running" : v.status;
      let b = $("[data-badge=vm]", tile);
      if (live) {
        if (!b) {
          b = document.createElement("span");
          b.className = "badge live";
          b.dataset.badge = "vm";
          $(".badges", tile).append(b);
        }
        b.textContent = v.status === "booting" ? "booting" : "running";
      } else b?.remove();
    }
  }

  const ANSI = /\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]/g;
  const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/g;
  const clean = (s) => s.replace(ANSI, "").replace(/\r\n/g, "\n").replace(CONTROL, "");

  function showSerial(pre, text, replace) {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    let next = replace ? text : pre.textContent + text;
    if (next.length > MAX_SERIAL_CHARS) next = next.slice(next.length - MAX_SERIAL_CHARS);
    pre.textContent = next;
    if (atBottom || replace) pre.scrollTop = pre.scrollHeight;
  }

  async function loadSerial(id) {
    const card = vmCard(id);
    if (!card) return;
    const res = await fetch(`/api/v1/vms/${encodeURIComponent(id)}/serial`);
    if (!res.ok) return;
    const text = await res.text();
    serialBytes.set(id, Number(res.headers.get("x-serial-bytes")) || 0);
    showSerial($(".serial", card), clean(text), true);
    const waiting = serialWaiting.get(id) || [];
    serialWaiting.delete(id);
    for (const c of waiting) onSerial(c);
  }

  function onSerial(c) {
    const known = serialBytes.get(c.vm_id);
    if (known === undefined) {
      if (!serialWaiting.has(c.vm_id)) serialWaiting.set(c.vm_id, []);
      serialWaiting.get(c.vm_id).push(c);
      if (!vmCard(c.vm_id)) addVm(c.vm_id);
      return;
    }
    if (c.offset < known) return; // already in what the log gave
    if (c.offset > known) return void loadSerial(c.vm_id); // missed some: read the log again
    serialBytes.set(c.vm_id, known + c.bytes);
    const card = vmCard(c.vm_id);
    if (card) showSerial($(".serial", card), clean(c.data), false);
  }

  vmList.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("[data-action=stop]");
    if (!btn) return;
    const id = btn.closest(".vm").dataset.vm;
    btn.disabled = true;
    try {
      await api(`/api/v1/vms/${encodeURIComponent(id)}/stop`, {});
    } catch (e) {
      say(`Could not stop ${id}: ${e.message}`);
      btn.disabled = false;
    }
  });

  function tickUptime(card) {
    const started = Date.parse(card.dataset.started);
    if (!started) return;
    const end = LIVE.includes(card.dataset.status) ? Date.now() : Date.parse(card.dataset.stopped) || Date.now();
    const s = Math.max(0, Math.round((end - started) / 1000));
    $("[data-field=uptime]", card).textContent = s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s` : fmtTime(s);
  }
  setInterval(() => $$(".vm", vmList).forEach(tickUptime), 1000);

  // ---- the event stream ----
  const events = new EventSource("/api/v1/events");
  events.addEventListener("hello", (e) => {
    const hello = JSON.parse(e.data);
    for (const p of hello.pulls || []) if (p.status === "running") pulls.set(p.entry_id, { entry_id: p.entry_id, percent: p.percent || 0, text: `${p.percent || 0}% …`, running: true });
  });
  events.addEventListener("pull", (e) => onPull(JSON.parse(e.data)));
  events.addEventListener("vm", (e) => updateVm(JSON.parse(e.data)));
  events.addEventListener("serial", (e) => onSerial(JSON.parse(e.data)));
  events.addEventListener("catalog", (e) => {
    const d = JSON.parse(e.data);
    if (d.reason !== "layout") scheduleReload();
    else for (const m of d.moved || []) place(m.entry_id, m.position);
  });
  addEventListener("pagehide", () => events.close());

  // ---- start ----
  setupTiles();
  $$("#sources [data-color]").forEach(paint);
  for (const card of $$(".vm", vmList)) {
    tickUptime(card);
    loadSerial(card.dataset.vm);
  }
})();
