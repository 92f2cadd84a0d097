// onestop console: small progressive enhancement. Every form works
// without this file; it only asks before destructive actions, refreshes
// the dashboard, and keeps the editor's line numbers in step.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
    }
  });
  var refresh = document.querySelector("[data-refresh]");
  if (refresh) {
    var seconds = parseInt(refresh.getAttribute("data-refresh"), 10) || 30;
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }
  var editor = document.getElementById("editor");
  var gutter = document.getElementById("gutter");
  if (editor && gutter) {
    var draw = function () {
      var n = editor.value.split("\n").length;
      var lines = [];
      for (var i = 1; i <= n; i++) { lines.push(i); }
      gutter.textContent = lines.join("\n");
    };
    editor.addEventListener("input", draw);
    editor.addEventListener("scroll", function () { gutter.scrollTop = editor.scrollTop; });
    draw();
  }
  var print = document.getElementById("print");
  if (print) {
    print.addEventListener("click", function (e) { e.preventDefault(); window.print(); });
  }
})();
