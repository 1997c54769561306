// The operator desk's live call card: server-sent events from /desk/events (no library, no
// network beyond this admin). Without JavaScript the desk's forms still work.
"use strict";
(function () {
  const call = document.getElementById("call");
  if (!call || !call.dataset.feed) return;
  const $ = (id) => document.getElementById(id);

  function fill(id, items, text) {
    const list = $(id);
    list.replaceChildren();
    for (const item of items || []) {
      const li = document.createElement("li");
      li.textContent = text(item);
      list.appendChild(li);
    }
  }

  function show(data) {
    const ctx = data.context || {};
    const who = data.citizen || {};
    $("call-context").hidden = false;
    $("wrapup-call").value = data.call_id || "";
    $("ctx-number").textContent = ctx.number || call.dataset.tWithheld;
    $("ctx-language").textContent = (ctx.language || data.language || "").toUpperCase();
    $("ctx-path").textContent = (ctx.path || []).join(" › ");
    const why = data.reason || ctx.reason || "";
    $("ctx-why").textContent = (ctx.why && why === ctx.reason ? ctx.why : why) + (ctx.department_name ? " · " + ctx.department_name : "");
    const ta = data.ta_call;
    $("ctx-ta").hidden = $("ctx-ta-label").hidden = !ta;
    if (ta) {
      const link = $("ctx-ta-link");
      link.href = link.dataset.href.replace(/0$/, String(ta));
      link.textContent = link.dataset.text.replace("{id}", String(ta));
    }
    $("ctx-said").textContent = ctx.said ? "«" + ctx.said + "» (" + Math.round((ctx.confidence || 0) * 100) + "%)" : "";
    $("ctx-waited").textContent = data.waited_s == null ? "" : Math.round(data.waited_s) + " s";
    fill("ctx-notes", ctx.notes, (n) => n.by + ": " + n.text);
    fill("ctx-bookings", who.bookings, (b) => b.code + " " + b.service + " " + b.starts_at);
    fill("ctx-callbacks", who.callbacks, (c) => c.department + " (" + c.state + ")");
    fill("ctx-calls", who.calls, (c) => c.at + " " + c.department + " " + (c.wrapup || c.outcome));
  }

  const source = new EventSource(call.dataset.feed);
  source.addEventListener("ringing", (e) => {
    const data = JSON.parse(e.data);
    show(data);
    $("call-state").textContent = call.dataset.tRinging + " " + (data.context ? (data.context.path || []).join(" › ") : data.queue);
    call.dataset.ringAt = String(data.sent_at || "");
  });
  source.addEventListener("connected", () => { $("call-state").textContent = call.dataset.tInCall; });
  source.addEventListener("missed", () => { $("call-state").textContent = call.dataset.tMissed; });
  source.addEventListener("ended", () => { $("call-state").textContent = call.dataset.tEnded; });
  source.addEventListener("member", (e) => {
    const data = JSON.parse(e.data);
    if (data.paused) $("call-state").textContent = call.dataset.tPaused.replace("{reason}", data.pause_reason);
  });
  if (call.dataset.card) show(JSON.parse(call.dataset.card));
})();
