// kehu console, order entry: catalogue type-ahead and the live total. The form works without it.
(function () {
  "use strict";
  var form = document.getElementById("order-entry");
  if (!form) return;
  var hits = document.getElementById("catalogue-hits");
  var known = {};  // sku -> product, from the searches so far
  var timer = null;

  function num(value) {
    var n = parseFloat(String(value || "").replace(",", "."));
    return isNaN(n) ? 0 : n;
  }
  function cents(n) { return Math.round(n * 100) / 100; }

  function total() {
    var sum = 0;
    form.querySelectorAll("fieldset[data-line]").forEach(function (line) {
      var sku = line.querySelector("[data-sku]").value.trim();
      var priceField = line.querySelector("[data-price]");
      var product = known[sku];
      var price = priceField.value.trim() ? num(priceField.value) : (product ? num(product.list_price) : 0);
      var quantity = line.querySelector("[data-quantity]").value.trim();
      var q = quantity ? num(quantity) : (sku ? 1 : 0);
      priceField.placeholder = product ? product.list_price : "";
      var info = line.querySelector("[data-line-info]");
      info.textContent = product ? product.name + (product.category ? " · " + product.category : "") : "";
      sum += cents(q * price) - num(line.querySelector("[data-discount]").value);
    });
    sum -= num(form.querySelector("[data-order-discount]").value);
    var out = document.getElementById("order-total");
    out.textContent = out.dataset.currency + cents(sum).toFixed(2);
  }

  function search(text) {
    fetch("/catalogue/search.json?q=" + encodeURIComponent(text), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (data) {
        hits.innerHTML = "";
        data.items.forEach(function (p) {
          known[p.sku] = p;
          var option = document.createElement("option");
          option.value = p.sku;
          option.textContent = p.name + " · " + p.list_price;
          hits.appendChild(option);
        });
        total();
      })
      .catch(function () {});
  }

  form.addEventListener("input", function (e) {
    if (e.target.matches("[data-sku]") && e.target.value.trim()) {
      clearTimeout(timer);
      var text = e.target.value.trim();
      timer = setTimeout(function () { search(text); }, 200);
    }
    total();
  });
  form.querySelectorAll("[data-sku]").forEach(function (input) { if (input.value.trim()) search(input.value.trim()); });
  total();
})();
