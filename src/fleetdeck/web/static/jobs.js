// Live output of a command's jobs: one EventSource per job still running (/jobs/ID/events,
// server-sent events from the server's job watch). Output frames are appended as they come;
// the final "job" event carries the stored output, which replaces what was streamed.
(function () {
  "use strict";
  function follow(article) {
    var field = function (name) { return article.querySelector('[data-field="' + name + '"]'); };
    var source = new EventSource(article.dataset.events);
    source.addEventListener("output", function (e) {
      var frame = JSON.parse(e.data);
      var pre = field(frame.stream === "stderr" ? "stderr" : "stdout");
      pre.hidden = false;
      pre.textContent += frame.data;
    });
    source.addEventListener("job", function (e) {
      var job = JSON.parse(e.data);
      var status = field("status");
      status.textContent = job.status;
      status.className = "status " + job.status;
      field("exit").textContent = job.exit_code === null ? "" : "exit code " + job.exit_code;
      field("message").textContent = job.message || "";
      if (job.final) {
        field("stdout").textContent = job.stdout;
        field("stderr").textContent = job.stderr;
        field("stderr").hidden = !job.stderr;
        var cancel = article.querySelector("form.cancel");
        if (cancel) { cancel.remove(); }
        article.dataset.final = "1";
      }
    });
    source.addEventListener("failure", function (e) {
      field("message").textContent = JSON.parse(e.data).message;
    });
    source.addEventListener("end", function () { source.close(); });
  }
  document.querySelectorAll("article.job[data-events]").forEach(follow);
})();
