// kehu console: small helpers written for this project; every page works without them.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]');
  csrf = csrf ? csrf.content : "";

  // Refresh the parts of the page marked data-part: the server renders the same block again.
  function refresh(part) {
    var el = document.querySelector('[data-part="' + part + '"]');
    if (!el) return;
    fetch(location.pathname + location.search, { headers: { "X-Kehu-Fragment": part }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { location.href = "/sign-in?next=" + encodeURIComponent(location.pathname + location.search); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        el.outerHTML = html;
        var count = document.querySelector("[data-title-count]");
        var base = document.title.replace(/^\(\d+\) /, "");
        document.title = count && count.dataset.titleCount !== "0" ? "(" + count.dataset.titleCount + ") " + base : base;
        document.dispatchEvent(new CustomEvent("kehu:refreshed", { detail: part }));
      })
      .catch(function () {});
  }
  function refreshAll() {
    document.querySelectorAll("[data-part]").forEach(function (el) { refresh(el.dataset.part); });
  }

  // Counts in the nav (customers on hold, orders waiting for approval): asked after the page showed, so a
  // slow service never holds a page up.
  document.querySelectorAll("[data-count-from]").forEach(function (el) {
    fetch(el.dataset.countFrom, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (n) {
        if (!/^[1-9]\d*$/.test(n)) return;
        el.textContent = n;
        var label = document.createElement("span");
        label.className = "visually-hidden";
        label.textContent = " " + (el.dataset.countLabel || "");
        el.appendChild(label);
        el.hidden = false;
      })
      .catch(function () {});
  });

  // Live pages: a server-sent event names the event type; parts that listen to it refresh.
  var wanted = (document.body.dataset.live || "").split(/\s+/).filter(Boolean);
  if (wanted.length && window.EventSource) {
    var pending = null;
    var source = new EventSource("/live");
    source.addEventListener("change", function (e) {
      var change = JSON.parse(e.data);
      if (wanted.indexOf(change.type) < 0 && wanted.indexOf("*") < 0) return;
      clearTimeout(pending);
      pending = setTimeout(refreshAll, 300); // a burst of events refreshes once
    });
    // A minute without news still refreshes (covers an event missed while the broker restarted).
    setInterval(function () { if (!document.hidden) refreshAll(); }, 60000);
  }

  // Search as you type, with a pause; the address follows, so Back and sharing work.
  document.querySelectorAll("form[data-search]").forEach(function (form) {
    var timer = null;
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var params = new URLSearchParams(new FormData(form));
        for (var [k, v] of Array.from(params.entries())) { if (!v) params.delete(k); }
        history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
        refresh(form.dataset.search);
      }, 350);
    });
  });

  // Drafts: what was typed in a form survives an expired session (sign-in, then back here).
  document.querySelectorAll("form[data-draft]").forEach(function (form) {
    var key = "kehu-draft:" + location.pathname + ":" + form.dataset.draft;
    try {
      var saved = JSON.parse(sessionStorage.getItem(key) || "null");
      if (saved) {
        Object.keys(saved).forEach(function (name) {
          var input = form.elements[name];
          if (input && !input.value && input.type !== "hidden") input.value = saved[name];
        });
      }
    } catch (e) {}
    form.addEventListener("input", function () {
      var data = {};
      Array.from(form.elements).forEach(function (el) {
        if (el.name && el.type !== "hidden" && el.type !== "password") data[el.name] = el.value;
      });
      sessionStorage.setItem(key, JSON.stringify(data));
    });
    if (form.dataset.saved === "true") sessionStorage.removeItem(key);
  });
  document.querySelectorAll("[data-clear-draft]").forEach(function (el) {
    sessionStorage.removeItem("kehu-draft:" + (el.dataset.draftPath || location.pathname) + ":" + el.dataset.clearDraft);
  });

  // A file larger than the page takes is refused before it is sent (the server says so too).
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var tooLarge = file && file.size > Number(input.dataset.maxBytes);
      input.setCustomValidity(tooLarge ? input.dataset.tooLarge : "");
      if (tooLarge) input.reportValidity();
    });
  });

  // After a form error, focus the first invalid field (or the summary).
  var invalid = document.querySelector('[aria-invalid="true"]') || document.getElementById("form-problem");
  if (invalid) invalid.focus();
  window.kehu = { refresh: refresh, csrf: csrf };
})();
