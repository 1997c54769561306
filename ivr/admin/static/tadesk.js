// The teleassistance desk: a short poll of the alarms and the call on the phone (an HTML
// fragment rendered by the server). The fragment replaces the page's only when its signature
// (the open alarms' ids, the call's id) changed, so notes being typed stay; a value typed in a
// field that is still there is carried over. Without JavaScript, reloading shows the same.
"use strict";
(function () {
  const live = document.getElementById("ta-live");
  if (!live || !live.dataset.poll) return;
  const every = Number(live.dataset.pollMs) || 3000;

  async function poll() {
    try {
      const response = await fetch(live.dataset.poll, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("ta-live-content");
      const shown = document.getElementById("ta-live-content");
      if (!fresh || !shown || fresh.dataset.signature === shown.dataset.signature) return;
      const typed = {};
      for (const field of shown.querySelectorAll("textarea[id], select[id]")) typed[field.id] = field.value;
      shown.replaceWith(document.importNode(fresh, true));
      for (const [id, value] of Object.entries(typed)) {
        const field = document.getElementById(id);
        if (field) field.value = value;
      }
    } catch (err) {
      // the admin restarting or the network down: the next poll tries again
    } finally {
      setTimeout(poll, every);
    }
  }
  setTimeout(poll, every);
})();
