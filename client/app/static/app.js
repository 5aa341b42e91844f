// Tessera app: the little script the pages need (the CSP allows this file and nothing inline).
// 1. A form marked data-upload is sent with its files by XMLHttpRequest, so the page can show progress.
// 2. A button marked data-copy copies the text of the element it names.
// 3. A select marked data-submit sends its form when changed.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var csrf = document.body.dataset.csrf;
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var bar = form.querySelector("progress");
      var status = form.querySelector("[data-status]");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      if (bar) { bar.hidden = false; bar.value = 0; }
      xhr.upload.addEventListener("progress", function (e) {
        if (bar && e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
      });
      xhr.upload.addEventListener("load", function () {
        if (status) { status.textContent = status.dataset.sealing || ""; }
      });
      xhr.addEventListener("load", function () {
        document.open(); document.write(xhr.responseText); document.close();
        if (xhr.responseURL) { history.replaceState(null, "", xhr.responseURL); }
      });
      xhr.addEventListener("error", function () {
        if (status) { status.textContent = status.dataset.failed || "error"; }
      });
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      xhr.send(new FormData(form));
    });
  });
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      if (source && navigator.clipboard) { navigator.clipboard.writeText(source.textContent.trim()); }
      button.textContent = button.dataset.copied || button.textContent;
    });
  });
  document.querySelectorAll("select[data-submit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
});
