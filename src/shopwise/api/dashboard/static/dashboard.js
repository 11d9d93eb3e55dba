// Draws the dashboard's charts: each <figure class="chart" data-figure="ID"> gets the plotly
// figure in <script type="application/json" id="ID">, drawn with the plotly.js served from the
// Python package (no other host is asked for anything). Forms with data-confirm ask first.
(function () {
  "use strict";
  function draw() {
    document.querySelectorAll("figure.chart[data-figure]").forEach(function (el) {
      var source = document.getElementById(el.dataset.figure);
      if (!source || typeof Plotly === "undefined") return;
      var figure = JSON.parse(source.textContent);
      Plotly.newPlot(el, figure.data, figure.layout, {
        displaylogo: false,
        responsive: true,
        modeBarButtonsToRemove: ["sendDataToCloud"],
      }).then(function () { el.dataset.drawn = "true"; });
    });
  }
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { draw(); confirmations(); });
  } else {
    draw();
    confirmations();
  }
})();
