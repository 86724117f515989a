// The dashboard's few behaviours htmx does not cover: charts, file upload into the editor,
// select-all, auto-submitting filters, reloading a page the watch window has left behind, placing
// live rows in the table's order, and the container page's console tabs (followed log, terminal).
(function () {
  "use strict";

  function formatBytes(v) {
    if (v == null) return "";
    const units = ["B", "Ki", "Mi", "Gi", "Ti"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(v >= 100 || i === 0 ? 0 : 1) + units[i];
  }

  function drawCharts(root) {
    if (typeof uPlot === "undefined") return;
    root.querySelectorAll(".chart[data-x]").forEach(function (el) {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      const xs = JSON.parse(el.dataset.x), ys = JSON.parse(el.dataset.y);
      const bytes = el.dataset.unit === "bytes";
      const width = Math.max(240, el.clientWidth || 400);
      const style = getComputedStyle(document.body);
      const ink = style.getPropertyValue("--ink").trim() || "#888";
      const accent = style.getPropertyValue("--accent").trim() || "#3b82f6";
      const axis = { stroke: ink, grid: { stroke: "rgba(128,128,128,0.2)" }, ticks: { stroke: "rgba(128,128,128,0.3)" } };
      new uPlot({
        title: el.dataset.title, width: width, height: 160,
        series: [{}, { label: el.dataset.title, stroke: accent, width: 2, fill: accent + "22",
                       value: function (u, v) { return bytes ? formatBytes(v) : (v == null ? "" : v.toFixed(3)); } }],
        axes: [axis, Object.assign({}, axis, { size: 60, values: function (u, vals) { return vals.map(function (v) { return bytes ? formatBytes(v) : v; }); } })],
        legend: { show: false },
      }, [xs, ys], el);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    const all = document.getElementById("select-all");
    if (all) all.addEventListener("change", function () {
      document.querySelectorAll('#rows input[name="name"]').forEach(function (box) { box.checked = all.checked; });
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { sel.form.requestSubmit(); });
    });
    document.querySelectorAll("input[type=file][data-into]").forEach(function (input) {
      input.addEventListener("change", function () {
        const file = input.files[0];
        if (!file) return;
        file.text().then(function (text) {
          document.getElementById(input.dataset.into).value = text;
          const source = document.getElementById("apply-source");
          if (source) source.value = file.name;
        });
      });
    });
    const editor = document.getElementById("apply-yaml");
    if (editor) editor.addEventListener("input", function () {
      const source = document.getElementById("apply-source");
      if (source) source.value = "";
    });
  });

  // The container page's console tabs. A tab runs only while it is selected: the logs tab follows the
  // log through an EventSource (the server's follow=1 request ends when it closes), the terminal tab
  // asks the dashboard for a one-time session and opens the API's terminal stream. Selecting the open
  // tab again, another tab, or leaving the page ends what the tab ran.
  function consoleTabs() {
    const tabs = Array.from(document.querySelectorAll('.console [role="tab"]'));
    if (!tabs.length) return;
    let running = null;

    function stop() {
      if (running) { running.close(); running = null; }
      tabs.forEach(function (t) {
        t.setAttribute("aria-selected", "false");
        document.getElementById(t.getAttribute("aria-controls")).hidden = true;
      });
    }

    function followLog(panel) {
      const pre = document.getElementById("log"), state = document.getElementById("log-state");
      pre.textContent = "";
      state.textContent = "Connecting…";
      const source = new EventSource(panel.dataset.follow);
      let size = 0;
      source.addEventListener("open", function () { state.textContent = "Following the log live"; });
      source.addEventListener("log", function (e) {
        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        const text = JSON.parse(e.data);
        pre.appendChild(document.createTextNode(text));
        size += text.length;
        if (size > 1048576) {  // keep the newest half MiB: a long-followed log must not grow the page without end
          pre.textContent = pre.textContent.slice(-524288);
          size = pre.textContent.length;
        }
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      });
      source.addEventListener("refused", function (e) { state.textContent = JSON.parse(e.data); source.close(); });
      source.addEventListener("error", function () {
        if (source.readyState === EventSource.CONNECTING) state.textContent = "Reconnecting…";
      });
      source.addEventListener("end", function () { state.textContent = "The log ended"; source.close(); });
      return { close: function () { source.close(); } };
    }

    function openTerminal(panel) {
      const state = document.getElementById("terminal-state"), box = document.getElementById("terminal");
      let handle = null, closed = false;
      box.textContent = "";
      state.textContent = "Opening the terminal…";
      const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"];
      fetch(panel.dataset.session, { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) return response.text().then(function (html) {
            const div = document.createElement("div");
            div.innerHTML = html;
            throw new Error(div.textContent.trim() || "HTTP " + response.status);
          });
          return response.json();
        })
        .then(function (answer) {
          if (closed) return;
          handle = window.dlxcTerminal.connect(box, answer, {
            state: function (text) { state.textContent = text; },
            refuse: function (message) { state.textContent = "Refused: " + message; },
          });
        })
        .catch(function (error) { state.textContent = "Refused: " + error.message; });
      return { close: function () { closed = true; if (handle) handle.close(); } };
    }

    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () {
        const wasOpen = tab.getAttribute("aria-selected") === "true";
        stop();
        if (wasOpen) return;
        const panel = document.getElementById(tab.getAttribute("aria-controls"));
        tab.setAttribute("aria-selected", "true");
        panel.hidden = false;
        running = panel.dataset.follow ? followLog(panel) : openTerminal(panel);
      });
    });
    window.addEventListener("pagehide", stop);
  }

  document.addEventListener("DOMContentLoaded", consoleTabs);

  document.addEventListener("htmx:afterSettle", function (e) { drawCharts(e.target); });
  document.addEventListener("htmx:sseMessage", function () {
    drawCharts(document);
    const rows = document.getElementById("rows"), count = document.getElementById("count");
    if (rows && count) count.textContent = rows.children.length;
  });
  // The live state, for the indicator in the header (and for tests that wait for the stream).
  document.addEventListener("htmx:sseOpen", function () {
    // The table's stream resumes from the page's revision, and rows it added since would come twice:
    // after a broken stream the table loads afresh instead.
    if (document.documentElement.dataset.live === "reconnecting" && document.getElementById("rows")) {
      window.location.reload();
      return;
    }
    document.documentElement.dataset.live = "open";
  });
  document.addEventListener("htmx:sseError", function () { document.documentElement.dataset.live = "reconnecting"; });
  document.addEventListener("htmx:sseBeforeMessage", function (e) {
    if (e.detail && e.detail.type === "reload") { e.preventDefault(); window.location.reload(); }
    if (e.detail && e.detail.type === "rows") { e.preventDefault(); placeRows(e.detail.data); }
  });

  // The containers table's live rows: each sent row replaces the shown one of that name, at the place
  // the table's sort gives it (a binary search over the rows' data-k, ties by name, as the server's
  // sort_rows orders them); an empty row with data-gone takes its row away. The server has applied
  // the filter already: a row sent is a row that matches it.
  function compareRows(body, a, b) {
    const numeric = body.dataset.numeric === "1";
    const ka = numeric ? parseFloat(a.dataset.k) : a.dataset.k, kb = numeric ? parseFloat(b.dataset.k) : b.dataset.k;
    const byKey = ka < kb ? -1 : ka > kb ? 1 : 0;
    if (byKey !== 0) return byKey * Number(body.dataset.dir || 1);
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  }

  function placeRows(html) {
    const body = document.getElementById("rows");
    if (!body) return;
    const template = document.createElement("template");
    template.innerHTML = html;
    Array.from(template.content.children).forEach(function (row) {
      const old = document.getElementById(row.id);
      const checked = old && old.querySelector("input[type=checkbox]:checked");
      if (old) old.remove();
      if (row.hasAttribute("data-gone")) return;
      if (checked) row.querySelector("input[type=checkbox]").checked = true;
      const rows = body.children;
      let lo = 0, hi = rows.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareRows(body, rows[mid], row) <= 0) lo = mid + 1; else hi = mid;
      }
      body.insertBefore(row, rows[lo] || null);
    });
    const count = document.getElementById("count");
    if (count) count.textContent = body.children.length;
  }
})();
