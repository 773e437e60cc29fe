// A deployment's page follows the jobs on screen live: /deployments/ID/events?job=... sends the
// deployment's status, its job counts by state and those jobs' status, phase, progress and exit
// code whenever they change (the server reads only when a job of this deployment changed; a
// quiet stream carries heartbeat comments, which EventSource ignores), and "end" when no job is
// pending (or after ten minutes: then a new stream is opened).
(function () {
  "use strict";
  var section = document.querySelector("#deployment[data-events]");
  if (!section) { return; }
  function apply(state) {
    var status = document.getElementById("deployment-status");
    status.textContent = state.status.replace(/_/g, " ");
    status.className = "status " + state.status;
    var select = document.getElementById("status");
    if (select && state.counts) {
      var all = 0;
      Object.keys(state.counts).forEach(function (k) { all += state.counts[k]; });
      Array.prototype.forEach.call(select.options, function (option) {
        var key = option.value;
        option.textContent = (key || "all") + " (" + (key ? (state.counts[key] || 0) : all) + ")";
      });
    }
    state.jobs.forEach(function (job) {
      var row = document.getElementById("job-" + job.id);
      if (!row) { return; }
      var field = function (name) { return row.querySelector('[data-field="' + name + '"]'); };
      field("status").textContent = job.status;
      field("status").className = "status " + job.status;
      var bar = field("progress");
      // a finished job is done whatever its last report said; a pending one shows its phase
      if (job.final) { bar.value = 100; } else if (job.progress !== null) { bar.value = job.progress; }
      field("phase").textContent = job.final ? "" : (job.phase || "");
      field("exit").textContent = job.exit_code === null ? "" : String(job.exit_code);
      field("message").textContent = job.message || "";
      if (job.final) {
        var cancel = row.querySelector("form.cancel");
        if (cancel) { cancel.remove(); }
      }
    });
    section.dataset.live = state.live ? "1" : "";
  }
  function open() {
    var source = new EventSource(section.dataset.events);
    source.addEventListener("state", function (e) { apply(JSON.parse(e.data)); });
    source.addEventListener("failure", function (e) {
      document.getElementById("deployment-status").textContent = JSON.parse(e.data).message;
    });
    source.addEventListener("end", function () {
      source.close();
      if (section.dataset.live === "1") { setTimeout(open, 1000); } else { section.dataset.final = "1"; }
    });
  }
  open();
})();
