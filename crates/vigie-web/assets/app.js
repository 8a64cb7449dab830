// Vigie dashboard: the live feed. Number states and new alerts arrive as server-sent
// events (GET /live) and are shown in place, without reloading the page.
(() => {
  "use strict";
  if (!document.querySelector("header.top") || !window.EventSource) return;

  const toast = (text) => {
    const box = document.getElementById("live-toasts");
    if (!box) return;
    const item = document.createElement("div");
    item.className = "toast";
    item.textContent = text;
    box.appendChild(item);
    setTimeout(() => item.remove(), 8000);
  };

  // The overview's pool cards count numbers by state: after a change, the cards are
  // read again from the server (at most once a second), the rest of the page stays.
  let refreshing = null;
  const refreshCards = () => {
    const cards = document.querySelector(".cards");
    if (!cards || refreshing) return;
    refreshing = setTimeout(async () => {
      try {
        const response = await fetch(window.location.href, { credentials: "same-origin" });
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html").querySelector(".cards");
        if (response.ok && fresh) document.querySelector(".cards").replaceWith(fresh);
      } finally {
        refreshing = null;
      }
    }, 1000);
  };

  const feed = new EventSource("/live");
  feed.addEventListener("ready", () => { document.body.dataset.live = "open"; });
  feed.addEventListener("error", () => { document.body.dataset.live = "closed"; });

  feed.addEventListener("state", (message) => {
    const change = JSON.parse(message.data);
    document.querySelectorAll("[data-state-of]").forEach((el) => {
      if (el.dataset.stateOf === change.number) {
        el.dataset.state = change.state;
        el.textContent = change.label;
      }
    });
    // "Since …: why" under a number's state follows the state it describes.
    document.querySelectorAll("[data-since-of]").forEach((el) => {
      if (el.dataset.sinceOf === change.number) {
        el.textContent = `${el.dataset.sinceWord} ${change.at} : ${change.reason}`;
      }
    });
    const rows = document.getElementById("live-events");
    if (rows && rows.dataset.number === change.number) {
      const tr = document.createElement("tr");
      for (const text of [change.at, change.label, change.pool, change.reason, ""]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      rows.prepend(tr);
    }
    toast(`${change.number} : ${change.label}`);
    refreshCards();
  });

  feed.addEventListener("alert", (message) => {
    const alert = JSON.parse(message.data);
    const list = document.getElementById("live-alerts");
    if (list) {
      const none = list.querySelector("li.none");
      if (none) none.remove();
      const li = document.createElement("li");
      li.className = "alert";
      li.dataset.severity = alert.severity;
      li.textContent = [alert.signal, alert.severity, alert.number, alert.evidence].filter(Boolean).join(" · ");
      list.prepend(li);
    }
    toast(`${alert.title} : ${alert.signal} ${alert.number || ""}`);
  });

  feed.addEventListener("reload", () => window.location.reload());
})();
