/* crmsync forecast report: the figures of crmsync.report.build, computed in the browser from the embedded deals
   so that the filters, the amount/count switch and drill-down work without a server. No network, no eval; every
   CRM string reaches the page through textContent. Figures carry data-fig / data-value for the tests. */
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = {pipeline: "#9ecae1", best_case: "#6baed6", commit: "#3182bd", closed: "#31a354", omitted: "#bdbdbd"};
  const TRENDED = ["pipeline", "best_case", "commit", "closed"];
  const PAGE = 50, TOP = 10;
  const money = new Intl.NumberFormat(D.locale, {minimumFractionDigits: 2, maximumFractionDigits: 2});
  const whole = new Intl.NumberFormat(D.locale, {maximumFractionDigits: 0});
  const pct = new Intl.NumberFormat(D.locale, {style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1});
  const dayFmt = new Intl.DateTimeFormat(D.locale, {year: "numeric", month: "short", day: "numeric", timeZone: "UTC"});
  const monthFmt = new Intl.DateTimeFormat(D.locale, {year: "numeric", month: "short", timeZone: "UTC"});
  const fmtDay = (iso) => (iso ? dayFmt.format(new Date(iso + "T00:00:00Z")) : "—");
  const fmtMonth = (key) => (key ? monthFmt.format(new Date(key + "-01T00:00:00Z")) : "no date");
  const fmtMoney = (v) => (v === null || v === undefined ? "—" : money.format(v));

  const deals = D.deals.map((a) => ({
    conn: D.connections[a[0]].name, id: a[1], name: a[2], pipeline: D.pipelines[a[3]], stage: a[4], status: a[5],
    cat: D.categories[a[6]], prob: a[7], amount: a[8], original: a[9], currency: a[10], day: a[11],
    owner: D.owners[a[12]], flags: a[13], url: a[14], dry: a[15] === 1,
    hist: a[16].map((h) => ({day: h[0], cat: D.categories[h[1]], prob: h[2]})),
  }));
  const value = (d) => (d.amount === null ? 0 : d.amount);
  const initial = {period: D.period, connection: "", pipeline: "", team: "", owner: ""};
  const state = Object.assign({measure: "amount", view: "forecast", drill: null, page: 0, group: "flag", open: {}},
    initial);

  // -- building blocks ----------------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  function s(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function num(fig, v, kind, drill) {
    const text = v === null ? "—" : kind === "count" ? whole.format(v) : kind === "pct" ? pct.format(v) : fmtMoney(v);
    const raw = v === null ? "" : kind === "count" ? String(v) : v.toFixed(kind === "pct" ? 4 : 2);
    const attrs = {class: "n" + (drill ? " drill" : ""), "data-fig": fig, "data-value": raw};
    if (drill) {
      Object.assign(attrs, {tabindex: 0, title: "show these deals", on: {click: () => openDrill(drill),
        keydown: (e) => { if (e.key === "Enter") openDrill(drill); }}});
    }
    return h("td", attrs, text);
  }
  function table(headers, rows, numeric) {
    const isNum = numeric || ((i) => i > 0);
    return h("table", {}, h("thead", {}, h("tr", {}, headers.map((x, i) => h("th", {class: isNum(i) ? "n" : null}, x)))),
      h("tbody", {}, rows));
  }
  const deals_ = (n) => `${whole.format(n)} ${n === 1 ? "deal" : "deals"}`;
  function wrap(label, width, lines) {
    const words = String(label).split(/\s+/), out = [];
    let line = "";
    for (const word of words) {
      if (line && (line + " " + word).length > width) { out.push(line); line = word; } else line = line ? line + " " + word : word;
    }
    if (line) out.push(line);
    const kept = out.slice(0, lines).map((l) => (l.length > width ? l.slice(0, width - 1) + "…" : l));
    if (out.length > lines) kept[lines - 1] = kept[lines - 1].slice(0, width - 1) + "…";
    return kept;
  }
  function svg(height, title) {
    const node = s("svg", {viewBox: `0 0 760 ${height}`, width: 760, height: height, class: "chart", role: "img",
      "aria-label": title});
    node.append(s("title", {}, title));
    return node;
  }
  function bar(node, x, y, w, hgt, color, tip, drill) {
    const rect = s("rect", {x: x.toFixed(1), y: y.toFixed(1), width: Math.max(w, 0).toFixed(1), height: hgt.toFixed(1),
      fill: color, class: drill ? "bar" : ""});
    rect.append(s("title", {}, tip));
    if (drill) rect.addEventListener("click", () => openDrill(drill));
    node.append(rect);
  }

  // -- which deals count ---------------------------------------------------------------------------------------
  const period = () => D.periods.find((p) => p.key === state.period) || D.periods[0];
  function passes(d) {
    return (!state.connection || d.conn === state.connection) && (!state.pipeline || d.pipeline === state.pipeline) &&
      (!state.owner || d.owner.key === state.owner) && (!state.team || d.owner.team === state.team);
  }
  function inPeriod(d, p) {
    if (!p.start && !p.end) return true;
    return d.day !== null && (!p.start || d.day >= p.start) && (!p.end || d.day <= p.end);
  }

  // -- figures: the same rules as crmsync/report/figures.py and views.py ---------------------------------------
  function categories(counted) {
    return D.categories.map((c) => {
      const mine = counted.filter((d) => d.cat === c);
      return {cat: c, count: mine.length, amount: sum(mine, value), weighted: sum(mine, (d) => value(d) * d.prob), deals: mine};
    });
  }
  function sum(list, fn) { let t = 0; for (const x of list) t += fn(x); return t; }
  function monthRange(first, last) {
    let y = +first.slice(0, 4), m = +first.slice(5, 7);
    const out = [];
    for (;;) {
      const key = `${y}-${String(m).padStart(2, "0")}`;
      if (key > last) return out;
      out.push(key);
      if (m === 12) { y += 1; m = 1; } else m += 1;
    }
  }
  function months(counted, p) {
    const buckets = new Map();
    for (const d of counted) {
      if (d.status === "lost") continue;
      const key = d.day ? d.day.slice(0, 7) : null;
      if (!buckets.has(key)) buckets.set(key, []);
      buckets.get(key).push(d);
    }
    const dated = [...buckets.keys()].filter((k) => k !== null).sort();
    const first = p.start ? p.start.slice(0, 7) : dated[0], last = p.end ? p.end.slice(0, 7) : dated[dated.length - 1];
    const keys = first && last ? monthRange(first, last) : dated;
    if (!p.start && !p.end) keys.push(null);
    return keys.map((k) => {
      const mine = buckets.get(k) || [];
      return {month: k, count: mine.length, amount: sum(mine, value), weighted: sum(mine, (d) => value(d) * d.prob)};
    });
  }
  function owners(counted, p) {
    const people = new Map();
    for (const o of D.owners) {
      if (o.configured && (!state.owner || o.key === state.owner) && (!state.team || o.team === state.team)) people.set(o.key, o);
    }
    const by = new Map();
    for (const d of counted) {
      if (!by.has(d.owner.key)) by.set(d.owner.key, []);
      by.get(d.owner.key).push(d);
      if (!people.has(d.owner.key)) people.set(d.owner.key, d.owner);
    }
    return [...people.values()].map((o) => {
      const mine = by.get(o.key) || [];
      const open = (c) => sum(mine.filter((d) => d.status === "open" && d.cat === c), value);
      const target = o.key in p.targets ? p.targets[o.key] : null;
      return {owner: o, won: sum(mine.filter((d) => d.status === "won"), value), commit: open("commit"),
        best_case: open("best_case"), pipeline: open("pipeline"), target: target, deals: mine.length};
    });
  }
  function teams(rows) {
    const groups = new Map();
    for (const r of rows) {
      const key = r.owner.team === null || r.owner.team === undefined ? null : r.owner.team;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(r);
    }
    const order = [...groups.keys()].filter((k) => k !== null);
    if (groups.has(null)) order.push(null);
    return order.map((team) => {
      const mine = groups.get(team), targets = mine.filter((r) => r.target !== null);
      const total = (f) => sum(mine, (r) => r[f]);
      return {team: team, rows: mine, won: total("won"), commit: total("commit"), best_case: total("best_case"),
        pipeline: total("pipeline"), target: targets.length ? sum(targets, (r) => r.target) : null, deals: total("deals")};
    });
  }
  function stateAt(d, day) {
    let found = null;
    for (const step of d.hist) { if (step.day > day) break; found = step; }
    return found;
  }
  function trend(counted) {
    return D.trendDays.map((day) => {
      const point = {day: day};
      for (const c of TRENDED) point[c] = 0;
      for (const d of counted) {
        const st = stateAt(d, day);
        if (st && d.amount !== null && st.cat in point) point[st.cat] += d.amount * st.prob;
      }
      return point;
    });
  }

  // -- drill-down --------------------------------------------------------------------------------------------
  function openDrill(drill) {
    state.drill = drill; state.page = 0; state.view = "deals"; render();
  }
  function drillOwner(label, key, field, team) {
    const match = (d) => (team !== undefined ? (d.owner.team ?? null) === team : d.owner.key === key);
    const pick = {won: (d) => d.status === "won", deals: () => true,
      commit: (d) => d.status === "open" && d.cat === "commit", best_case: (d) => d.status === "open" && d.cat === "best_case",
      pipeline: (d) => d.status === "open" && d.cat === "pipeline"}[field];
    return {title: label, set: "counted", test: (d) => match(d) && pick(d)};
  }

  // -- views -------------------------------------------------------------------------------------------------
  function compute() {
    const p = period(), chosen = deals.filter(passes);
    return {p: p, chosen: chosen, counted: chosen.filter((d) => inPeriod(d, p))};
  }
  function forecastView(panel, f) {
    const cats = categories(f.counted), byCount = state.measure === "count";
    panel.append(h("h2", {}, "Forecast by category"));
    const items = cats.map((c) => ({label: D.labels[c.cat], a: byCount ? c.count : c.amount, b: byCount ? null : c.weighted,
      color: COLORS[c.cat], drill: {title: D.labels[c.cat], set: "counted", test: (d) => d.cat === c.cat}}));
    panel.append(hbars(items, byCount ? "deals" : "amount / weighted", byCount));
    const rows = cats.map((c) => h("tr", {}, h("td", {}, D.labels[c.cat]),
      num(`cat:${c.cat}:count`, c.count, "count", items[D.categories.indexOf(c.cat)].drill),
      num(`cat:${c.cat}:amount`, c.amount), num(`cat:${c.cat}:weighted`, c.weighted)));
    rows.push(h("tr", {class: "total"}, h("td", {}, "Total"), num("cat:total:count", sum(cats, (c) => c.count), "count",
      {title: "All deals in the period", set: "counted", test: () => true}),
    num("cat:total:amount", sum(cats, (c) => c.amount)), num("cat:total:weighted", sum(cats, (c) => c.weighted))));
    panel.append(table(["Category", "Deals", `Amount (${D.currency})`, `Weighted (${D.currency})`], rows));

    panel.append(h("h2", {}, byCount ? "Deals per month of expected close" : "Weighted forecast per month of expected close"));
    const ms = months(f.counted, f.p);
    const drillMonth = (m) => ({title: fmtMonth(m), set: "counted",
      test: (d) => d.status !== "lost" && (d.day ? d.day.slice(0, 7) : null) === m});
    panel.append(columns(ms.map((m) => ({label: fmtMonth(m.month), v: byCount ? m.count : m.weighted,
      color: m.month ? "#2171b5" : "#fd8d3c", drill: drillMonth(m.month)})), byCount));
    panel.append(table(["Month", "Deals", "Amount", "Weighted"], ms.map((m) => h("tr", {}, h("td", {}, fmtMonth(m.month)),
      num(`month:${m.month || "none"}:count`, m.count, "count", drillMonth(m.month)),
      num(`month:${m.month || "none"}:amount`, m.amount), num(`month:${m.month || "none"}:weighted`, m.weighted)))));

    panel.append(h("h2", {}, "Trend of the weighted forecast over past runs"));
    const points = trend(f.counted);
    if (!points.length) { panel.append(h("p", {class: "empty"}, "No run has recorded a forecast yet.")); return; }
    panel.append(lines(points));
    panel.append(table(["Day", ...TRENDED.map((c) => D.labels[c])], points.map((pt) => h("tr", {}, h("td", {}, fmtDay(pt.day)),
      TRENDED.map((c) => num(`trend:${pt.day}:${c}`, pt[c], "amount", {title: `${D.labels[c]} on ${fmtDay(pt.day)}`,
        set: "counted", test: (d) => d.amount !== null && (stateAt(d, pt.day) || {}).cat === c}))))));
    panel.append(h("p", {class: "meta"}, "At the end of each day a run changed forecasts, at today's amounts; " +
      "a deal counts from its first recorded forecast on."));
  }
  function ownersView(panel, f) {
    const rows = owners(f.counted, f.p), groups = teams(rows), byCount = state.measure === "count";
    panel.append(h("h2", {}, byCount ? "Deals per owner" : "Per owner: won, commit, best case and pipeline"));
    const total = (r) => (byCount ? r.deals : r.won + r.commit + r.best_case + r.pipeline);
    const ranked = rows.slice().sort((x, y) => total(y) - total(x)).filter((r) => total(r) > 0);
    const top = ranked.slice(0, TOP), rest = ranked.slice(TOP);
    const items = top.map((r) => ({label: r.owner.name, r: r, drill: drillOwner(r.owner.name, r.owner.key, "deals")}));
    if (rest.length) {
      const keys = new Set(rest.map((r) => r.owner.key));
      const other = {won: sum(rest, (r) => r.won), commit: sum(rest, (r) => r.commit), best_case: sum(rest, (r) => r.best_case),
        pipeline: sum(rest, (r) => r.pipeline), deals: sum(rest, (r) => r.deals)};
      items.push({label: `other (${rest.length} owners)`, r: other, other: true,
        drill: {title: `${rest.length} other owners`, set: "counted", test: (d) => keys.has(d.owner.key)}});
    }
    panel.append(stacked(items, byCount));
    const head = ["Owner", "Deals", "Won", "Commit", "Best case", "Pipeline", "Target", "Won %", "Commit + won %"];
    const body = [];
    const line = (prefix, id, r, label, cls, team) => h("tr", {class: cls}, h("td", {}, label),
      ["deals", "won", "commit", "best_case", "pipeline"].map((k) => num(`${prefix}:${id}:${k}`, r[k], k === "deals" ? "count" : "amount",
        drillOwner(`${label}: ${k.replace("_", " ")}`, team === undefined ? r.owner.key : null, k, team))),
      num(`${prefix}:${id}:target`, r.target),
      num(`${prefix}:${id}:won_pct`, r.target ? r.won / r.target : null, "pct"),
      num(`${prefix}:${id}:commit_pct`, r.target ? (r.won + r.commit) / r.target : null, "pct"));
    for (const g of groups) {  // a team's owners PAGE at a time, its subtotal always
      const id = g.team === null ? "none" : g.team, at = state.open["team:" + id] || 0;
      const ordered = g.rows.length > PAGE ? g.rows.slice().sort((x, y) => total(y) - total(x)) : g.rows;
      for (const r of ordered.slice(at * PAGE, (at + 1) * PAGE)) body.push(line("owner", r.owner.key, r, r.owner.name, null));
      const name = g.team === null ? "No team" : `Team ${g.team}`;
      body.push(line("team", id, g, `${name} (${g.rows.length})`, "sub", g.team));
      if (g.rows.length > PAGE) {
        body.push(h("tr", {}, h("td", {colspan: head.length}, pager(at, g.rows.length, (to) => { state.open["team:" + id] = to; render(); }))));
      }
    }
    panel.append(table(head, body));
  }
  function qualityView(panel, f) {
    const flagged = f.chosen.filter((d) => d.flags.length);
    panel.append(h("h2", {}, `Data-quality flags (${deals_(flagged.length)})`));
    const by = {flag: (d) => d.flags, owner: (d) => [d.owner.name], connection: (d) => [d.conn]}[state.group];
    panel.append(h("p", {}, "Group by ", ["flag", "owner", "connection"].map((g) => h("label", {},
      h("input", {type: "radio", name: "dq-group", value: g, checked: state.group === g,
        on: {change: () => { state.group = g; state.open = {}; render(); }}}), ` ${g} `))));
    if (!flagged.length) { panel.append(h("p", {class: "empty"}, "No data-quality flags.")); return; }
    const groups = new Map();
    for (const d of flagged) for (const k of by(d)) { if (!groups.has(k)) groups.set(k, []); groups.get(k).push(d); }
    const keys = [...groups.keys()].sort((a, b) => groups.get(b).length - groups.get(a).length || a.localeCompare(b));
    for (const k of keys) {
      const mine = groups.get(k), page = state.open[k] || 0;
      const details = h("details", {class: "group", open: k in state.open, "data-group": k},
        h("summary", {}, h("strong", {}, k), " — ", h("span", {"data-fig": `${state.group}:${k}:count`, "data-value": mine.length},
          deals_(mine.length))));
      details.addEventListener("toggle", () => { if (details.open && !(k in state.open)) { state.open[k] = 0; fill(); } });
      const fill = () => {
        details.querySelectorAll("table, .pager").forEach((n) => n.remove());
        const at = state.open[k] || 0;
        details.append(dealTable(mine.slice(at * PAGE, (at + 1) * PAGE)),
          pager(at, mine.length, (to) => { state.open[k] = to; fill(); }));
      };
      if (k in state.open) { state.open[k] = page; fill(); }
      panel.append(details);
    }
  }
  function dealsView(panel, f) {
    const drill = state.drill || {title: "All deals in the period", set: "counted", test: () => true};
    const list = f[drill.set].filter(drill.test).sort((x, y) => value(y) - value(x) || x.name.localeCompare(y.name));
    panel.append(h("h2", {}, `${drill.title}: `, h("span", {"data-fig": "drill:count", "data-value": list.length},
      deals_(list.length)), `, ${fmtMoney(sum(list, value))} ${D.currency}`));
    if (state.drill) panel.append(h("button", {type: "button", on: {click: () => { state.drill = null; state.page = 0; render(); }}},
      "Show all deals"));
    panel.append(dealTable(list.slice(state.page * PAGE, (state.page + 1) * PAGE)));
    panel.append(pager(state.page, list.length, (to) => { state.page = to; render(); }));
  }
  function dealTable(list) {
    return table(["Deal", "Connection", "Pipeline / stage", "Owner", "Category", "Probability", `Amount (${D.currency})`,
      "In its currency", "Date", "Flags"], list.map((d) => h("tr", {"data-deal": `${d.conn}/${d.id}`},
      h("td", {}, d.url ? h("a", {href: d.url, target: "_blank", rel: "noopener noreferrer"}, d.name) : d.name),
      h("td", {}, d.conn, d.dry ? [" ", h("span", {class: "badge dry"}, "dry run")] : null),
      h("td", {}, `${d.pipeline} / ${d.stage}`), h("td", {}, d.owner.name), h("td", {}, D.labels[d.cat]),
      h("td", {class: "n"}, pct.format(d.prob)), h("td", {class: "n"}, fmtMoney(d.amount)),
      h("td", {class: "n"}, d.original === null ? "—" : `${money.format(+d.original)} ${d.currency || ""}`),
      h("td", {}, fmtDay(d.day)), h("td", {}, d.flags.join(", ")))), (i) => i >= 5 && i <= 7);
  }
  function pager(page, total, go) {
    const pages = Math.max(1, Math.ceil(total / PAGE));
    return h("div", {class: "pager"},
      h("button", {type: "button", disabled: page === 0, on: {click: () => go(page - 1)}}, "‹ previous"),
      h("span", {"data-page": `${page + 1}/${pages}`}, `page ${page + 1} of ${pages}`),
      h("button", {type: "button", disabled: page + 1 >= pages, on: {click: () => go(page + 1)}}, "next ›"));
  }

  // -- charts ------------------------------------------------------------------------------------------------
  function hbars(items, what, byCount) {
    const rowH = byCount ? 24 : 40, node = svg(items.length * rowH + 20, `Forecast by category (${what})`);
    const top = Math.max(1, ...items.map((i) => Math.max(i.a, i.b || 0))), scale = 460 / top;
    items.forEach((it, i) => {
      const y = 10 + i * rowH;
      node.append(s("text", {x: 150, y: y + 14, "text-anchor": "end"}, wrap(it.label, 22, 1)[0]));
      bar(node, 160, y, it.a * scale, byCount ? 18 : 16, byCount ? it.color : "#c6dbef", `${it.label}: ${byCount ? it.a : fmtMoney(it.a)}`, it.drill);
      if (!byCount) bar(node, 160, y + 18, it.b * scale, 16, it.color, `${it.label} weighted: ${fmtMoney(it.b)}`, it.drill);
      node.append(s("text", {x: 166 + it.a * scale, y: y + 13, class: "small"}, byCount ? whole.format(it.a) : fmtMoney(it.a)));
      if (!byCount) node.append(s("text", {x: 166 + it.b * scale, y: y + 31, class: "small"}, fmtMoney(it.b)));
    });
    return node;
  }
  function columns(items, byCount) {
    const node = svg(230, byCount ? "Deals per month" : "Weighted forecast per month");
    const n = Math.max(items.length, 1), slot = 700 / n, top = Math.max(1, ...items.map((i) => i.v)), scale = 170 / top;
    const every = Math.max(1, Math.ceil(n / Math.floor(700 / 70)));
    items.forEach((it, i) => {
      const x = 40 + i * slot, hgt = it.v * scale;
      bar(node, x + slot * 0.15, 190 - hgt, slot * 0.7, hgt, it.color, `${it.label}: ${byCount ? it.v : fmtMoney(it.v)}`, it.drill);
      if (i % every === 0) node.append(s("text", {x: x + slot / 2, y: 206, "text-anchor": "middle", class: "small"}, it.label));
    });
    node.append(s("text", {x: 4, y: 14, class: "small"}, `max ${byCount ? whole.format(top) : fmtMoney(top)}`));
    return node;
  }
  function stacked(items, byCount) {
    const rowH = 34, node = svg(items.length * rowH + 40, byCount ? "Deals per owner" : "Amounts per owner");
    const parts = byCount ? [["deals", "#2171b5"]] : [["won", "#31a354"], ["commit", "#3182bd"], ["best_case", "#6baed6"], ["pipeline", "#9ecae1"]];
    // the scale is the top N's: "other" (all the rest) is drawn shrunk to fit and says so
    const total = (r) => sum(parts, ([k]) => r[k]), top = Math.max(1, ...items.filter((i) => !i.other).map((i) => total(i.r)));
    items.forEach((it, i) => {
      const y = 10 + i * rowH, squeezed = total(it.r) > top, scale = squeezed ? 440 / total(it.r) : 440 / top;
      wrap(it.label, 24, 2).forEach((l, j) => node.append(s("text", {x: 170, y: y + 12 + j * 13, "text-anchor": "end"}, l)));
      if (squeezed) node.append(s("text", {x: 626, y: y + 33, class: "small", "text-anchor": "end"}, "not to scale"));
      let x = 180;
      for (const [k, color] of parts) {
        bar(node, x, y, it.r[k] * scale, 20, color, `${it.label} — ${k.replace("_", " ")}: ${byCount ? it.r[k] : fmtMoney(it.r[k])}`, it.drill);
        x += it.r[k] * scale;
      }
      node.append(s("text", {x: x + 6, y: y + 15, class: "small"}, byCount ? whole.format(total(it.r)) : fmtMoney(total(it.r))));
    });
    if (!byCount) parts.forEach(([k, color], j) => {
      node.append(s("rect", {x: 180 + j * 120, y: items.length * rowH + 20, width: 12, height: 12, fill: color}));
      node.append(s("text", {x: 198 + j * 120, y: items.length * rowH + 31, class: "small"}, k.replace("_", " ")));
    });
    return node;
  }
  function lines(points) {
    const node = svg(240, "Weighted forecast per category over past runs");
    const top = Math.max(1, ...points.flatMap((p) => TRENDED.map((c) => p[c]))), n = points.length;
    const x = (i) => (n === 1 ? 400 : 60 + (i * 660) / (n - 1)), y = (v) => 190 - (v / top) * 170;
    TRENDED.forEach((c, j) => {
      node.append(s("polyline", {points: points.map((p, i) => `${x(i).toFixed(1)},${y(p[c]).toFixed(1)}`).join(" "),
        fill: "none", stroke: COLORS[c], "stroke-width": 2}));
      points.forEach((p, i) => {
        const dot = s("circle", {cx: x(i).toFixed(1), cy: y(p[c]).toFixed(1), r: 3, fill: COLORS[c]});
        dot.append(s("title", {}, `${D.labels[c]} ${fmtDay(p.day)}: ${fmtMoney(p[c])}`));
        node.append(dot);
      });
      node.append(s("rect", {x: 60 + j * 150, y: 222, width: 12, height: 12, fill: COLORS[c]}));
      node.append(s("text", {x: 78 + j * 150, y: 233, class: "small"}, wrap(D.labels[c], 18, 1)[0]));
    });
    const every = Math.max(1, Math.ceil(n / 8));
    points.forEach((p, i) => { if (i % every === 0 || i === n - 1) node.append(s("text", {x: x(i), y: 206, "text-anchor": "middle", class: "small"}, fmtDay(p.day))); });
    node.append(s("text", {x: 4, y: 14, class: "small"}, `max ${fmtMoney(top)}`));
    return node;
  }

  // -- controls and rendering --------------------------------------------------------------------------------
  function options(select, entries, chosen) {
    select.replaceChildren(...entries.map(([v, label]) => h("option", {value: v, selected: v === chosen}, label)));
  }
  function setupControls() {
    const teamsAll = [...new Set(D.owners.map((o) => o.team).filter((t) => t))].sort();
    options(document.getElementById("f-period"), D.periods.map((p) => [p.key, p.key === "all" ? "all dates" : `${p.label}`]), state.period);
    options(document.getElementById("f-connection"), [["", "all connections"],
      ...D.connections.map((c) => [c.name, c.dryRun ? `${c.name} (dry run)` : c.name])], "");
    options(document.getElementById("f-pipeline"), [["", "all pipelines"], ...D.pipelines.map((p) => [p, p])], "");
    options(document.getElementById("f-team"), [["", "all teams"], ...teamsAll.map((t) => [t, t])], "");
    options(document.getElementById("f-owner"), [["", "all owners"], ...D.owners.map((o) => [o.key, o.name])], "");
    document.querySelectorAll("[data-filter]").forEach((el) => el.addEventListener("change", () => {
      state[el.dataset.filter] = el.value; state.page = 0; state.open = {}; render();
    }));
    document.querySelectorAll("input[name=measure]").forEach((el) => el.addEventListener("change", () => {
      state.measure = el.value; render();
    }));
    document.getElementById("f-reset").addEventListener("click", () => {
      Object.assign(state, initial, {drill: null, page: 0, open: {}});
      document.querySelectorAll("[data-filter]").forEach((el) => { el.value = state[el.dataset.filter]; });
      render();
    });
    document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => {
      state.view = b.dataset.view; render();
    }));
  }
  function render() {
    const f = compute(), p = f.p;
    document.getElementById("period-title").textContent = "— " + (p.start || p.end ? `${p.label} (${fmtDay(p.start)} – ${fmtDay(p.end)})` : "all dates");
    const views = {forecast: forecastView, owners: ownersView, quality: qualityView, deals: dealsView};
    for (const panel of document.querySelectorAll("[data-panel]")) {
      const key = panel.dataset.panel;
      panel.hidden = key !== state.view;
      if (key in views) { panel.replaceChildren(); if (key === state.view) views[key](panel, f); }
    }
    document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("on", b.dataset.view === state.view));
    document.body.dataset.ready = "1";
  }
  setupControls();
  render();
})();
