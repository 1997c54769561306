// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Live validation of the YAML editor, with the messages of `ivr dialplan check`.
  function validateEditor(area) {
    var box = document.getElementById("live-issues");
    var timer = null;
    function render(data) {
      if (!box) return;
      box.className = "issues " + (data.ok ? "good" : "bad");
      box.textContent = "";
      if (!data.issues.length) {
        var p = document.createElement("p");
        p.textContent = data.ok ? "✓" : "—";
        box.appendChild(p);
        return;
      }
      var h = document.createElement("h2");
      h.textContent = data.issues.length + " ✗";
      box.appendChild(h);
      var ul = document.createElement("ul");
      data.issues.forEach(function (issue) {
        var li = document.createElement("li");
        li.textContent = issue.text;
        ul.appendChild(li);
      });
      box.appendChild(ul);
    }
    function check() {
      fetch(area.dataset.validate, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": area.dataset.csrf },
        body: JSON.stringify({ yaml: area.value })
      }).then(function (r) { return r.json(); }).then(render).catch(function () {});
    }
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(check, 400);
    });
  }

  // The live view refreshes itself.
  function refreshLive(box) {
    setInterval(function () {
      fetch(box.dataset.src, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var ivr = document.getElementById("in-ivr");
          var ch = document.getElementById("channels");
          if (ivr) ivr.textContent = data.in_ivr;
          if (ch) ch.textContent = data.channels;
          (data.queues || []).forEach(function (q) {
            var row = box.querySelector('tr[data-queue="' + q.name + '"]');
            if (!row) return;
            var cells = row.querySelectorAll("td");
            cells[1].textContent = q.waiting;
            cells[2].textContent = q.longest_wait + " s";
            cells[4].textContent = q.available;
            row.className = "state-" + q.state;
          });
        }).catch(function () {});
    }, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var area = document.querySelector("textarea[data-validate]");
    if (area) validateEditor(area);
    var live = document.querySelector("#live[data-src]");
    if (live) refreshLive(live);
    var now = document.getElementById("now");
    if (now && location.hash === "#now") now.focus();
  });
})();
