// The console's ticket pages: the shop's tickets (or the platform's queue across shops), a ticket's thread
// with the answer form (canned reply picker, close as solved) and the escalation to the platform, the shop's
// canned replies and deadlines; over the admin and platform ticket APIs with console.js's helpers
// (window.fakaConsole). Rendered with textContent only.
(() => {
  "use strict";
  const ui = window.fakaConsole;
  if (!ui) return;
  Object.assign(ui.strings, JSON.parse(document.getElementById("ticket-strings").textContent));
  const { api, t, element, time, refused, clearErrors, missing, formError, result } = ui;
  const $ = (selector, root = document) => root.querySelector(selector);
  const failed = (answer) => formError(t("failed", { message: answer.data.message || answer.status }));
  const label = (prefix, key) => (ui.strings[prefix + key] ? t(prefix + key) : String(key || "—"));

  function deadline(ticket) {
    if (ticket.overdue) return element("strong", t("overdue"), "overdue");
    const due = ticket.status === "open" ? ticket.response_due : null;
    if (!due) return document.createTextNode("—");
    return document.createTextNode(t("due", { at: time(due).textContent }));
  }

  function listPage() {
    const filter = $("#ticket-filter");
    const table = $("#tickets");
    const state = $("#results-state");
    const platform = filter.dataset.platform === "yes";

    async function load() {
      state.textContent = t("loading");
      const query = new URLSearchParams({ status: filter.elements.status.value });
      for (const name of ["level", "category"]) {
        if (filter.elements[name].value) query.set(name, filter.elements[name].value);
      }
      if (filter.elements.overdue.checked) query.set("overdue", "true");
      const answer = await api("GET", `${filter.dataset.source}?${query}`);
      state.textContent = "";
      if (!answer.ok) return failed(answer);
      const items = answer.data.items || [];
      table.hidden = items.length === 0;
      if (!items.length) state.textContent = t("no_tickets");
      $("tbody", table).replaceChildren(
        ...items.map((ticket) => {
          const row = document.createElement("tr");
          row.dataset.ticketId = ticket.ticket_id;
          const link = element("a", ticket.order_no, "order-no");
          link.href = `console/tickets/${ticket.ticket_id}` + (platform ? `?shop=${ticket.shop_id}` : "");
          link.setAttribute("aria-label", t("open_ticket", { order_no: ticket.order_no }));
          const cells = [
            link,
            document.createTextNode(label("category_", ticket.category)),
            document.createTextNode(label("level_", ticket.level)),
            document.createTextNode(label("ticket_", ticket.status)),
            deadline(ticket),
            time(ticket.created_at),
          ];
          row.append(...cells.map((content) => {
            const cell = document.createElement("td");
            cell.append(content);
            return cell;
          }));
          return row;
        }),
      );
    }

    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    load();
  }

  function ticketPage() {
    const holder = $("#ticket");
    const id = holder.dataset.ticketId;
    const canWrite = holder.dataset.canWrite === "yes";
    const asPlatform = holder.dataset.answersAs === "platform";
    const reply = $("#reply");
    const escalate = $("#escalate");
    let canned = [];

    function show(ticket) {
      $("#ticket-order").textContent = ticket.order_no;
      const fact = (name) => $(`[data-fact="${name}"]`, holder);
      fact("category").textContent = label("category_", ticket.category);
      fact("level").textContent = label("level_", ticket.level);
      fact("status").textContent = label("ticket_", ticket.status);
      fact("deadline").replaceChildren(deadline(ticket));
      fact("reason").textContent = ticket.reason ? label("reason_", ticket.reason) : "—";
      fact("created").replaceChildren(time(ticket.created_at));
      $("#ticket-facts").hidden = false;
      $("#messages").replaceChildren(
        ...(ticket.messages || []).map((message) => {
          const item = element("li");
          item.dataset.author = message.author;
          const who = ["shop", "platform"].includes(message.author)
            ? t("answered_by", { author: label("author_", message.author), who: message.author_label })
            : label("author_", message.author);
          const text = element("p", message.body, "message-body");
          text.style.whiteSpace = "pre-wrap";
          item.append(time(message.created_at), element("strong", who), text);
          return item;
        }),
      );
      holder.setAttribute("aria-busy", "false");
      if (!canWrite) return;
      reply.hidden = false;
      // only the platform closes a ticket that is with it (a style: .field.check's display beats [hidden])
      const resolve = $("#f-resolve").closest(".field");
      resolve.style.display = ticket.level === "L3" && !asPlatform ? "none" : "";
      escalate.hidden = ticket.level === "L3" || asPlatform;
    }

    async function load() {
      const answer = await api("GET", `/api/admin/tickets/${id}`);
      if (!answer.ok) return failed(answer);
      show(answer.data);
    }

    async function loadCanned() {
      const answer = await api("GET", "/api/admin/canned-replies");
      if (!answer.ok) return;
      canned = answer.data.items || [];
      const picker = reply.elements.canned;
      picker.replaceChildren(
        element("option", t("choose_canned")),
        ...canned.map((item) => {
          const option = element("option", `${item.title} (${label("language_", item.language)})`);
          option.value = item.canned_reply_id;
          return option;
        }),
      );
      picker.firstElementChild.value = "";
    }

    if (canWrite) {
      reply.elements.canned.addEventListener("change", () => {
        const chosen = canned.find((item) => item.canned_reply_id === reply.elements.canned.value);
        if (chosen) reply.elements.message.value = chosen.message;
      });
      reply.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(reply);
        if (missing(reply, ["message"])) return;
        const sent = { message: reply.elements.message.value, resolve: reply.elements.resolve.checked };
        const answer = await api("POST", `/api/admin/tickets/${id}/replies`, sent);
        if (!answer.ok) return refused(reply, answer, "message");
        reply.reset();
        result(t("reply_sent"));
        show(answer.data);
      });
      escalate.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(escalate);
        if (missing(escalate, ["message"])) return;
        const sent = { message: escalate.elements.message.value };
        const answer = await api("POST", `/api/admin/tickets/${id}/escalation`, sent);
        if (!answer.ok) return refused(escalate, answer, "message");
        escalate.reset();
        result(t("escalated"));
        show(answer.data);
      });
      loadCanned();
    }
    load();
  }

  function cannedPage() {
    const list = $("#canned");
    const state = $("#results-state");
    const form = $("#canned-form");
    const sla = $("#sla-form");

    function edit(item) {
      form.elements.id.value = item.canned_reply_id;
      form.elements.language.value = item.language;
      form.elements.title.value = item.title;
      form.elements.message.value = item.message;
      form.elements.title.focus();
    }

    async function load() {
      state.textContent = t("loading");
      const answer = await api("GET", "/api/admin/canned-replies");
      state.textContent = "";
      if (!answer.ok) return failed(answer);
      const items = answer.data.items || [];
      if (!items.length) state.textContent = t("no_canned");
      list.replaceChildren(
        ...items.map((item) => {
          const entry = element("li", null, "task");
          const heading = element("h2", item.title, "task-title");
          heading.lang = item.language;
          const text = element("p", item.message);
          text.lang = item.language;
          text.style.whiteSpace = "pre-wrap";
          entry.append(heading, element("p", label("language_", item.language), "muted"), text);
          if (form) {
            const actions = element("div", null, "task-actions");
            const change = element("button", t("edit"), "secondary");
            change.type = "button";
            change.setAttribute("aria-label", `${t("edit")}: ${item.title}`);
            change.addEventListener("click", () => edit(item));
            const remove = element("button", t("delete"), "secondary");
            remove.type = "button";
            remove.setAttribute("aria-label", `${t("delete")}: ${item.title}`);
            remove.addEventListener("click", async () => {
              const gone = await api("DELETE", `/api/admin/canned-replies/${item.canned_reply_id}`);
              if (!gone.ok) return failed(gone);
              result(t("canned_deleted"));
              load();
            });
            actions.append(change, remove);
            entry.append(actions);
          }
          return entry;
        }),
      );
    }

    form?.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (missing(form, ["title", "message"])) return;
      const sent = {
        language: form.elements.language.value,
        title: form.elements.title.value.trim(),
        message: form.elements.message.value,
      };
      const existing = form.elements.id.value;
      const answer = existing
        ? await api("PUT", `/api/admin/canned-replies/${existing}`, sent)
        : await api("POST", "/api/admin/canned-replies", sent);
      if (!answer.ok) return refused(form, answer, "title");
      form.reset();
      form.elements.id.value = "";
      result(t("canned_saved"));
      load();
    });

    if (sla) slaForm(sla, "/api/admin/ticket-sla");
    load();
  }

  // A form of ticket deadlines (the shop's L2 or the platform's L3): filled from `source`, saved whole to
  // it; it is busy until the stored values are in it (a save before would send empty fields).
  async function slaForm(form, source) {
    const names = [...form.querySelectorAll("input[name]")].map((input) => input.name);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (form.getAttribute("aria-busy") === "true" || missing(form, names)) return;
      const sent = Object.fromEntries(names.map((name) => [name, Number(form.elements[name].value)]));
      const answer = await api("PUT", source, sent);
      if (!answer.ok) return refused(form, answer);
      result(t("sla_saved"));
    });
    form.setAttribute("aria-busy", "true");
    const answer = await api("GET", source);
    if (!answer.ok) return failed(answer);
    for (const name of names) {
      if (answer.data[name] !== undefined) form.elements[name].value = answer.data[name];
    }
    form.setAttribute("aria-busy", "false");
  }

  function platformSlaPage() {
    const form = $("#sla-form");
    slaForm(form, form.dataset.source);
  }

  const pages = {
    tickets: listPage,
    ticket: ticketPage,
    "tickets-canned": cannedPage,
    "tickets-platform-sla": platformSlaPage,
  };
  const run = pages[document.body.dataset.page];
  if (run) run();
})();
