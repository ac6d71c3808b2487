// The lab console: one page, hash routes, plain DOM. Talks only to this app's
// console/api/* routes and to the presigned S3 URLs they hand out.
"use strict";
(() => {
  const BASE = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const TOKEN = "lab.console.idToken";
  const main = document.getElementById("main");
  const errorBox = document.getElementById("error");
  const S = { config: null, auth: { mode: "none" }, timers: [], thumbs: new Map(), view: "" };

  // -- small helpers -------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else el.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  // replaceChildren, skipping empty parts and flattening lists as h() does
  const put = (el, ...children) => el.replaceChildren(...children.flat(Infinity)
    .filter((c) => c !== null && c !== undefined && c !== false));
  const fmt = (v, digits) => (v === null || v === undefined || v === "" ? "–" :
    typeof v === "number" && digits !== undefined ? v.toFixed(digits) : String(v));
  const badge = (status) => h("span", { class: "badge s-" + String(status).replace(/\s+/g, "-") }, status);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
  const qs = (params) => Object.entries(params).filter(([, v]) => v !== "" && v !== undefined && v !== null)
    .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
  const every = (ms, fn) => S.timers.push(setInterval(fn, ms));
  const go = (hash) => { location.hash = hash; };

  function showError(err) {
    errorBox.textContent = err && err.message ? err.message : String(err);
    errorBox.hidden = false;
  }
  function clearError() { errorBox.hidden = true; errorBox.textContent = ""; }

  class ApiError extends Error {}

  function headers(extra) {
    const out = Object.assign({}, extra || {});
    const token = sessionStorage.getItem(TOKEN);
    if (token) out.Authorization = token;
    return out;
  }

  // Every call: JSON in and out; a non-2xx answer becomes an error carrying the API's reason.
  async function api(path, options) {
    const opts = options || {};
    const init = { method: opts.method || "GET", headers: headers({ Accept: "application/json" }) };
    if (opts.body !== undefined) {
      init.body = JSON.stringify(opts.body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(BASE + path, init);
    if (response.status === 401 && S.auth.mode === "cognito") { signIn(); throw new ApiError("signing in…"); }
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!response.ok) {
      const reason = (body && (body.reason || body.Message || body.message)) || text || response.statusText;
      throw new ApiError(`${init.method} ${path.split("?")[0]}: ${response.status} ${reason}`);
    }
    return body;
  }

  // RFC 6266: the UTF-8 name (filename*=UTF-8''…) when given, else the ASCII filename="…"
  function fileName(disposition, fallbackName) {
    const encoded = /filename\*=UTF-8''([^;\s]+)/i.exec(disposition);
    const plain = /filename="([^"]+)"/.exec(disposition);
    try { if (encoded) return decodeURIComponent(encoded[1]); } catch (e) { /* malformed: the ASCII name */ }
    return plain ? plain[1] : fallbackName;
  }

  async function download(path, accept, fallbackName) {
    clearError();
    try {
      const response = await fetch(BASE + path, { headers: headers({ Accept: accept }) });
      if (!response.ok) {
        let reason = await response.text();
        try { reason = JSON.parse(reason).reason || reason; } catch (e) { /* plain text */ }
        throw new ApiError(`download: ${response.status} ${reason}`);
      }
      const blob = await response.blob();
      const name = fileName(response.headers.get("Content-Disposition") || "", fallbackName);
      const link = h("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(link); link.click(); link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (err) { showError(err); }
  }

  function pager(listing, onPage) {
    if (!listing || listing.pages <= 1) return h("div", { class: "pager small muted" }, `${listing ? listing.total : 0} in all`);
    return h("div", { class: "pager" },
      h("button", { class: "plain", disabled: listing.page <= 1, onclick: () => onPage(listing.page - 1) }, "‹ Previous"),
      h("span", { class: "small" }, `page ${listing.page} of ${listing.pages} · ${listing.total} in all`),
      h("button", { class: "plain", disabled: listing.page >= listing.pages, onclick: () => onPage(listing.page + 1) }, "Next ›"));
  }

  function table(columns, rows, rowAttrs) {
    return h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null }, c.title)))),
      h("tbody", {}, rows.map((row, i) => h("tr", rowAttrs ? rowAttrs(row, i) : {},
        columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(row)))))));
  }

  function params(fields) {
    const out = {};
    for (const [name, input] of Object.entries(fields)) if (input.value !== "") out[name] = input.value;
    return out;
  }

  // The counting parameters form: method, diameter, threshold offset, image type.
  function countFields(defaults) {
    const d = defaults || {};
    const methods = (S.config && S.config.methods) || [];
    const types = (S.config && S.config.image_types) || [];
    const fields = {
      method: h("select", { name: "method" }, h("option", { value: "" }, "default"),
        methods.map((m) => h("option", { value: m, selected: d.method === m }, m))),
      diameter: h("input", { name: "diameter", type: "number", min: "1", max: "2000", step: "any", placeholder: "auto", value: d.diameter || "" }),
      threshold_offset: h("input", { name: "threshold_offset", type: "number", min: "-0.45", max: "0.45", step: "0.05", placeholder: "0", value: d.threshold_offset || "" }),
      image_type: h("select", { name: "image_type" }, h("option", { value: "" }, "default"),
        types.map((m) => h("option", { value: m, selected: d.image_type === m }, m.replace("_", " ")))),
    };
    const labels = [
      h("label", {}, "Method", fields.method), h("label", {}, "Diameter (px)", fields.diameter),
      h("label", {}, "Threshold offset", fields.threshold_offset), h("label", {}, "Image type", fields.image_type),
    ];
    return { fields, labels };
  }

  // -- Images --------------------------------------------------------------------------
  async function viewImages(q) {
    const folder = h("input", { class: "wide", name: "folder", placeholder: "e.g. plate1/ (optional)", value: q.prefix || "" });
    const counting = countFields();
    const fileInput = h("input", { type: "file", multiple: true, accept: ((S.config && S.config.image_suffixes) || []).join(","), hidden: true });
    const progress = h("ul", { class: "uploads" });
    const drop = h("div", { class: "drop", id: "drop", onclick: () => fileInput.click() },
      h("strong", {}, "Drop images here"), " or click to choose (PNG, JPEG, TIFF). They go straight to the images bucket and are counted.");
    for (const name of ["dragenter", "dragover"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
    for (const name of ["dragleave", "drop"]) drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
    drop.addEventListener("drop", (e) => upload([...e.dataTransfer.files]));
    fileInput.addEventListener("change", () => upload([...fileInput.files]));

    const filter = h("input", { class: "wide", name: "prefix", placeholder: "all images", value: q.prefix || "" });
    const sort = h("select", { name: "sort" }, h("option", { value: "newest" }, "newest first"), h("option", { value: "key", selected: q.sort === "key" }, "by name"));
    const listBox = h("div", { id: "image-list" }, h("p", { class: "muted" }, "Loading…"));
    let page = Number(q.page || 1);

    async function upload(files) {
      clearError();
      if (!files.length) return;
      try {
        const body = Object.assign({ prefix: folder.value, files: files.map((f) => f.name) }, params(counting.fields));
        const answer = await api("console/api/uploads", { method: "POST", body });
        await Promise.all(answer.forms.map((form, i) => send(form, files[i])));
      } catch (err) { showError(err); }
      refresh();
    }
    async function send(form, file) {
      const line = h("li", {}, `${form.key}: uploading…`);
      progress.prepend(line);
      const data = new FormData();
      for (const [k, v] of Object.entries(form.fields)) data.append(k, v);
      data.append("file", file);
      const response = await fetch(form.url, { method: "POST", body: data });
      if (response.ok) { line.textContent = `${form.key}: uploaded, counting…`; return; }
      const text = await response.text();
      const message = (/<Message>([^<]*)<\/Message>/.exec(text) || [])[1] || text || response.statusText;
      line.textContent = `${form.key}: upload failed (${response.status}) ${message}`;
      line.className = "warn";
    }
    async function refresh() {
      try {
        const listing = await api("console/api/images?" + qs({ prefix: filter.value, sort: sort.value, page, per_page: 25 }));
        renderList(listing);
        clearTimeout(S.nextRefresh);
        const busy = (listing.states.counting || 0) > 0;
        S.nextRefresh = setTimeout(() => { if (S.view === "images") refresh(); }, busy ? 1500 : 8000);
      } catch (err) { showError(err); }
    }
    function renderList(listing) {
      const states = Object.entries(listing.states).map(([s, n]) => h("span", {}, badge(s), ` ${n} `));
      const columns = [
        { title: "", cell: (r) => thumb(r) },
        { title: "Image", cell: (r) => h("a", { href: "#/image?" + qs({ key: r.key }) }, r.key) },
        { title: "Status", cell: (r) => badge(r.status) },
        { title: "Cells", num: true, cell: (r) => (r.status === "ok" ? fmt(r.count) : "–") },
        { title: "QC", cell: (r) => qcCell(r) },
        { title: "Method", cell: (r) => fmt(r.method) },
        { title: "Uploaded", cell: (r) => when(r.uploaded) },
      ];
      put(listBox, 
        h("p", { class: "small" }, states, h("span", { class: "muted" }, ` · listed in ${listing.elapsed_ms} ms`)),
        listing.items.length ? table(columns, listing.items, (r) => ({ "data-key": r.key, "data-status": r.status }))
          : h("p", { class: "muted" }, "No images here yet: drop some above."),
        pager(listing, (p) => { page = p; refresh(); }));
    }
    function thumb(row) {
      if (!row.thumbnail) return h("div", { class: "thumb" });
      const cached = S.thumbs.get(row.result) || row.thumbnail;
      S.thumbs.set(row.result, cached);
      return h("img", { class: "thumb", src: cached, alt: "", loading: "lazy" });
    }

    put(main, 
      h("h1", {}, "Images"),
      h("div", { class: "card" },
        h("form", { class: "inline", onsubmit: (e) => e.preventDefault() },
          h("label", {}, "Upload into folder", folder), counting.labels),
        h("div", { style: "margin-top:.6rem" }, drop, fileInput), progress),
      h("div", { class: "card" },
        h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); page = 1; refresh(); } },
          h("label", {}, "Folder or prefix", filter), h("label", {}, "Order", sort), h("button", { type: "submit" }, "Show")),
        listBox));
    sort.addEventListener("change", () => { page = 1; refresh(); });
    await refresh();
  }

  function chips(values) {
    return h("div", { class: "chips" }, Object.entries(values || {}).map(([k, v]) => h("span", {}, `${k} ${typeof v === "number" ? +v.toFixed(3) : v}`)));
  }

  function qcCell(row) {
    const bits = [];
    if (row.reliable === false) bits.push(h("span", { class: "warn", title: (row.reasons || []).join("; ") }, "unreliable "));
    if (row.warnings && row.warnings.length) bits.push(h("span", { class: "warn small", title: row.warnings.join("\n") }, `⚠ ${row.warnings.length}`));
    if (row.reason) bits.push(h("span", { class: "small" }, row.reason));
    if (!bits.length && row.status === "ok") bits.push(h("span", { class: "muted small" }, row.reliable === true ? "reliable" : "–"));
    return bits;
  }

  // -- One image -----------------------------------------------------------------------
  async function viewImage(q) {
    const data = await api("console/api/image?" + qs({ key: q.key, result: q.result }));
    const doc = data.document;
    if (!doc) {
      put(main, h("h1", {}, data.key), h("p", {}, badge("counting"), " waiting for the result…"));
      every(1500, () => route());
      return;
    }
    const displayable = /\.(png|jpe?g|gif|bmp|webp)$/i.test(data.key);
    const overlay = h("input", { type: "checkbox", id: "overlay-toggle", checked: true });
    const annotated = data.annotated ? h("img", { class: displayable ? "overlay" : "", id: "annotated", src: data.annotated, alt: "annotated" }) : null;
    const cells = Array.isArray(doc.cells) ? doc.cells : [];
    const width = doc.width || 1, height = doc.height || 1;
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    const mark = document.createElementNS(svgNS, "circle");
    mark.setAttribute("r", "0");
    svg.append(mark);
    const stage = h("div", { class: "stage" },
      displayable ? h("img", { id: "original", src: data.original, alt: "original" }) : null, annotated, svg);
    overlay.addEventListener("change", () => { if (annotated) annotated.style.visibility = overlay.checked ? "visible" : "hidden"; });

    const versions = data.versions || [];
    const picker = versions.length > 1 ? h("select", { id: "versions", onchange: (e) => go("#/image?" + qs({ key: data.key, result: e.target.value })) },
      versions.map((v) => h("option", { value: v.result, selected: v.result === data.result },
        `${v.method || "default"} ${JSON.stringify(v.parameters || {})} → ${v.status === "ok" ? v.count + " cells" : v.status} (${when(v.updated)})`))) : null;

    const recount = countFields(Object.assign({ method: doc.method }, doc.parameters || {}));
    const recountNote = h("span", { class: "small muted", id: "recount-note" });
    async function doRecount(e) {
      e.preventDefault(); clearError();
      const before = versions.map((v) => v.result + v.version).join();
      try {
        await api("console/api/recount", { method: "POST", body: Object.assign({ key: data.key }, params(recount.fields)) });
        recountNote.textContent = "counting again…";
        const poll = async () => {
          const now = await api("console/api/image?" + qs({ key: data.key }));
          if ((now.versions || []).map((v) => v.result + v.version).join() !== before) go("#/image?" + qs({ key: data.key, result: now.versions[0].result, t: Date.now() }));
        };
        every(1000, () => poll().catch(showError));
      } catch (err) { showError(err); }
    }

    let cellPage = 1;
    const cellBox = h("div", {});
    function renderCells() {
      const per = 100, start = (cellPage - 1) * per;
      const shown = cells.slice(start, start + per);
      const cols = [
        { title: "#", num: true, cell: (c) => c.n },
        { title: "x", num: true, cell: (c) => fmt(c.x, 1) }, { title: "y", num: true, cell: (c) => fmt(c.y, 1) },
        { title: "area", num: true, cell: (c) => fmt(c.area, 0) }, { title: "diameter", num: true, cell: (c) => fmt(c.r * 2, 1) },
        { title: "mean intensity", num: true, cell: (c) => fmt(c.mean_intensity, 2) },
      ];
      put(cellBox, h("div", { class: "scroll" }, table(cols, shown.map((c, i) => Object.assign({ n: start + i + 1 }, c)), (c) => ({
        onmouseenter: () => { mark.setAttribute("cx", c.x); mark.setAttribute("cy", c.y); mark.setAttribute("r", Math.max(c.r * 1.4, 4)); },
        onmouseleave: () => mark.setAttribute("r", "0") }))),
      pager({ page: cellPage, pages: Math.max(1, Math.ceil(cells.length / per)), total: cells.length }, (p) => { cellPage = p; renderCells(); }));
    }
    renderCells();
    const qc = doc.qc || {};
    put(main, 
      h("p", { class: "small" }, h("a", { href: "#/images" }, "‹ Images")),
      h("h1", {}, data.key),
      h("div", { class: "row" },
        h("div", { class: "grow" },
          h("div", { class: "card" },
            h("label", { style: "flex-direction:row;align-items:center;gap:.4rem;margin-bottom:.5rem" }, overlay, "annotated overlay"),
            displayable ? null : h("p", { class: "small muted" }, "The original is not a format browsers show; the annotated image is drawn from it."),
            stage)),
        h("div", { class: "grow" },
          h("div", { class: "card", id: "result" },
            h("dl", { class: "kv" },
              h("dt", {}, "Status"), h("dd", {}, badge(doc.status), doc.error ? " " + doc.error.reason : ""),
              h("dt", {}, "Cells"), h("dd", { id: "count" }, h("strong", {}, fmt(doc.count))),
              h("dt", {}, "Method"), h("dd", {}, fmt(doc.method), chips(doc.parameters)),
              h("dt", {}, "Image"), h("dd", {}, `${fmt(doc.width)} × ${fmt(doc.height)} px`),
              qc.image_type ? [h("dt", {}, "Image type"), h("dd", {}, `${qc.image_type} (${fmt(qc.image_type_confidence, 2)})`)] : null,
              doc.reliable === undefined ? null : [h("dt", {}, "Reliable"), h("dd", {}, doc.reliable ? "yes" : h("span", { class: "warn" }, "no"))],
              (qc.warnings || []).length ? [h("dt", {}, "Warnings"), h("dd", { class: "warn" }, qc.warnings.join("; "))] : null,
              (doc.flagged || []).length ? [h("dt", {}, "Flagged"), h("dd", { class: "warn" }, `${doc.flagged.length} object(s) not counted (drawn in another colour)`)] : null,
              h("dt", {}, "Counted"), h("dd", {}, when(data.updated), doc.elapsed_ms ? ` in ${Math.round(doc.elapsed_ms)} ms` : "")),
            picker ? h("p", {}, h("label", {}, `Results of this image (${versions.length})`, picker)) : null,
            h("p", {}, data.cells_csv ? h("a", { href: data.cells_csv, id: "cells-csv", download: "" }, "Download the per-cell CSV") : null)),
          h("div", { class: "card" },
            h("h2", { style: "margin-top:0" }, "Recount with…"),
            h("form", { class: "inline", id: "recount", onsubmit: doRecount }, recount.labels, h("button", { type: "submit" }, "Recount"), recountNote),
            h("p", { class: "small muted" }, "Counts the stored image again and keeps the new result beside this one; nothing is uploaded again.")))),
      h("h2", {}, `Cells (${cells.length})`), cellBox);
  }

  // -- Folders and plates ----------------------------------------------------------------
  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function colour(t) {
    const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1), i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
    const c = STOPS[i].map((v, k) => Math.round(v + (STOPS[i + 1][k] - v) * f));
    return `rgb(${c.join(",")})`;
  }

  function plateGrid(plate, cell) {
    const [rows, cols] = plate.format;
    const grid = h("div", { class: "plate", style: `grid-template-columns: 1.5em repeat(${cols}, minmax(22px, 1fr))` }, h("div", { class: "hd" }));
    for (let c = 1; c <= cols; c++) grid.append(h("div", { class: "hd" }, c));
    for (let r = 0; r < rows; r++) {
      grid.append(h("div", { class: "hd" }, plate.row_names[r]));
      for (let c = 1; c <= cols; c++) grid.append(cell(r, c));
    }
    return grid;
  }

  async function viewFolders(q) {
    const prefix = h("input", { class: "wide", name: "prefix", placeholder: "e.g. plate1/ (empty: everything)", value: q.prefix || "" });
    const out = h("div", { id: "summary" });
    put(main, h("h1", {}, "Folders & plates"),
      h("div", { class: "card" }, h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); go("#/folders?" + qs({ prefix: prefix.value, t: Date.now() })); } },
        h("label", {}, "Folder or prefix", prefix), h("button", { type: "submit" }, "Summarise"))), out);
    const data = await api("console/api/summary?" + qs({ prefix: q.prefix || "" }));
    const base = "console/api/summary/export?" + qs({ prefix: data.prefix });
    const exports = h("div", { class: "row" },
      h("button", { id: "export-wells-csv", onclick: () => download(base + "&format=csv&table=wells", "text/csv", "wells.csv") }, "Wells CSV"),
      h("button", { id: "export-images-csv", onclick: () => download(base + "&format=csv&table=images", "text/csv", "images.csv") }, "Images CSV"),
      h("button", { id: "export-xlsx", onclick: () => download(base + "&format=xlsx", S.config.xlsx_type, "counts.xlsx") }, "Excel (XLSX)"));
    const plates = data.plates.map((plate) => {
      const values = plate.grid.flat().filter((v) => v !== null);
      const lo = Math.min(...values), hi = Math.max(...values);
      const byWell = new Map(data.wells.filter((w) => w.plate === plate.plate).map((w) => [w.well, w]));
      const grid = plateGrid(plate, (r, c) => {
        const v = plate.grid[r][c - 1];
        const name = plate.row_names[r] + String(c).padStart(2, "0");
        const w = byWell.get(name);
        if (v === null || v === undefined) return h("div", { class: "w", title: w ? `${name}: no count (${w.errors} errors)` : name }, w ? "!" : "");
        const t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
        return h("div", { class: "w", "data-well": name, style: `background:${colour(t)};color:${t > 0.55 ? "#222" : "#fff"}`,
          title: `${name}: mean ${v} cells over ${w ? w.counted : "?"} image(s)` }, Math.round(v));
      });
      return h("div", { class: "card" }, h("h2", { style: "margin-top:0" }, `Plate ${plate.plate || "(this folder)"}`, h("span", { class: "muted small" }, ` · ${plate.format[0] * plate.format[1]} wells · mean cells per image`)),
        grid, h("div", { class: "legend" }, fmt(lo, 0), h("span", { class: "bar", style: `background:linear-gradient(90deg,${STOPS.map((c) => `rgb(${c})`).join(",")})` }), fmt(hi, 0)));
    });
    const wellCols = [
      { title: "Plate", cell: (w) => w.plate || "–" }, { title: "Well", cell: (w) => w.well },
      { title: "Images", num: true, cell: (w) => w.images }, { title: "Total", num: true, cell: (w) => w.total_count },
      { title: "Mean", num: true, cell: (w) => fmt(w.mean_count, 1) }, { title: "SD", num: true, cell: (w) => fmt(w.sd_count, 1) },
      { title: "Errors", num: true, cell: (w) => w.errors }, { title: "Unreliable", num: true, cell: (w) => w.unreliable },
    ];
    const imageCols = [
      { title: "Image", cell: (r) => h("a", { href: "#/image?" + qs({ key: r.key }) }, r.key) }, { title: "Well", cell: (r) => r.well || "–" },
      { title: "Status", cell: (r) => badge(r.status) }, { title: "Cells", num: true, cell: (r) => fmt(r.count) },
      { title: "Reliable", cell: (r) => r.reliable || "–" }, { title: "Warnings / reason", cell: (r) => [r.warnings, r.reason].filter(Boolean).join("; ") || "–" },
    ];
    let imagePage = 1;
    const imageBox = h("div", {});
    const renderImages = () => {
      const per = 100, listing = { page: imagePage, pages: Math.max(1, Math.ceil(data.images.length / per)), total: data.images.length };
      put(imageBox, h("div", { class: "scroll" }, table(imageCols, data.images.slice((imagePage - 1) * per, imagePage * per))),
        pager(listing, (p) => { imagePage = p; renderImages(); }));
    };
    renderImages();
    put(out, 
      h("p", { class: "small muted" }, `${data.images.length} images, ${data.wells.length} wells under “${data.prefix || "(everything)"}” · summarised in ${data.elapsed_ms} ms`),
      exports, ...plates,
      ...(data.wells.length ? [h("h2", {}, "Per well"), h("div", { class: "scroll", id: "wells" }, table(wellCols, data.wells))]
        : [h("p", { class: "muted" }, "No well names (A01, r01c01, …) in these file names: per-image counts only.")]),
      h("h2", {}, "Per image"), imageBox);
  }

  // -- Cell Painting -------------------------------------------------------------------
  async function viewPainting(q) {
    const listing = await api("console/api/painting?" + qs({ page: q.page || 1 }));
    const cols = [
      { title: "Job", cell: (j) => h("a", { href: "#/painting/" + encodeURIComponent(j.job_id) }, j.job_id) },
      { title: "State", cell: (j) => badge(j.state) }, { title: "Input", cell: (j) => fmt(j.input) },
      { title: "Output", cell: (j) => fmt(j.output) }, { title: "Updated", cell: (j) => fmt(j.updated) },
      { title: "Reason", cell: (j) => fmt(j.reason) },
    ];
    put(main, h("h1", {}, "Cell Painting jobs"),
      h("p", { class: "small muted" }, "Jobs arrive as messages on the painting queue (see the README); each runs CellProfiler on AWS Batch."),
      listing.items.length ? table(cols, listing.items) : h("p", { class: "muted" }, "No painting jobs yet."),
      pager(listing, (p) => go("#/painting?" + qs({ page: p }))));
    every(4000, () => route());
  }

  const PLATE_COLOURS = { succeeded: "#3a9d5d", failed: "#d0453b", dead: "#7d1f1a", running: "#3b78c9", pending: "#c9ced6", submitted: "#9db8e0" };
  async function viewPaintingJob(id) {
    const job = await api("console/api/painting/" + encodeURIComponent(id));
    const map = job.plate_map || {};
    const retryNote = h("span", { class: "small", id: "retry-note" });
    const failed = Object.values(job.groups || {}).filter((g) => ["failed", "dead"].includes(g && g.state)).length;
    async function retry() {
      clearError();
      try {
        const answer = await api(`console/api/painting/${encodeURIComponent(id)}/retry`, { method: "POST", body: {} });
        retryNote.textContent = "retry sent: " + JSON.stringify(answer);
      } catch (err) { showError(err); }
    }
    const plate = map.format ? h("div", { class: "card" }, h("h2", { style: "margin-top:0" }, "Plate map of groups"),
      plateGrid({ format: map.format, row_names: map.row_names }, (r, c) => {
        const name = map.row_names[r] + String(c).padStart(2, "0");
        const g = map.wells[name];
        return h("div", { class: "w", "data-well": name, "data-state": g ? g.state : null, title: g ? `${name}: ${g.state}${g.reason ? " — " + g.reason : ""}` : name,
          style: g ? `background:${PLATE_COLOURS[g.state] || "#e2c35a"};color:#fff` : null }, g ? name : "");
      }),
      h("div", { class: "legend" }, Object.entries(map.totals || {}).map(([s, n]) => h("span", {}, badge(s), ` ${n}`)))) : null;
    const others = (map.other || []).length ? h("div", { class: "card" }, h("h2", { style: "margin-top:0" }, "Groups"),
      table([{ title: "Group", cell: (g) => g.name }, { title: "State", cell: (g) => badge(g.state) }, { title: "Reason", cell: (g) => fmt(g.reason) }], map.other)) : null;
    put(main, 
      h("p", { class: "small" }, h("a", { href: "#/painting" }, "‹ Cell Painting jobs")),
      h("h1", {}, id),
      h("div", { class: "card" }, h("dl", { class: "kv", id: "job" },
        h("dt", {}, "State"), h("dd", {}, badge(job.state || "unknown"), job.reason ? " " + job.reason : ""),
        h("dt", {}, "Input"), h("dd", {}, fmt((job.job || {}).input)), h("dt", {}, "Output"), h("dd", {}, fmt((job.results || {}).output)),
        h("dt", {}, "Batch"), h("dd", {}, fmt((job.batch || {}).status), " ", h("span", { class: "small muted" }, JSON.stringify((job.batch || {}).array || {}))),
        job.totals ? [h("dt", {}, "Totals"), h("dd", {}, JSON.stringify(job.totals))] : null,
        job.estimated_finish ? [h("dt", {}, "Estimated finish"), h("dd", {}, when(job.estimated_finish))] : null),
      h("p", {}, h("button", { id: "retry", onclick: retry, disabled: !failed && !["failed"].includes(job.state) }, `Retry failed groups${failed ? ` (${failed})` : ""}`), " ", retryNote)),
      plate, others,
      h("div", { class: "card" }, h("h2", { style: "margin-top:0" }, "Outputs"),
        job.links && job.links.length ? h("ul", { id: "outputs" }, job.links.map((l) => h("li", {}, h("a", { href: l.url, target: "_blank", rel: "noopener" }, l.name), h("span", { class: "muted small" }, " " + l.s3))))
          : h("p", { class: "muted" }, "No outputs yet.")),
      h("details", {}, h("summary", {}, "Full status"), h("pre", { class: "json" }, JSON.stringify(job, null, 1))));
    if (["submitting", "submitted", "running"].includes(job.state)) every(3000, () => route());
  }

  // -- Videos --------------------------------------------------------------------------
  async function viewVideos(q) {
    const listing = await api("console/api/videos?" + qs({ page: q.page || 1 }));
    const cols = [
      { title: "Video", cell: (v) => h("a", { href: "#/video?" + qs({ key: v.key }) }, v.key) },
      { title: "Status", cell: (v) => badge(v.status) }, { title: "Frames", num: true, cell: (v) => fmt(v.frames) },
      { title: "Face boxes blurred", num: true, cell: (v) => fmt(v.faces) }, { title: "Uploaded", cell: (v) => when(v.uploaded) },
      { title: "Reason", cell: (v) => fmt(v.reason) },
    ];
    put(main, h("h1", {}, "Videos"),
      h("p", { class: "small muted" }, `Upload videos to s3://${(S.config || {}).videos_bucket || "the videos bucket"}/; each runs through the face-blur workflow.`),
      listing.items.length ? table(cols, listing.items) : h("p", { class: "muted" }, "No videos yet."),
      pager(listing, (p) => go("#/videos?" + qs({ page: p }))));
    if (listing.items.some((v) => v.status === "running")) every(3000, () => route());
  }

  async function viewVideo(q) {
    const v = await api("console/api/video?" + qs({ key: q.key }));
    const r = v.result || {};
    const player = (src, id) => {
      const video = h("video", { id, src, controls: true, muted: true, preload: "metadata", playsinline: true });
      video.addEventListener("error", () => video.replaceWith(h("p", { class: "warn" }, "This browser cannot play this file; ", h("a", { href: src }, "download it"), ".")));
      return video;
    };
    put(main, 
      h("p", { class: "small" }, h("a", { href: "#/videos" }, "‹ Videos")),
      h("h1", {}, v.key),
      h("div", { class: "card" }, h("dl", { class: "kv" },
        h("dt", {}, "Status"), h("dd", { id: "video-status" }, badge(v.status), r.error ? " " + r.error.reason : ""),
        h("dt", {}, "Workflow"), h("dd", {}, badge((v.workflow || {}).status || "–"), " ", h("span", { class: "chain", id: "states" }, ((v.workflow || {}).states || []).map((s) => h("span", {}, s)))),
        r.frames ? [h("dt", {}, "Video"), h("dd", {}, `${r.frames} frames ${r.width}×${r.height} @ ${fmt(r.fps, 1)} fps, ${r.codec}`)] : null,
        r.face_boxes_blurred !== undefined ? [h("dt", {}, "Faces"), h("dd", {}, `${r.face_boxes_blurred} face boxes blurred (${r.detector || "detector"})`)] : null)),
      h("div", { class: "videos" },
        h("div", { class: "card" }, h("h2", { style: "margin-top:0" }, "Original"), player(v.original, "original-video")),
        h("div", { class: "card" }, h("h2", { style: "margin-top:0" }, "Faces blurred"),
          v.blurred ? player(v.blurred, "blurred-video") : h("p", { class: "muted" }, v.status === "error" ? "No output: the workflow failed." : "Blurring…"))),
      v.review_sheet ? h("div", { class: "card" }, h("h2", { style: "margin-top:0" }, "Review sheet"), h("img", { src: v.review_sheet, alt: "review sheet", style: "max-width:100%" })) : null);
    if (v.status === "running") every(2000, () => route());
  }

  // -- Chat jobs -----------------------------------------------------------------------
  async function viewJobs(q) {
    const task = h("select", { name: "task" }, ["count-cells", "predict", "blur-faces"].map((t) => h("option", { value: t }, t)));
    const input = h("input", { class: "wide", name: "input", placeholder: "s3://bucket/key, or observations as JSON for predict" });
    async function submit(e) {
      e.preventDefault(); clearError();
      try {
        await api("console/api/jobs", { method: "POST", body: { task: task.value, input: input.value } });
        route();
      } catch (err) { showError(err); }
    }
    const listing = await api("console/api/jobs?" + qs({ page: q.page || 1 }));
    const summary = (j) => {
      const r = j.result || {};
      if (j.status !== "ok") return fmt((j.error || {}).reason || "");
      if (r.count !== undefined) return `${r.count} cells (${r.method || ""})`;
      if (r.label !== undefined) return `${r.label} (p = ${fmt(r.probability, 3)})`;
      return JSON.stringify(r).slice(0, 80);
    };
    const cols = [
      { title: "Job", cell: (j) => h("span", { class: "small" }, j.job_id) }, { title: "Task", cell: (j) => fmt(j.task) },
      { title: "Input", cell: (j) => h("span", { class: "small" }, String(typeof j.input === "string" ? j.input : JSON.stringify(j.input || "")).slice(0, 60)) },
      { title: "Status", cell: (j) => badge(j.status || "unknown") }, { title: "Result", cell: summary },
      { title: "Chat", cell: (j) => fmt((j.attributes || {}).chat_id) }, { title: "Updated", cell: (j) => when(j.updated) },
    ];
    put(main, h("h1", {}, "Chat jobs"),
      h("div", { class: "card" }, h("form", { class: "inline", onsubmit: submit }, h("label", {}, "Task", task), h("label", {}, "Input", input), h("button", { type: "submit" }, "Send job"))),
      listing.items.length ? table(cols, listing.items) : h("p", { class: "muted" }, "No jobs yet."),
      pager(listing, (p) => go("#/jobs?" + qs({ page: p }))));
    if (listing.items.some((j) => ["queued", "running"].includes(j.status))) every(2000, () => route());
  }

  // -- Predict -------------------------------------------------------------------------
  async function viewPredict() {
    const model = await api("console/api/model");
    const features = model.features || [];
    const inputs = Object.fromEntries(features.map((f) => [f, h("input", { name: f, type: "number", step: "any", required: true })]));
    const answer = h("div", { class: "answer", id: "prediction" });
    async function submit(e) {
      e.preventDefault(); clearError(); answer.textContent = "";
      const body = Object.fromEntries(features.map((f) => [f, Number(inputs[f].value)]));
      try {
        const r = await api("console/api/predict", { method: "POST", body });
        put(answer, h("strong", {}, r.label || String(r.prediction)), ` — probability ${fmt(r.probability, 3)} (prediction ${r.prediction})`);
      } catch (err) { showError(err); }
    }
    put(main, h("h1", {}, "Prediction"),
      h("div", { class: "card" },
        h("p", { class: "small muted" }, `Model: ${model.name || model.model || "breast-cancer classifier"}${model.trained_at ? " · trained " + model.trained_at : ""}`),
        h("form", { class: "inline", onsubmit: submit }, features.map((f) => h("label", {}, f, inputs[f])), h("button", { type: "submit" }, "Predict")),
        answer));
  }

  // -- routing and sign-in ---------------------------------------------------------------
  const ROUTES = [
    [/^images$/, (m, q) => viewImages(q), "images"], [/^image$/, (m, q) => viewImage(q), "images"],
    [/^folders$/, (m, q) => viewFolders(q), "folders"],
    [/^painting$/, (m, q) => viewPainting(q), "painting"], [/^painting\/(.+)$/, (m) => viewPaintingJob(decodeURIComponent(m[1])), "painting"],
    [/^videos$/, (m, q) => viewVideos(q), "videos"], [/^video$/, (m, q) => viewVideo(q), "videos"],
    [/^jobs$/, (m, q) => viewJobs(q), "jobs"], [/^predict$/, () => viewPredict(), "predict"],
  ];

  async function route() {
    for (const timer of S.timers) clearInterval(timer);
    S.timers = [];
    clearTimeout(S.nextRefresh);
    const [path, query] = (location.hash.replace(/^#\/?/, "") || "images").split("?");
    const q = Object.fromEntries(new URLSearchParams(query || ""));
    const found = ROUTES.find(([re]) => re.test(path));
    if (!found) { go("#/images"); return; }
    S.view = found[2];
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === S.view);
    try { await found[1](found[0].exec(path), q); } catch (err) { showError(err); }
  }

  function signIn() {
    sessionStorage.removeItem(TOKEN);
    const back = location.origin + location.pathname;
    location.assign(S.auth.login_url + "&redirect_uri=" + encodeURIComponent(back));
  }

  function tokenFresh(token) {
    try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).exp * 1000 > Date.now() + 60000; }
    catch (e) { return false; }
  }

  async function start() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (fragment.get("id_token")) { sessionStorage.setItem(TOKEN, fragment.get("id_token")); history.replaceState(null, "", location.pathname + "#/images"); }
    try {
      S.auth = await api("console/auth.json");
      if (S.auth.mode === "cognito") {
        const token = sessionStorage.getItem(TOKEN);
        if (!token || !tokenFresh(token)) { signIn(); return; }
        put(document.getElementById("who"), "signed in · ", h("a", { href: S.auth.logout_url + "&logout_uri=" + encodeURIComponent(location.origin + location.pathname), onclick: () => sessionStorage.removeItem(TOKEN) }, "sign out"));
      }
      S.config = await api("console/api/config");
      document.getElementById("who").prepend(`stage ${S.config.stage} `);
    } catch (err) { showError(err); }
    window.addEventListener("hashchange", () => { clearError(); route(); });
    route();
  }
  start();
})();
