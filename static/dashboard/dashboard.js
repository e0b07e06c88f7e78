// Live view: refresh the panels every few seconds without reloading the page, and send the
// ops buttons' POSTs in the background so the page stays where it is. Works without this
// script too (plain forms, full page).
(function () {
  "use strict";
  var panels = document.getElementById("panels");
  if (!panels) return;
  var url = panels.dataset.url;
  var seconds = Math.max(1, parseInt(panels.dataset.refreshSeconds || "15", 10));
  var live = document.getElementById("live");
  var updatedAt = document.getElementById("updated-at");
  var flash = document.getElementById("flash");
  var busy = false;

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // kind: true (success), false (error) or a class name ("info")
  function showFlash(message, kind) {
    var p = document.createElement("p");
    p.className = "flash " + (typeof kind === "string" ? kind : kind ? "success" : "error");
    p.setAttribute("role", "status");
    p.textContent = message;
    flash.replaceChildren(p);
  }

  function refresh() {
    if (busy) return Promise.resolve();
    busy = true;
    return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload();  // the session ended: show the login page
          return;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text().then(function (html) {
          // a "why this cause" somebody opened stays open across the refresh
          var open = Array.prototype.map.call(
            panels.querySelectorAll("details[open][data-key]"),
            function (d) { return d.dataset.key; });
          panels.innerHTML = html;
          open.forEach(function (key) {
            var d = panels.querySelector('details[data-key="' + key + '"]');
            if (d) d.open = true;
          });
          var now = new Date();
          updatedAt.textContent = now.toISOString().substring(11, 19);
          live.classList.remove("stale");
          panels.dispatchEvent(new CustomEvent("panels:refreshed"));
        });
      })
      .catch(function () { live.classList.add("stale"); })
      .finally(function () { busy = false; });
  }

  panels.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    event.preventDefault();
    // Execute / Mark as done / Skip change an incident's state: ask first, naming the action
    // and the service (the form carries the question; without this script the post goes
    // straight through, as a plain form).
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRFToken": csrfToken(form) },
    })
      .then(function (response) {
        return response.json().then(function (data) { showFlash(data.message, data.ok); });
      })
      .catch(function () { showFlash("The request failed; try again.", false); })
      .finally(refresh);
  });

  // An alert links to /dashboard/#anomaly-<id>. The row of every open episode, and of every
  // episode acknowledged in the last 24 hours, carries the id of each of its buckets; when none
  // does, say why the page did not jump anywhere.
  var linked = /^#anomaly-([0-9a-f-]{36})$/i.exec(window.location.hash);
  if (linked && !document.getElementById("anomaly-" + linked[1]) && !flash.textContent.trim()) {
    showFlash("Anomaly " + linked[1] + " is not on this page: its episode was acknowledged " +
      "more than 24 hours ago, a later analysis re-scored it as normal, or it is older than " +
      "the episodes shown.", "info");
  }

  window.setInterval(refresh, seconds * 1000);
})();
