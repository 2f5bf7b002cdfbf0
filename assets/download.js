// Bouncer's download form: narrows the operating system and language
// lists to what the chosen product offers, from the JSON the page embeds
// (#download-data). The form works without this script: the lists then
// hold everything and the server explains a combination that does not
// exist.
"use strict";
(function () {
  var form = document.querySelector("form.download");
  var source = document.getElementById("download-data");
  if (!form || !source) {
    return;
  }
  var data;
  try {
    data = JSON.parse(source.textContent);
  } catch (e) {
    return; // Keep the full lists; the server still checks the choice.
  }
  var product = form.elements.namedItem("product");
  var os = form.elements.namedItem("os");
  var lang = form.elements.namedItem("lang");
  if (!product || !os || !lang || !data || !data.products) {
    return;
  }
  var prefer = data.prefer || { os: [], lang: [] };
  var products = Object.create(null);
  data.products.forEach(function (p) {
    products[p.name] = p;
  });

  function lower(s) {
    return String(s).toLowerCase();
  }

  // The value in `offered` equal (ignoring case) to `value`, or null.
  function find(offered, value) {
    for (var i = 0; i < offered.length; i++) {
      if (lower(offered[i]) === lower(value)) {
        return offered[i];
      }
    }
    return null;
  }

  // The current value when still offered, else the browser's preference,
  // else the first offered.
  function choose(current, offered, preferred) {
    var kept = find(offered, current);
    if (kept !== null) {
      return kept;
    }
    for (var i = 0; i < preferred.length; i++) {
      var found = find(offered, preferred[i]);
      if (found !== null) {
        return found;
      }
    }
    return offered[0];
  }

  function fill(select, offered, labels, preferred) {
    var chosen = choose(select.value, offered, preferred);
    while (select.options.length > 0) {
      select.remove(0);
    }
    offered.forEach(function (value) {
      var label = Object.prototype.hasOwnProperty.call(labels, value) ? labels[value] : value;
      select.add(new Option(label, value, value === chosen, value === chosen));
    });
    select.value = chosen;
  }

  function narrow() {
    var chosen = products[product.value];
    if (!chosen) {
      return;
    }
    fill(os, chosen.oses, data.osLabels || {}, prefer.os || []);
    fill(lang, chosen.langs, data.langLabels || {}, prefer.lang || []);
  }

  product.addEventListener("change", narrow);
  // Back/forward navigation restores the product chosen before.
  window.addEventListener("pageshow", narrow);
  narrow();
})();
