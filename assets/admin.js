// Bouncer admin: optional niceties. Every page works without this script.
"use strict";
document.addEventListener("submit", function (event) {
  // Buttons that remove things ask first.
  var button = event.submitter;
  var question = button && button.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("change", function (event) {
  // Filters marked data-autosubmit apply as soon as they change.
  var field = event.target;
  if (field.form && field.hasAttribute("data-autosubmit")) {
    field.form.submit();
  }
});
