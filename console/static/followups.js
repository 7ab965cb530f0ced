// kehu console, follow-up forms: a quick pick (+1 day, +7 days, +30 days) fills the next due date
// instead of sending the form. Without this script the pick sends the form with that many days.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var pick = e.target.closest("button[data-fill]");
    if (!pick) return;
    var input = document.getElementById(pick.dataset.fill);
    if (!input) return;
    e.preventDefault();
    input.value = pick.dataset.date;
    input.dispatchEvent(new Event("input", { bubbles: true })); // the draft keeps it too
    pick.parentElement.querySelectorAll("button[data-fill]").forEach(function (b) {
      b.setAttribute("aria-pressed", b === pick ? "true" : "false");
    });
  });
})();
