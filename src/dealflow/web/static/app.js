/* dealflow UI: board drag and drop (SortableJS) with keyboard moves, and dashboard charts (ECharts).
   Every request goes to this server; writes carry the session's CSRF token. */
(function () {
  "use strict";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function money(v) {
    if (v === null || v === undefined || isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toLocaleString("en-US", {minimumFractionDigits: 1, maximumFractionDigits: 1}) + "M";
    if (a >= 1e4) return Math.round(v / 1e3).toLocaleString("en-US") + "k";
    return Math.round(v).toLocaleString("en-US");
  }

  async function api(method, url, body) {
    const res = await fetch(url, {
      method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((data.error && data.error.message) || ("request failed: " + res.status));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // -- board ---------------------------------------------------------------------------
  const board = document.getElementById("board");
  const status = document.getElementById("board-status");
  function say(text, isError) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function askReason(kind, dealName) {
    const dialog = document.getElementById("reason-dialog");
    const input = document.getElementById("reason-input");
    const help = document.getElementById("reason-help");
    const err = document.getElementById("reason-error");
    input.value = "";
    err.hidden = true;
    input.required = kind === "lost";
    help.textContent = kind === "lost"
      ? "Why was " + dealName + " lost? (required)"
      : "Why was " + dealName + " won? (optional, kept as a note)";
    return new Promise((resolve) => {
      function done() {
        dialog.removeEventListener("close", done);
        if (dialog.returnValue !== "ok") return resolve(null);
        const reason = input.value.trim();
        if (kind === "lost" && !reason) return resolve(null);
        resolve(reason);
      }
      dialog.addEventListener("close", done);
      dialog.showModal();
      input.focus();
    });
  }

  async function refreshTotals() {
    const totals = await fetch("/board/totals?" + (board.dataset.query || ""), {credentials: "same-origin"}).then((r) => r.json());
    document.querySelectorAll("[data-totals]").forEach((dl) => {
      const t = totals[dl.dataset.totals] || {count: 0, amount: 0, weighted: 0};
      dl.querySelector('[data-total="count"]').textContent = t.count.toLocaleString("en-US");
      dl.querySelector('[data-total="amount"]').textContent = money(t.amount);
      dl.querySelector('[data-total="weighted"]').textContent = money(t.weighted);
    });
  }

  async function moveCard(card, from, to, oldIndex) {
    const column = to.closest(".column");
    const stage = column.dataset.stage, kind = column.dataset.kind;
    const name = card.querySelector("strong").textContent;
    const revert = () => from.insertBefore(card, from.children[oldIndex] || null);
    let reason = null;
    if (kind === "lost" || kind === "won") {
      reason = await askReason(kind, name);
      if (reason === null && kind === "lost") { revert(); say("Move cancelled: a lost deal needs a reason."); return; }
    }
    card.classList.add("moving");
    try {
      const body = {stage: stage, lost_reason: kind === "lost" ? reason : null};
      if (card.dataset.version) body.expected_version = parseInt(card.dataset.version, 10);
      const out = await api("POST", "/api/deals/" + card.dataset.id + "/moves", body);
      card.dataset.version = out.deal.version;
      if (kind === "won" && reason) {
        await api("POST", "/api/activities", {deal_id: parseInt(card.dataset.id, 10), kind: "note", subject: "Won: " + reason});
      }
      await refreshTotals();
      say(name + " moved to " + stage + ".");
    } catch (e) {
      revert();
      if (e.status === 409) {  // someone else changed the deal since this board was drawn: show what is there now
        say(e.message + " Reloading the board…", true);
        setTimeout(() => window.location.reload(), 2000);
      } else {
        say(e.message, true);
      }
    } finally {
      card.classList.remove("moving");
    }
  }

  if (board) {
    const lists = Array.from(board.querySelectorAll(".cards"));
    if (window.Sortable) {
      lists.forEach((list) => {
        window.Sortable.create(list, {
          group: "board", animation: 120, sort: false, delay: 150, delayOnTouchOnly: true,
          onEnd: (evt) => { if (evt.from !== evt.to) moveCard(evt.item, evt.from, evt.to, evt.oldIndex); },
        });
      });
    }
    // Keyboard: Alt+→ / Alt+← moves the focused card to the next / previous column.
    board.addEventListener("keydown", (evt) => {
      if (!evt.altKey || (evt.key !== "ArrowRight" && evt.key !== "ArrowLeft")) return;
      const card = evt.target.closest(".card");
      if (!card) return;
      evt.preventDefault();
      const from = card.parentElement;
      const i = lists.indexOf(from) + (evt.key === "ArrowRight" ? 1 : -1);
      if (i < 0 || i >= lists.length) return;
      const oldIndex = Array.prototype.indexOf.call(from.children, card);
      lists[i].insertBefore(card, lists[i].firstChild);
      card.querySelector("a").focus();
      moveCard(card, from, lists[i], oldIndex);
    });
  }

  // -- charts --------------------------------------------------------------------------
  const charts = [];
  function initCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll(".chart:not([data-ready])").forEach((el) => {
      const script = el.querySelector("script.chart-option");
      if (!script) return;
      el.dataset.ready = "1";
      const chart = window.echarts.init(el, null, {renderer: "svg"});
      chart.setOption(JSON.parse(script.textContent));
      charts.push(chart);
    });
  }
  initCharts(document);
  // Slow analyses arrive after the page (htmx swaps their results in).
  document.body.addEventListener("htmx:afterSettle", () => initCharts(document));
  window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
})();
