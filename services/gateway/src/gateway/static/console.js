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
    return { ok: response.ok, status: response.status, headers: response.headers, data: data || {} };
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

  // An action's outcome, said once the page shows it: actions reload their list first (`await load()`), so
  // nothing a person (or a test) does next acts on a list that is about to be replaced.
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
    const next = first.dataset.next || "/console/";
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
      case "release":
        return t("kind_release", { who: entry.released_by, reason: entry.reason });
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
      const release = $("#release");
      if (release) release.hidden = order.status !== "paid" || order.status_reason !== "payer_account_blocked";
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
        await load();
        result(t("refunded", { amount: money(answer.data.amount, answer.data.currency), status: answer.data.status }));
        refund.reset();
      });
    }
    const release = $("#release");
    if (release) {
      release.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(release);
        if (missing(release, ["reason"])) return;
        const answer = await api("POST", path + "/releases", { reason: release.elements.reason.value.trim() });
        if (!answer.ok) return refused(release, answer, "reason");
        await load();
        result(t("released"));
        release.reset();
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

  // What the role table guards with a second factor (key export, API tokens, payment credentials): the
  // page's step-up form asks for a code from the authenticator app, then `retry` runs again.
  function stepUp(answer, retry) {
    if (answer.status !== 403 || answer.data.error !== "second_factor_required") return false;
    const form = $("#step-up");
    form.hidden = false;
    form.elements.code.focus();
    form.onsubmit = async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (missing(form, ["code"])) return;
      const proved = await api("POST", "/api/console/step-up", { code: form.elements.code.value.trim() });
      if (!proved.ok) return fieldError(form, "code", t("wrong_code"));
      form.hidden = true;
      form.reset();
      retry();
    };
    return true;
  }

  function forgotPasswordPage() {
    const form = $("#forgot");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (missing(form, ["email"])) return;
      const answer = await api("POST", "/api/console/password-resets", { email: form.elements.email.value.trim() });
      if (!answer.ok) return refused(form, answer, "email");
      result(t("reset_sent"));
      form.hidden = true;
    });
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

  // Figures: counts and durations in the page's language; money per currency; days are UTC days.
  const count = (value) => new Intl.NumberFormat(lang).format(Number(value || 0));
  const utcDay = (day) =>
    new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(day + "T00:00:00Z"));
  const amounts = (gmv) => Object.entries(gmv || {}).map(([currency, minor]) => money(minor, currency)).join(", ") || "0";

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const [value, unit] = seconds < 120 ? [seconds, "second"] : seconds < 7200 ? [seconds / 60, "minute"] : [seconds / 3600, "hour"];
    return new Intl.NumberFormat(lang, { style: "unit", unit, maximumFractionDigits: 1 }).format(value);
  }

  function listOf(list, items, line) {
    list.replaceChildren(...(items.length ? items.map((item) => element("li", line(item))) : [element("li", t("none"))]));
  }

  // The daily chart, drawn as SVG: a bar per day for the orders placed, a line for the orders paid. The
  // table under it holds the same figures as text.
  function chart(days) {
    const ns = "http://www.w3.org/2000/svg";
    const make = (tag, attrs) => {
      const made = document.createElementNS(ns, tag);
      for (const [name, value] of Object.entries(attrs)) made.setAttribute(name, String(value));
      return made;
    };
    const width = 640, height = 220, left = 36, bottom = 24, top = 10;
    const most = Math.max(1, ...days.map((day) => Math.max(day.orders, day.paid_orders)));
    const step = (width - left) / days.length;
    const y = (value) => height - bottom - (value / most) * (height - bottom - top);
    const svg = make("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-svg" });
    const label = t("chart_label", { first: utcDay(days[0].day), last: utcDay(days[days.length - 1].day) });
    svg.setAttribute("aria-label", label);
    svg.appendChild(make("line", { x1: left, y1: y(0), x2: width, y2: y(0), class: "axis" }));
    const scale = make("text", { x: left - 6, y: y(most) + 4, "text-anchor": "end", class: "tick" });
    scale.textContent = count(most);
    svg.appendChild(scale);
    const points = [];
    days.forEach((day, index) => {
      const x = left + index * step;
      const bar = make("rect", { x: x + step * 0.15, y: y(day.orders), width: step * 0.7, height: y(0) - y(day.orders), class: "bar" });
      const tip = make("title", {});
      tip.textContent = `${utcDay(day.day)}: ${t("orders_count", { count: day.orders })}, ${t("paid_count", { count: day.paid_orders })}`;
      bar.appendChild(tip);
      svg.appendChild(bar);
      points.push(`${x + step / 2},${y(day.paid_orders)}`);
      if (days.length <= 7 || index % Math.ceil(days.length / 7) === 0) {
        const tick = make("text", { x: x + step / 2, y: height - 6, "text-anchor": "middle", class: "tick" });
        tick.textContent = day.day.slice(5);
        svg.appendChild(tick);
      }
    });
    svg.appendChild(make("polyline", { points: points.join(" "), class: "paid-line" }));
    $("#chart").replaceChildren(svg);
  }

  // A rate in basis points as a percentage in the page's language (250: 2.5 %).
  const percent = (bps) => new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 2 }).format(bps / 10000);

  function dashboardPage() {
    const form = $("#period");
    const root = $("#dashboard");
    const figure = (name, value) => ($(`[data-figure="${name}"]`, root).textContent = value);
    const asked = new URLSearchParams(location.search).get("days");
    if (asked === "7" || asked === "30") form.elements.days.value = asked;

    async function load() {
      root.setAttribute("aria-busy", "true");
      const answer = await api("GET", root.dataset.source + "?days=" + form.elements.days.value);
      root.setAttribute("aria-busy", "false");
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const found = answer.data;
      figure("today-orders", count(found.today.orders));
      figure("today-paid", count(found.today.paid_orders));
      figure("today-gmv", amounts(found.today.gmv));
      figure("period-orders", count(found.totals.orders));
      figure("period-paid", count(found.totals.paid_orders));
      figure("period-gmv", amounts(found.totals.gmv));
      const rate = found.fee_rate_bps === undefined ? "" : " " + t("fee_at", { rate: percent(found.fee_rate_bps) });
      figure("period-fees", amounts(found.fees || {}) + rate);
      figure("period-net", amounts(found.net || {}));
      figure("p50", duration(found.delivery_latency.p50_seconds));
      figure("p95", duration(found.delivery_latency.p95_seconds));
      chart(found.days);
      $("#days tbody").replaceChildren(
        ...found.days.slice().reverse().map((day) => {
          const row = document.createElement("tr");
          row.dataset.day = day.day;
          const head = element("th", utcDay(day.day));
          head.scope = "row";
          row.append(head, element("td", count(day.orders)), element("td", count(day.paid_orders)), element("td", amounts(day.gmv)));
          return row;
        }),
      );
      listOf($("#by-status"), Object.entries(found.by_status), ([status, n]) => t("status_count", { status: statusLabel(status), count: count(n) }));
      listOf($("#hot-products"), found.hot_products, (p) => t("hot_line", { title: p.title, orders: count(p.paid_orders), quantity: count(p.quantity) }));
      if ($("#low-stock")) listOf($("#low-stock"), found.low_stock || [], (p) => t("low_line", { title: p.title, count: count(p.available), threshold: count(p.threshold) }));
      listOf($("#refunds"), found.refunds, (r) =>
        t("refund_line", { count: count(r.refunds), status: strings["refund_" + r.status] || r.status, amount: money(r.amount, r.currency) }),
      );
    }

    // Delivery success: one table (a row per mode, channel and supplier) and its rates as bars.
    async function loadDeliveries() {
      const table = $("#deliveries");
      if (!table) return;
      const answer = await api("GET", "/api/admin/dashboard/deliveries?days=" + form.elements.days.value);
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const rows = answer.data.rows || [];
      const label = (row) => t("group_" + row.group, { name: row.group === "supplier" ? row.name : strings["name_" + row.name] || row.name });
      const rate = (row) => (row.success_rate === null ? t("no_rate") : percent(row.success_rate * 10000));
      $("tbody", table).replaceChildren(
        ...rows.map((row) => {
          const made = document.createElement("tr");
          const head = element("th", label(row));
          head.scope = "row";
          made.append(head, element("td", count(row.total)), element("td", count(row.succeeded)), element("td", count(row.failed)), element("td", rate(row)));
          return made;
        }),
      );
      const ns = "http://www.w3.org/2000/svg";
      const width = 640, line = 22, left = 220, height = Math.max(1, rows.length) * line + 8;
      const svg = document.createElementNS(ns, "svg");
      svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
      svg.setAttribute("role", "img");
      svg.setAttribute("class", "chart-svg");
      svg.setAttribute("aria-label", rows.map((row) => `${label(row)}: ${rate(row)}`).join("; ") || t("none"));
      rows.forEach((row, index) => {
        const name = document.createElementNS(ns, "text");
        Object.entries({ x: left - 8, y: index * line + 18, "text-anchor": "end", class: "tick" }).forEach(([k, v]) => name.setAttribute(k, String(v)));
        name.textContent = label(row);
        const bar = document.createElementNS(ns, "rect");
        const size = (width - left - 8) * (row.success_rate || 0);
        Object.entries({ x: left, y: index * line + 6, width: size, height: line - 8, class: "bar" }).forEach(([k, v]) => bar.setAttribute(k, String(v)));
        svg.append(name, bar);
      });
      $("#delivery-chart").replaceChildren(svg);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      history.replaceState(null, "", location.pathname + "?days=" + form.elements.days.value);
      load();
      loadDeliveries();
    });
    $("#export-deliveries")?.addEventListener("click", async () => {
      const answer = await api("GET", "/api/admin/dashboard/deliveries.csv?days=" + form.elements.days.value);
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const disposition = /filename="([^"]+)"/.exec(answer.headers.get("content-disposition") || "");
      const name = disposition ? disposition[1] : "deliveries.csv";
      const link = element("a", name);
      link.href = URL.createObjectURL(new Blob([answer.data], { type: "text/csv" }));
      link.download = name;
      result(t("delivery_ready"), " ", link);
      link.focus();
    });
    loadDeliveries();
    $("#export-csv")?.addEventListener("click", async () => {
      const answer = await api("GET", "/api/admin/dashboard/daily.csv?days=" + form.elements.days.value);
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const disposition = /filename="([^"]+)"/.exec(answer.headers.get("content-disposition") || "");
      const name = disposition ? disposition[1] : "daily.csv";
      const link = element("a", name);
      link.href = URL.createObjectURL(new Blob([answer.data], { type: "text/csv" }));
      link.download = name;
      result(t("csv_ready"), " ", link);
      link.focus();
    });
    load();
  }

  function productsPage() {
    const table = $("#product-list");
    const state = $("#results-state");
    const canEdit = table.dataset.canEdit === "yes";
    const canImport = table.dataset.canImport === "yes";
    (async () => {
      state.textContent = t("loading");
      const answer = await api("GET", "/api/admin/products");
      state.textContent = "";
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const items = answer.data.items || [];
      if (!items.length) state.textContent = t("no_products");
      $("tbody", table).replaceChildren(
        ...items.map((product) => {
          const row = document.createElement("tr");
          row.dataset.productId = product.product_id;
          const title = element("th", product.variant_label ? `${product.title} (${product.variant_label})` : product.title);
          title.scope = "row";
          const status = [t(product.active ? "on_sale" : "off_sale")];
          if (!product.visible) status.push(t("not_listed"));
          const available = product.stock.available;
          row.append(title, element("td", status.join(", ")), element("td", money(product.price, product.currency)),
            element("td", available === null ? t("unlimited") : count(available)), element("td", count(product.stock.sold)));
          if (canEdit || canImport) {
            const actions = element("td", null, "row-actions");
            const base = "console/products/" + encodeURIComponent(product.product_id);
            const link = (text, href) => {
              const made = element("a", text);
              made.href = href;
              made.setAttribute("aria-label", `${text}: ${product.title}`);
              return made;
            };
            if (canEdit) actions.append(link(t("edit"), base), " ");
            if (canImport && product.delivery_type === "card_key") actions.append(link(t("import_keys"), base + "/keys"));
            row.appendChild(actions);
          }
          return row;
        }),
      );
      table.hidden = items.length === 0;
    })();
  }

  // An amount as the person writes it (12.50) in minor units of `currency`; NaN when it is not one.
  function minorUnits(raw, currency) {
    const places = digits(currency);
    if (!new RegExp(`^\\d+(\\.\\d{1,${places}})?$`).test(raw)) return NaN;
    const [whole, fraction = ""] = raw.split(".");
    return Number(whole) * 10 ** places + Number(fraction.padEnd(places, "0") || 0);
  }

  function majorUnits(minor, currency) {
    const places = digits(currency);
    return places ? (Number(minor) / 10 ** places).toFixed(places) : String(minor);
  }

  function productPage() {
    const form = $("#product");
    const productId = form.dataset.productId;
    const path = "/api/admin/products" + (productId ? "/" + encodeURIComponent(productId) : "");
    const value = (name) => (form.elements[name] ? form.elements[name].value.trim() : "");
    const type = form.elements.delivery_type;
    if (type) {
      const shown = () => form.querySelectorAll("[data-for-type]").forEach((field) => (field.hidden = field.dataset.forType !== type.value));
      type.addEventListener("change", shown);
      shown();
    }

    (async () => {
      const categories = await api("GET", "/api/admin/categories");
      for (const category of categories.ok ? categories.data.items || [] : []) {
        const option = element("option", category.name);
        option.value = category.category_id;
        form.elements.category_id.appendChild(option);
      }
      if (!productId) {
        const answer = await api("GET", "/api/admin/products");
        if (!answer.ok) return;
        for (const product of answer.data.items || []) {
          if (product.variant_of) continue;
          const option = element("option", product.title);
          option.value = product.product_id;
          form.elements.variant_of.appendChild(option);
        }
        return;
      }
      const answer = await api("GET", path);
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      const product = answer.data;
      for (const name of ["title", "description", "currency", "usage_instructions", "variant_label"]) form.elements[name].value = product[name] || "";
      form.elements.price.value = majorUnits(product.price, product.currency);
      form.elements.category_id.value = product.category_id || "";
      form.elements.max_per_order.value = product.max_per_order ?? "";
      form.elements.low_stock_threshold.value = product.low_stock_threshold ?? "";
      form.elements.visible.checked = product.visible;
      form.elements.active.checked = product.active;
      const tiers = $("#tiers");
      if (tiers) {
        const found = await api("GET", path + "/price-tiers");
        if (found.ok) {
          tiers.elements.tiers.value = (found.data.tiers || [])
            .map((tier) => `${tier.min_quantity} ${majorUnits(tier.unit_price, product.currency)}`)
            .join("\n");
        }
      }
    })();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (missing(form, ["title", "price"])) return;
      const currency = value("currency").toUpperCase() || "CNY";
      const price = minorUnits(value("price"), currency);
      if (Number.isNaN(price)) return fieldError(form, "price", t("bad_amount"));
      const whole = (name) => {
        const raw = value(name);
        if (!raw) return null;
        return /^\d+$/.test(raw) ? Number(raw) : NaN;
      };
      const sent = {
        title: value("title"), description: form.elements.description.value, price, currency,
        usage_instructions: form.elements.usage_instructions.value, visible: form.elements.visible.checked,
        max_per_order: whole("max_per_order"), low_stock_threshold: whole("low_stock_threshold"),
        variant_label: value("variant_label") || null, category_id: value("category_id") || null,
      };
      for (const name of ["max_per_order", "low_stock_threshold"]) {
        if (Number.isNaN(sent[name])) return fieldError(form, name, t("bad_number"));
      }
      if (productId) {
        sent.active = form.elements.active.checked;
      } else {
        sent.delivery_type = type.value;
        if (type.value === "loop_key") sent.loop_key = form.elements.loop_key.value;
        if (value("variant_of")) sent.variant_of = value("variant_of");
        for (const name of Object.keys(sent)) if (sent[name] === null) delete sent[name];
      }
      const answer = await api(productId ? "PATCH" : "POST", path, sent);
      if (!answer.ok) return refused(form, answer);
      if (!productId) return location.assign("console/products/" + encodeURIComponent(answer.data.product_id));
      result(t("saved"));
    });

    const tiers = $("#tiers");
    if (tiers) {
      tiers.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(tiers);
        const currency = value("currency").toUpperCase() || "CNY";
        const lines = tiers.elements.tiers.value.split("\n").map((line) => line.trim());
        const sent = [];
        for (const [index, line] of lines.entries()) {
          if (!line) continue;
          const [units, price, extra] = line.split(/\s+/);
          const unit_price = minorUnits(price || "", currency);
          if (extra !== undefined || !/^\d+$/.test(units) || Number.isNaN(unit_price)) {
            return fieldError(tiers, "tiers", t("bad_tier", { line: index + 1 }));
          }
          sent.push({ min_quantity: Number(units), unit_price });
        }
        const answer = await api("PUT", path + "/price-tiers", { tiers: sent });
        if (!answer.ok) return refused(tiers, answer, "tiers");
        result(t("tiers_saved"));
      });
    }
  }

  // What the browser can tell of a pasted text by itself: blank lines and repeats within it, by line.
  function pastedLines(text) {
    const lines = text.replace(/^\ufeff/, "").replace(/\r\n?/g, "\n").split("\n");
    if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
    const first = new Map();
    const notes = [];
    lines.forEach((raw, index) => {
      const line = raw.replace(/^[ \t]+|[ \t]+$/g, "");
      if (!line.trim()) return notes.push({ line: index + 1, text: t("report_blank", { line: index + 1 }), blank: true });
      if (first.has(line)) return notes.push({ line: index + 1, text: t("report_repeat", { line: index + 1, first: first.get(line) }) });
      first.set(line, index + 1);
    });
    return notes;
  }

  function keyImportPage() {
    const form = $("#key-import");
    const productPath = "/api/admin/products/" + encodeURIComponent(form.dataset.productId);
    const progress = $("#upload-progress");
    const progressText = $("[data-progress-text]");
    const report = $("#import-report");

    async function showStock() {
      const answer = await api("GET", productPath);
      if (!answer.ok) return formError(t("failed", { message: answer.data.message || answer.status }));
      $("[data-product-title]").textContent = answer.data.title;
      $("[data-stock]").textContent = t("stock_now", { count: count(answer.data.stock.available) });
    }

    // One request (the inventory keeps a batch whole or not at all): the bar shows the upload's progress.
    function upload(payload, type) {
      return new Promise((resolve, reject) => {
        const request = new XMLHttpRequest();
        request.open("POST", productPath + "/keys");
        request.setRequestHeader("Accept", "application/json");
        request.setRequestHeader("Content-Type", type);
        request.setRequestHeader("X-CSRF-Token", cookie("faka_csrf"));
        if (shop) request.setRequestHeader("X-Shop-Id", shop);
        request.upload.addEventListener("progress", (event) => {
          if (!event.lengthComputable) return;
          progress.value = Math.round((event.loaded / event.total) * 100);
          const percent = new Intl.NumberFormat(lang, { style: "percent" }).format(event.loaded / event.total);
          progressText.textContent = t("sending", { percent });
        });
        request.upload.addEventListener("load", () => {
          progress.value = 100;
          progressText.textContent = t("waiting_report");
        });
        request.addEventListener("load", () => {
          let data = {};
          try {
            data = JSON.parse(request.responseText || "{}");
          } catch (error) {
            data = { message: request.statusText };
          }
          resolve({ ok: request.status >= 200 && request.status < 300, status: request.status, data });
        });
        request.addEventListener("error", () => reject(new Error("network")));
        request.send(payload);
      });
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const file = form.elements.file.files[0];
      const text = form.elements.keys.value;
      if (!file && !text.trim()) return fieldError(form, "keys", t("nothing_to_import"));
      const notes = file ? [] : pastedLines(text);
      const type = file && /\.csv$/i.test(file.name) ? "text/csv" : "text/plain";
      progress.value = 0;
      progressText.textContent = "";
      $("#import-progress").hidden = false;
      report.hidden = true;
      const button = $("button[type=submit]", form);
      button.disabled = true;
      let answer;
      try {
        answer = await upload(file || new Blob([text], { type }), type);
      } catch (error) {
        answer = { ok: false, status: 0, data: { message: error.message } };
      } finally {
        button.disabled = false;
      }
      if (answer.status === 401) return toSignIn();
      if (!answer.ok) return refused(form, answer, file ? "file" : "keys");
      const found = answer.data;
      const blank = notes.filter((note) => note.blank).length;
      $("[data-report-summary]", report).textContent = t("report_summary", {
        imported: count(found.imported), duplicates: count(found.duplicates), invalid: count(found.invalid), blank: count(blank),
      });
      const lines = [
        ...notes,
        ...found.invalid_lines.map((bad) => ({ line: bad.line, text: t("report_invalid", { line: bad.line, reason: bad.reason }) })),
      ].sort((a, b) => a.line - b.line);
      $("[data-report-lines]", report).replaceChildren(...lines.map((note) => element("li", note.text)));
      report.hidden = false;
      if (!file) form.elements.keys.value = "";
      form.elements.file.value = "";
      showStock();
    });
    showStock();
  }

  // what page scripts of their own (console_risk.js) use: one fetch helper, one set of strings
  window.fakaConsole = {
    api, t, strings, element, time, money, minorUnits, refused, clearErrors, fieldError, missing, formError, result, statusLabel, stepUp,
  };

  const pages = {
    totp: totpPage,
    link: linkPage,
    "sign-in": signInPage,
    "forgot-password": forgotPasswordPage,
    orders: ordersPage,
    order: orderPage,
    "manual-queue": manualQueuePage,
    dashboard: dashboardPage,
    products: productsPage,
    product: productPage,
    "key-import": keyImportPage,
  };
  const run = pages[body.dataset.page];
  if (run) run();
})();
