// The console's risk pages: the review queue and the shop's rule set, over the admin risk API with
// console.js's helpers (window.fakaConsole: the fetch with the session, CSRF and shop headers, the strings,
// the field errors). Rendered with textContent only.
(() => {
  "use strict";
  const ui = window.fakaConsole;
  if (!ui) return;
  Object.assign(ui.strings, JSON.parse(document.getElementById("risk-strings").textContent));
  const { api, t, element, time, money, refused, clearErrors, fieldError, missing, formError, result } = ui;
  const $ = (selector, root = document) => root.querySelector(selector);
  const failed = (answer) => formError(t("failed", { message: answer.data.message || answer.status }));

  function reviewsPage() {
    const list = $("#reviews");
    const state = $("#results-state");
    const filter = $("#review-filter");
    const canWrite = list.dataset.canWrite === "yes";

    function statusText(review) {
      if (review.status === "approved") return t("review_approved", { who: review.resolved_by });
      if (review.status === "rejected") {
        return t("review_rejected_by", { who: review.resolved_by, reason: review.resolution_reason });
      }
      if (review.status === "expired") return t("review_expired");
      return t("review_open", { at: time(review.expires_at).textContent });
    }

    function amountText(review) {
      const amount = money(review.amount, review.currency);
      if (!review.trailing_mean) return t("no_mean", { amount });
      const times = new Intl.NumberFormat(document.body.dataset.lang || "en", { maximumFractionDigits: 1 })
        .format(review.amount / review.trailing_mean);
      return t("vs_mean", { amount, times, mean: money(review.trailing_mean, review.currency) });
    }

    function actionForm(review, action) {
      const form = element("form", null, "console-form inline");
      form.noValidate = true;
      if (action === "reject") {
        const id = `f-reason-${review.order_id}`;
        const wrap = element("div", null, "field");
        const label = element("label", t("reject_reason"));
        label.htmlFor = id;
        const input = document.createElement("input");
        Object.assign(input, { id, name: "reason", type: "text", maxLength: 500 });
        wrap.append(label, input);
        form.appendChild(wrap);
      }
      const button = element("button", t(action), action === "reject" ? "secondary" : undefined);
      button.type = "submit";
      button.setAttribute("aria-label", `${t(action)}: ${review.order_no}`);
      form.appendChild(button);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        if (action === "reject" && missing(form, ["reason"])) return;
        const sent = action === "reject" ? { reason: form.elements.reason.value.trim() } : undefined;
        const answer = await api("POST", `/api/admin/risk/reviews/${review.order_id}/${action}`, sent);
        if (!answer.ok) return refused(form, answer, action === "reject" ? "reason" : null);
        await load();
        result(t(action === "approve" ? "approved" : "review_rejected"));
      });
      return form;
    }

    async function load() {
      state.textContent = t("loading");
      const status = filter.elements.status.value;
      const answer = await api("GET", "/api/admin/risk/reviews?" + new URLSearchParams({ status }));
      state.textContent = "";
      if (!answer.ok) return failed(answer);
      const items = answer.data.items || [];
      if (!items.length) state.textContent = t("no_reviews");
      list.replaceChildren(
        ...items.map((review) => {
          const item = $("#review-template").content.firstElementChild.cloneNode(true);
          item.dataset.orderId = review.order_id;
          $(".task-title", item).textContent = review.product_title;
          const order = element("a", review.order_no, "order-no");
          order.href = "console/orders/" + encodeURIComponent(review.order_no);
          $('[data-fact="order"]', item).replaceChildren(order);
          $('[data-fact="buyer"]', item).textContent = review.buyer_email;
          const device = $('[data-fact="device"]', item);
          device.textContent = review.device_id || "";
          device.parentElement.hidden = !review.device_id;
          $('[data-fact="amount"]', item).textContent = amountText(review);
          $('[data-fact="reasons"]', item).textContent = review.reasons.join("; ");
          $('[data-fact="fired"]', item).textContent = review.fired.join(", ") || "—";
          $('[data-fact="status"]', item).textContent = statusText(review);
          if (canWrite && review.status === "open") {
            $(".task-actions", item).append(actionForm(review, "approve"), actionForm(review, "reject"));
          }
          return item;
        }),
      );
    }

    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    load();
  }

  // Each rule type's fields: lists are one entry a line; an empty number keeps the rule's default.
  const ACTION = { name: "action", kind: "choice", options: ["reject", "review"], prefix: "action_" };
  // a payer is known only at payment, where only a blocklist acts: allow-lists have no payment accounts
  const LISTS = ["ips", "cidrs", "emails", "email_domains", "phones", "device_ids"].map((name) => ({
    name,
    kind: "lines",
  }));
  const FIELDS = {
    blocklist: [...LISTS, { name: "payment_accounts", kind: "lines" }],
    allowlist: LISTS,
    velocity: [
      { name: "per", kind: "choice", options: ["ip", "email", "product", "device"], prefix: "per_" },
      { name: "limit", kind: "number" },
      { name: "window_seconds", kind: "number" },
      ACTION,
    ],
    unpaid_orders: [
      { name: "per", kind: "choice", options: ["ip", "email"], prefix: "per_" },
      { name: "limit", kind: "number" },
      ACTION,
    ],
    amount_above_mean: [
      { name: "factor", kind: "text" },
      { name: "sample", kind: "number" },
      { name: "min_samples", kind: "number" },
      { ...ACTION, options: ["review", "reject"] },
    ],
    first_purchase_above: [{ name: "amount", kind: "number" }, { ...ACTION, options: ["review", "reject"] }],
    disposable_email: [{ name: "extra_domains", kind: "lines" }, ACTION],
    quantity: [{ name: "min", kind: "number" }, { name: "max", kind: "number" }],
    challenge: [
      { name: "kind", kind: "choice", options: ["proof_of_work", "captcha"], prefix: "kind_" },
      { name: "per", kind: "choice", options: ["ip", "email", "always"], prefix: "per_" },
      { name: "limit", kind: "number" },
      { name: "window_seconds", kind: "number" },
      { name: "difficulty", kind: "number" },
    ],
  };
  const NOTE = { name: "note", kind: "text" };

  function summary(rule) {
    const parts = [];
    for (const spec of FIELDS[rule.type] || []) {
      const value = rule[spec.name];
      if (value === undefined || value === null || (Array.isArray(value) && !value.length)) continue;
      const shown = Array.isArray(value)
        ? value.join(", ")
        : spec.kind === "choice" ? t(spec.prefix + value) : String(value);
      parts.push(`${t("field_" + spec.name)}: ${shown}`);
    }
    return parts.join(" · ");
  }

  function input(spec, value) {
    const id = "f-rule-" + spec.name;
    const wrap = element("div", null, "field");
    const label = element("label", t("field_" + spec.name));
    label.htmlFor = id;
    let made;
    if (spec.kind === "choice") {
      made = document.createElement("select");
      for (const option of spec.options) {
        const shown = element("option", t(spec.prefix + option));
        shown.value = option;
        made.appendChild(shown);
      }
      if (value) made.value = value;
    } else if (spec.kind === "lines") {
      made = document.createElement("textarea");
      made.value = (value || []).join("\n");
      const hint = element("p", t("one_per_line"), "hint");
      hint.id = "h-" + id;
      made.setAttribute("aria-describedby", hint.id);
      wrap.append(label, made, hint);
    } else {
      made = document.createElement("input");
      made.type = "text";
      if (spec.kind === "number") made.inputMode = "numeric";
      made.value = value === undefined || value === null ? "" : String(value);
    }
    made.id = id;
    made.name = spec.name;
    if (!wrap.contains(made)) wrap.append(label, made);
    return wrap;
  }

  function read(form, type) {
    const rule = { type };
    for (const spec of [...FIELDS[type], NOTE]) {
      const raw = form.elements[spec.name].value;
      if (spec.kind === "lines") {
        const lines = raw.split("\n").map((line) => line.trim()).filter(Boolean);
        if (lines.length) rule[spec.name] = lines;
      } else if (raw.trim() !== "") {
        const number = Number(raw.trim());
        rule[spec.name] = spec.kind === "number" && Number.isInteger(number) ? number : raw.trim();
      }
    }
    return rule;
  }

  // A refusal names `rules.<index>.<type>.<field>[.<line>]`: the field's error next to it (a list's with
  // its line); anything else above the form.
  function ruleErrors(form, answer, index) {
    let placed = false;
    for (const detail of answer.data.details || []) {
      const loc = (detail.loc || []).filter((part) => part !== "body");
      if (loc[0] !== "rules" || loc[1] !== index) continue;
      const [, , , name, line] = loc;
      const message = typeof line === "number" ? t("line_error", { line: line + 1, message: detail.msg }) : detail.msg;
      placed = fieldError(form, String(name || "type"), message) || placed;
    }
    if (!placed) refused(form, answer);
  }

  function rulesPage() {
    const list = $("#rules");
    const canWrite = list.dataset.canWrite === "yes";
    const form = $("#rule-form");
    let current = { rules: [], review_timeout_seconds: 3600, version: 0 };

    async function save(rules, index) {
      const body = { rules, review_timeout_seconds: current.review_timeout_seconds };
      const answer = await api("PUT", "/api/admin/risk/rules", body);
      if (!answer.ok) {
        if (form && !form.hidden) ruleErrors(form, answer, index);
        else failed(answer);
        return false;
      }
      result(t("rules_saved", { version: answer.data.version }));
      return true;
    }

    function open(type, index) {
      const rule = index < current.rules.length ? current.rules[index] : { type };
      clearErrors(form);
      form.dataset.type = type;
      form.dataset.index = String(index);
      $("#rule-form-title").textContent = t("type_" + type);
      $("#rule-fields").replaceChildren(...[...FIELDS[type], NOTE].map((spec) => input(spec, rule[spec.name])));
      form.hidden = false;
      $("#rule-form-title").focus();
    }

    function shown(rule, index) {
      const item = element("li", null, "task");
      item.append(element("h2", t("type_" + rule.type)), element("p", summary(rule)));
      if (rule.note) item.append(element("p", rule.note, "muted"));
      if (canWrite) {
        const edit = element("button", t("edit"), "secondary");
        edit.type = "button";
        edit.setAttribute("aria-label", `${t("edit")}: ${t("type_" + rule.type)} ${index + 1}`);
        edit.addEventListener("click", () => open(rule.type, index));
        const drop = element("button", t("delete"), "secondary");
        drop.type = "button";
        drop.setAttribute("aria-label", `${t("delete")}: ${t("type_" + rule.type)} ${index + 1}`);
        drop.addEventListener("click", async () => {
          if (await save(current.rules.filter((_, i) => i !== index), -1)) load();
        });
        const actions = element("p", null, "row-actions");
        actions.append(edit, " ", drop);
        item.append(actions);
      }
      return item;
    }

    async function load() {
      const [rules, audit] = await Promise.all([
        api("GET", "/api/admin/risk/rules"),
        api("GET", "/api/admin/risk/rules/history"),
      ]);
      if (!rules.ok) return failed(rules);
      current = rules.data;
      $("#rules-version").textContent = current.version
        ? t("rules_version", { version: current.version, who: current.changed_by })
        : t("rules_never");
      list.replaceChildren(...current.rules.map(shown));
      if (!current.rules.length) list.replaceChildren(element("li", t("no_rules")));
      if (audit.ok) {
        $("#audit").replaceChildren(
          ...audit.data.items.map((change) => {
            const item = element("li");
            const types = change.rule_types.map((type) => t("type_" + type)).join(", ") || t("no_rules");
            item.append(time(change.changed_at), " ", t("audit_line", { version: change.version, who: change.changed_by, types }));
            return item;
          }),
        );
      }
    }

    if (canWrite && form) {
      const chooser = $("#add-rule");
      for (const type of Object.keys(FIELDS)) {
        const option = element("option", t("type_" + type));
        option.value = type;
        chooser.elements.new_type.appendChild(option);
      }
      chooser.addEventListener("submit", (event) => {
        event.preventDefault();
        open(chooser.elements.new_type.value, current.rules.length);
      });
      $("[data-cancel]", form).addEventListener("click", () => {
        form.hidden = true;
      });
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        const index = Number(form.dataset.index);
        const rules = [...current.rules];
        rules[index] = read(form, form.dataset.type);
        if (await save(rules, index)) {
          form.hidden = true;
          load();
        }
      });
    }
    load();
  }

  const pages = { "risk-reviews": reviewsPage, "risk-rules": rulesPage };
  const run = pages[document.body.dataset.page];
  if (run) run();
})();
