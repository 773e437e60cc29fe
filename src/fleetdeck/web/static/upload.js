// Package upload with a progress bar: the form (data-upload, multipart) is sent with
// XMLHttpRequest, whose upload events report the bytes sent. A file larger than the server's
// request limit (data-max on the file input) is refused here, before sending. The answer is
// the server's: a redirect is followed, a form with errors replaces this one.
(function () {
  "use strict";
  function sizeOf(input) {
    var total = 0;
    for (var i = 0; i < input.files.length; i++) { total += input.files[i].size; }
    return total;
  }
  function showError(form, text) {
    var input = form.querySelector('input[type="file"]');
    var p = document.getElementById("files-error");
    if (!p) {
      p = document.createElement("p");
      p.id = "files-error";
      p.className = "error";
      p.setAttribute("role", "alert");
      input.insertAdjacentElement("afterend", p);
    }
    p.textContent = text;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "files-error");
  }
  function megabytes(n) { return (n / 1048576).toFixed(1) + " MiB"; }
  function bind(form) {
    form.addEventListener("submit", function (event) {
      var input = form.querySelector('input[type="file"]');
      var max = input && input.dataset.max ? parseInt(input.dataset.max, 10) : 0;
      // multipart framing and the other fields need room too
      if (max && sizeOf(input) > max - 65536) {
        event.preventDefault();
        showError(form, "The files are " + megabytes(sizeOf(input)) + "; this server accepts at most " +
          megabytes(max - 65536) + " per upload (the setting max_body_bytes).");
        return;
      }
      event.preventDefault();
      var bar = document.getElementById("upload-progress");
      var status = document.getElementById("upload-status");
      var button = form.querySelector('button[type="submit"]');
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        bar.hidden = false;
        bar.value = Math.round(100 * e.loaded / e.total);
        status.textContent = "Uploading: " + bar.value + " % (" + megabytes(e.loaded) + " of " + megabytes(e.total) + ")";
      });
      xhr.upload.addEventListener("load", function () {
        bar.value = 100;
        status.textContent = "Uploaded; the server is storing it…";
      });
      xhr.addEventListener("load", function () {
        button.disabled = false;
        if (xhr.status === 413) {
          bar.hidden = true;
          status.textContent = "";
          showError(form, "The upload is larger than this server accepts (the setting max_body_bytes).");
          return;
        }
        var type = xhr.getResponseHeader("Content-Type") || "";
        if (xhr.status < 400 && xhr.responseURL && xhr.responseURL !== form.action) {
          window.location.assign(xhr.responseURL);
          return;
        }
        if (type.indexOf("text/html") === 0) {
          var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
          var fresh = doc.getElementById("package-form-wrap");
          if (fresh) {
            var wrap = document.getElementById("package-form-wrap");
            wrap.replaceWith(fresh);
            bind(fresh.querySelector("form[data-upload]"));
            var first = fresh.querySelector('[aria-invalid="true"]');
            if (first) { first.focus(); }
            return;
          }
          document.open(); document.write(xhr.responseText); document.close();
          return;
        }
        status.textContent = "The server answered " + xhr.status + ".";
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        status.textContent = "The upload failed: the connection to the server broke.";
      });
      button.disabled = true;
      status.textContent = "Uploading…";
      xhr.send(new FormData(form));
    });
  }
  document.querySelectorAll("form[data-upload]").forEach(bind);
})();
