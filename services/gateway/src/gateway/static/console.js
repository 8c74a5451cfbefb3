// The seller console's script: each page's data from the admin and console JSON APIs (the session cookie,
// X-CSRF-Token on writes, X-Shop-Id for the chosen shop), rendered with textContent only; a refusal's
// field errors next to their fields; a lost session goes to sign-in.
(() => {
  "use strict";
  const body = document.body;
  const strings = JSON.parse(document.getElementById("console-strings").textContent);
  const lang = body.dataset.lang || "en";
  const shop = body.dataset.shop;
  const $ = (selector, root = document) => root.querySelector(selector);

  const t = (key, values = {}) =>
    (strings[key] || key).replace(/%\((\w+)\)s/g, (_, name) => (name in values ? String(values[name]) : ""));
  const statusLabel = (status) => strings["status_" + status] || String(status || "").replace(/_/g, " ");

  function cookie(name) {
    const found = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function toSignIn() {
    const here = location.pathname + location.search;
    location.assign("/console/sign-in?" + new URLSearchParams({ next: here }));
  }

  async function api(method, path, payload) {
    const headers = { Accept: "application/json, text/plain" };
    if (shop) headers["X-Shop-Id"] = shop;
    if (method !== "GET") headers["X-CSRF-Token"] = cookie("faka_csrf");
    if (payload !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (response.status === 401 && body.dataset.page !== "sign-in") {
      toSignIn();
      throw new Error("signed out");
    }
    return { ok: response.ok, status: response.status, data: data || {} };
  }

  function time(iso) {
    const element = document.createElement("time");
    if (!iso) return element;
    element.dateTime = iso;
    element.textContent = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" }).format(
      new Date(iso),
    );
    return element;
  }

  function digits(currency) {
    try {
      return new Intl.NumberFormat(lang, { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
    } catch (error) {
      return 2;
    }
  }

  function money(minor, currency) {
    const value = Number(minor || 0) / 10 ** digits(currency);
    try {
      return new Intl.NumberFormat(lang, { style: "currency", currency }).format(value);
    } catch (error) {
      return value.toFixed(2) + " " + currency;
    }
  }

  function element(tag, text, className) {
    const made = document.createElement(tag);
    if (text !== undefined && text !== null) made.textContent = String(text);
    if (className) made.className = className;
    return made;
  }

  // Errors: next to the field a refusal names, else above the form.
  function formError(message) {
    const shown = $("#form-error");
    if (shown) shown.textContent = message || "";
  }

  function clearErrors(form) {
    formError("");
    form.querySelectorAll(".field.invalid").forEach((field) => field.classList.remove("invalid"));
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
    form.querySelectorAll(".field-error").forEach((shown) => (shown.textContent = ""));
  }

  function fieldError(form, name, message) {
    const input = form.querySelector(`[name="${name}"]`);
    if (!input) return false;
    const field = input.closest(".field") || input.parentElement;
    field.classList.add("invalid");
    input.setAttribute("aria-invalid", "true");
    const id = "e-" + input.id;
    let shown = document.getElementById(id);
    if (!shown) {
      shown = element("p", "", "field-error");
      shown.id = id;
      field.appendChild(shown);
    }
    shown.textContent = message;
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (!described.includes(id)) input.setAttribute("aria-describedby", [...described, id].join(" "));
    input.focus();
    return true;
  }

  function refused(form, answer, fallbackField) {
    const data = answer.data || {};
    let placed = false;
    for (const detail of data.details || []) {
      const loc = detail.loc || [];
      placed = fieldError(form, String(loc[loc.length - 1]), detail.msg) || placed;
    }
    const message = t("failed", { message: data.message || answer.status });
    if (!placed && !(fallbackField && fieldError(form, fallbackField, message))) formError(message);
  }

  function missing(form, names) {
    const empty = names.filter((name) => !form.elements[name].value.trim());
    empty.reverse().forEach((name) => fieldError(form, name, t("required")));
    return empty.length > 0;
  }

  function result(...parts) {
    const shown = $("#action-result");
    shown.replaceChildren(...parts);
    shown.hidden = false;
  }

  const signOut = $("[data-sign-out]");
  if (signOut) {
    signOut.addEventListener("click", async () => {
      await api("POST", "/api/console/sign-out").catch(() => null);
      location.assign("/console/sign-in");
    });
  }

  function signInPage() {
    const first = $("#sign-in");
    const second = $("#second-factor");
    const recovery = $("[data-recovery]", second);
    const next = first.dataset.next || "/console/orders";
    let challenge = "";
    first.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(first);
      if (missing(first, ["email", "password"])) return;
      const sent = { email: first.elements.email.value.trim(), password: first.elements.password.value };
      const answer = await api("POST", "/api/console/sign-in", sent);
      if (!answer.ok) {
        if (answer.status === 401) fieldError(first, "password", t("wrong_sign_in"));
        else refused(first, answer);
        return;
      }
      if (answer.data.status !== "second_factor_required") return location.assign(next);
      challenge = answer.data.challenge;
      first.hidden = true;
      second.hidden = false;
      second.elements.code.focus();
    });
    $("[data-use-recovery]", second).addEventListener("click", (event) => {
      recovery.hidden = false;
      second.elements.code.closest(".field").hidden = true;
      event.currentTarget.hidden = true;
      second.elements.recovery_code.focus();
    });
    second.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(second);
      const name = recovery.hidden ? "code" : "recovery_code";
      if (missing(second, [name])) return;
      const sent = { challenge, [name]: second.elements[name].value.trim() };
      const answer = await api("POST", "/api/console/sign-in/second-factor", sent);
      if (answer.ok) return location.assign(next);
      if (answer.status === 401) fieldError(second, name, t("wrong_code"));
      else refused(second, answer, name);
    });
  }

  function ordersPage() {
    const form = $("#order-search");
    const table = $("#results");
    const rows = $("tbody", table);
    const more = $("#more");
    const state = $("#results-state");
    const asked = new URLSearchParams(location.search);
    for (const name of ["q", "status", "from", "to"]) if (asked.get(name)) form.elements[name].value = asked.get(name);

    function query(after) {
      const params = new URLSearchParams({ limit: "50" });
      const { q, status, from, to } = form.elements;
      if (q.value.trim()) params.set("q", q.value.trim());
      if (status.value) params.set("status", status.value);
      if (from.value) params.set("from", new Date(from.value + "T00:00:00").toISOString());
      if (to.value) {
        const end = new Date(to.value + "T00:00:00");
        end.setDate(end.getDate() + 1);
        params.set("to", end.toISOString());
      }
      if (after) params.set("after", after);
      return params;
    }

    async function load(after) {
      state.textContent = t("loading");
      const answer = await api("GET", "/api/admin/orders?" + query(after));
      state.textContent = "";
      if (!answer.ok) return refused(form, answer);
      if (!after) rows.replaceChildren();
      for (const order of answer.data.items) {
        const row = document.createElement("tr");
        const link = element("a", order.order_no, "order-no");
        link.href = "console/orders/" + encodeURIComponent(order.order_no);
        const cells = [link, time(order.created_at), order.buyer_email, order.product_title,
          money(order.amount, order.currency), statusLabel(order.status)];
        for (const value of cells) {
          const cell = document.createElement("td");
          if (value instanceof Node) cell.appendChild(value);
          else cell.textContent = value;
          row.appendChild(cell);
        }
        rows.appendChild(row);
      }
      table.hidden = rows.children.length === 0;
      if (table.hidden) state.textContent = t("nothing");
      more.hidden = !answer.data.next_cursor;
      more.onclick = () => load(answer.data.next_cursor);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      const shown = new URLSearchParams();
      for (const name of ["q", "status", "from", "to"]) if (form.elements[name].value) shown.set(name, form.elements[name].value);
      history.replaceState(null, "", location.pathname + (shown.toString() ? "?" + shown : ""));
      load(null);
    });
    load(null);
  }

  function timelineText(entry) {
    const amount = money(entry.amount, entry.currency);
    switch (entry.kind) {
      case "transition":
        return entry.from_state
          ? t("kind_transition", { from: statusLabel(entry.from_state), to: statusLabel(entry.to_state) })
          : t("kind_placed", { to: statusLabel(entry.to_state) });
      case "payment":
        return t("kind_payment", { amount, provider: entry.provider, trade_no: entry.trade_no });
      case "payment_set_aside":
        return t("kind_payment_set_aside", { amount, reason: entry.reason });
      case "refund":
        return t("kind_refund", { amount, status: entry.status, reason: entry.reason });
      default:
        return t("kind_delivery_attempt", { channel: entry.channel, outcome: entry.outcome || entry.phase });
    }
  }

  function orderPage() {
    const root = $("#order");
    const orderNo = root.dataset.orderNo;
    const path = "/api/admin/orders/" + encodeURIComponent(orderNo);
    const fact = (name, value) => {
      const shown = $(`[data-fact="${name}"]`, root);
      shown.replaceChildren(value instanceof Node ? value : document.createTextNode(value ?? ""));
      shown.parentElement.hidden = value === null || value === undefined || value === "";
    };
    let currency = "CNY";

    async function load() {
      const answer = await api("GET", path);
      root.setAttribute("aria-busy", "false");
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const { order, delivery, timeline } = answer.data;
      currency = order.currency;
      fact("status", statusLabel(order.status));
      fact("product", `${order.product_title} × ${order.quantity}`);
      fact("amount", money(order.amount, order.currency));
      fact("refunded", order.refunded_amount ? money(order.refunded_amount, order.currency) : null);
      fact("buyer", order.buyer_email);
      fact("created", time(order.created_at));
      fact("delivery", delivery ? `${statusLabel(delivery.status)} (${delivery.mode})` : t("no_delivery"));
      fact("reason", order.status_reason);
      $("#order-facts").hidden = false;
      $("#timeline").replaceChildren(
        ...timeline.map((entry) => {
          const item = element("li");
          item.append(time(entry.at), element("span", timelineText(entry)), " ");
          item.append(element("span", t("cause_" + entry.cause), "cause"));
          return item;
        }),
      );
    }

    const refund = $("#refund");
    if (refund) {
      refund.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(refund);
        const raw = refund.elements.amount.value.trim();
        const places = digits(currency);
        if (raw && !new RegExp(`^\\d+(\\.\\d{1,${places}})?$`).test(raw)) {
          return fieldError(refund, "amount", t("failed", { message: raw }));
        }
        if (missing(refund, ["reason"])) return;
        const sent = { reason: refund.elements.reason.value.trim() };
        if (raw) sent.amount = Math.round(Number(raw) * 10 ** places);
        const answer = await api("POST", path + "/refunds", sent);
        if (!answer.ok) return refused(refund, answer, "amount");
        result(t("refunded", { amount: money(answer.data.amount, answer.data.currency), status: answer.data.status }));
        refund.reset();
        load();
      });
    }
    const resend = $("#resend");
    if (resend) {
      resend.addEventListener("submit", async (event) => {
        event.preventDefault();
        const answer = await api("POST", path + "/link-emails");
        if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
        result(t("resent"));
      });
    }
    const rotate = $("#rotate");
    if (rotate) {
      rotate.addEventListener("submit", async (event) => {
        event.preventDefault();
        const answer = await api("POST", path + "/secret-rotations");
        if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
        const link = element("a", answer.data.page_url);
        link.href = answer.data.page_url;
        result(t("rotated"), " ", link);
      });
    }
    load();
  }

  function manualQueuePage() {
    const list = $("#tasks");
    const state = $("#results-state");
    const canWork = list.dataset.canWork === "yes";

    function taskForm(task, action, field) {
      const form = element("form", null, "console-form");
      form.noValidate = true;
      if (field) {
        const id = `f-${action}-${task.order_id}`;
        const wrap = element("div", null, "field");
        const label = element("label", t(field.label));
        label.htmlFor = id;
        const input = document.createElement(field.tag);
        input.id = id;
        input.name = field.name;
        if (field.tag === "input") input.type = "text";
        wrap.append(label, input);
        form.appendChild(wrap);
      }
      const button = element("button", t(action));
      button.type = "submit";
      if (action === "reject") button.className = "secondary";
      form.appendChild(button);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        if (field && missing(form, [field.name])) return;
        const sent = field ? { [field.name]: form.elements[field.name].value } : undefined;
        const answer = await api("POST", `/api/admin/delivery/manual-tasks/${task.order_id}/${action}`, sent);
        if (!answer.ok) return refused(form, answer, field && field.name);
        load();
      });
      return form;
    }

    function statusText(task) {
      if (task.status === "claimed") return t("claimed_by", { who: task.claimed_by });
      if (task.status === "delivered") return t("delivered", { who: task.resolved_by });
      if (task.status === "rejected") return t("rejected", { who: task.resolved_by, reason: task.reject_reason });
      return t("task_open");
    }

    async function load() {
      state.textContent = t("loading");
      const answer = await api("GET", "/api/admin/delivery/manual-tasks");
      state.textContent = "";
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const items = answer.data.items || [];
      if (!items.length) state.textContent = t("no_tasks");
      list.replaceChildren(
        ...items.map((task) => {
          const item = $("#task-template").content.firstElementChild.cloneNode(true);
          const request = task.request || {};
          item.dataset.orderId = task.order_id;
          $(".task-title", item).textContent = request.product_title || request.order_no || task.order_id;
          const order = request.order_no ? element("a", request.order_no, "order-no") : task.order_id;
          if (request.order_no) order.href = "console/orders/" + encodeURIComponent(request.order_no);
          $('[data-fact="order"]', item).replaceChildren(order);
          $('[data-fact="created"]', item).replaceChildren(time(task.created_at));
          const why = strings["reason_" + task.reason] || task.reason;
          $('[data-fact="reason"]', item).textContent = [why, task.detail].filter(Boolean).join(": ");
          const asked = Object.entries(request.buyer_fields || {}).map(([k, v]) => `${k}: ${v}`);
          $('[data-fact="request"]', item).textContent = asked.join(", ") || "—";
          $('[data-fact="status"]', item).textContent = statusText(task);
          const actions = $(".task-actions", item);
          if (canWork && task.status === "open") actions.append(taskForm(task, "claim"));
          if (canWork && task.status === "claimed") {
            actions.append(
              taskForm(task, "deliver", { name: "content", tag: "textarea", label: "content" }),
              taskForm(task, "reject", { name: "reason", tag: "input", label: "reason" }),
            );
          }
          return item;
        }),
      );
    }
    load();
  }

  function keysPage() {
    const list = $("#products");
    const stepUp = $("#step-up");
    let waiting = null;

    async function exportKeys(product) {
      const answer = await api("GET", `/api/admin/products/${product.product_id}/keys/unsold`);
      if (answer.status === 403 && answer.data.error === "second_factor_required") {
        waiting = product;
        stepUp.hidden = false;
        stepUp.elements.code.focus();
        return;
      }
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const keys = String(answer.data).split("\n").filter(Boolean);
      const link = element("a", product.title + ".txt");
      link.href = URL.createObjectURL(new Blob([answer.data], { type: "text/plain" }));
      link.download = product.title + ".txt";
      result(t("exported", { count: keys.length }), " ", link);
    }

    stepUp.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(stepUp);
      if (missing(stepUp, ["code"])) return;
      const answer = await api("POST", "/api/console/step-up", { code: stepUp.elements.code.value.trim() });
      if (!answer.ok) return fieldError(stepUp, "code", t("wrong_code"));
      stepUp.hidden = true;
      stepUp.reset();
      if (waiting) exportKeys(waiting);
    });

    (async () => {
      const answer = await api("GET", "/api/admin/products");
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      list.replaceChildren(
        ...(answer.data.items || []).map((product) => {
          const item = element("li", null, "task");
          const button = element("button", t("export"), "secondary");
          button.type = "button";
          button.setAttribute("aria-label", `${t("export")}: ${product.title}`);
          button.addEventListener("click", () => exportKeys(product));
          item.append(element("h2", product.title), button);
          return item;
        }),
      );
    })();
  }

  function linkPage() {
    const form = $("#link");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const sent = { token: form.dataset.token, purpose: form.dataset.purpose };
      if (form.elements.new_password) {
        if (missing(form, ["new_password"])) return;
        sent.new_password = form.elements.new_password.value;
      }
      const answer = await api("POST", "/api/console/links/redeem", sent);
      if (answer.status === 404) return formError(t("link_invalid"));
      if (!answer.ok) return refused(form, answer, form.elements.new_password ? "new_password" : null);
      form.hidden = true;
      result(t(sent.new_password ? "link_done" : "email_done"));
    });
  }

  async function totpPage() {
    const steps = $("#totp-steps");
    const form = $("#totp-confirm");
    const begun = await api("POST", "/api/console/totp");
    if (!begun.ok) return formError(t("failed", { message: begun.data.message || begun.status }));
    $("[data-totp-secret]").textContent = begun.data.secret;
    $("[data-totp-link]").href = begun.data.provisioning_uri;
    steps.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (missing(form, ["code"])) return;
      const answer = await api("POST", "/api/console/totp/confirm", { code: form.elements.code.value.trim() });
      if (!answer.ok) return answer.status === 403 ? fieldError(form, "code", t("wrong_code")) : refused(form, answer, "code");
      steps.hidden = true;
      $("[data-recovery-intro]").textContent = t("totp_on");
      $("[data-recovery-codes]").replaceChildren(
        ...answer.data.recovery_codes.map((code) => {
          const item = element("li");
          item.appendChild(element("code", code, "key"));
          return item;
        }),
      );
      $("#recovery").hidden = false;
    });
  }

  const pages = {
    totp: totpPage,
    link: linkPage,
    "sign-in": signInPage,
    orders: ordersPage,
    order: orderPage,
    "manual-queue": manualQueuePage,
    keys: keysPage,
  };
  const run = pages[body.dataset.page];
  if (run) run();
})();
