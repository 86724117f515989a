// The dashboard's few behaviours htmx does not cover: charts, file upload into the editor,
// select-all, auto-submitting filters and reloading a page the watch window has left behind.
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
  });
})();
