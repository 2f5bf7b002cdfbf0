// Bouncer admin: optional niceties. Every page works without this script.
"use strict";
document.addEventListener("submit", function (event) {
  // Buttons that remove things ask first. Without the script the server
  // asks on a page of its own; with it, the answer goes with the form.
  var button = event.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (!question) {
    return;
  }
  if (!window.confirm(question)) {
    event.preventDefault();
    return;
  }
  var confirmed = document.createElement("input");
  confirmed.type = "hidden";
  confirmed.name = "confirmed";
  confirmed.value = "yes";
  event.target.appendChild(confirmed);
});
document.addEventListener("change", function (event) {
  // Filters marked data-autosubmit apply as soon as they change.
  var field = event.target;
  if (field.form && field.hasAttribute("data-autosubmit")) {
    field.form.submit();
  }
});
