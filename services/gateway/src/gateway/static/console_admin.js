// The console's settings, catalog (categories, coupons) and platform pages, over the admin and platform
// APIs with console.js's helpers (window.fakaConsole: the fetch with the session, CSRF and shop headers, the
// strings, the field errors, the step-up). Rendered with textContent only; what is data (e-mails, names,
// the audit's entries) carries the class "data".
(() => {
  "use strict";
  const ui = window.fakaConsole;
  if (!ui) return;
  Object.assign(ui.strings, JSON.parse(document.getElementById("admin-strings").textContent));
  const { api, t, element, time, money, minorUnits, refused, clearErrors, fieldError, missing, formError, result, stepUp } = ui;
  const $ = (selector, root = document) => root.querySelector(selector);
  const failed = (answer) => formError(t("failed", { message: answer.data.message || answer.status }));
  const lang = document.body.dataset.lang || "en";
  const count = (n) => new Intl.NumberFormat(lang).format(n);
  const data = (tag, text) => element(tag, text, "data");
  const percent = (bps) => new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 2 }).format(bps / 10000);

  // A refusal's errors next to their fields: `smtp.host` is the input named smtp_host, else the last part.
  function refusedHere(form, answer) {
    let placed = false;
    for (const detail of answer.data.details || []) {
      const loc = (detail.loc || []).filter((part) => typeof part === "string" && part !== "body" && part !== "query");
      placed = [loc.join("_"), loc[loc.length - 1]].some((name) => name && fieldError(form, name, detail.msg)) || placed;
    }
    if (!placed) refused(form, answer);
  }

  function button(text, label, onClick, className = "secondary") {
    const made = element("button", text, className);
    made.type = "button";
    if (label) made.setAttribute("aria-label", `${text}: ${label}`);
    made.addEventListener("click", onClick);
    return made;
  }

  function cells(row, values) {
    for (const value of values) {
      const cell = document.createElement("td");
      if (value instanceof Node) cell.appendChild(value);
      else cell.textContent = value;
      row.appendChild(cell);
    }
    return row;
  }

  async function listed(path, state) {
    state.textContent = t("loading");
    const answer = await api("GET", path);
    state.textContent = "";
    if (!answer.ok) {
      failed(answer);
      return null;
    }
    const items = answer.data.items || [];
    if (!items.length) state.textContent = t("nothing_here");
    return items;
  }

  // A day the person picked (yyyy-mm-dd) as the instant it begins where they are; `after`: the next day's.
  function dayStart(value, after = false) {
    const day = new Date(value + "T00:00:00");
    if (after) day.setDate(day.getDate() + 1);
    return day.toISOString();
  }

  function whole(form, name) {
    const raw = form.elements[name].value.trim();
    if (!raw) return undefined;
    if (!/^-?\d+$/.test(raw)) {
      fieldError(form, name, t("bad_number"));
      return NaN;
    }
    return Number(raw);
  }

  function membersPage() {
    const table = $("#members");
    const canWrite = table.dataset.canWrite === "yes";
    const invite = $("#invite");

    function roleChooser(member) {
      const form = element("form", null, "console-form inline");
      form.noValidate = true;
      const id = `f-role-${member.account_id}`;
      const label = element("label", `${t("change_role")}: ${member.email}`, "visually-hidden");
      label.htmlFor = id;
      const choice = document.createElement("select");
      Object.assign(choice, { id, name: "role" });
      for (const role of ["owner", "manager", "operator", "support", "viewer"]) {
        const option = element("option", t("role_" + role));
        option.value = role;
        choice.appendChild(option);
      }
      choice.value = member.role;
      const save = element("button", t("change_role"), "secondary");
      save.type = "submit";
      save.setAttribute("aria-label", `${t("change_role")}: ${member.email}`);
      form.append(label, choice, " ", save);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        const answer = await api("PATCH", `/api/admin/members/${member.account_id}`, { role: choice.value });
        if (!answer.ok) return refused(form, answer, "role");
        await load();
        result(t("role_changed", { email: member.email, role: t("role_" + choice.value) }));
      });
      return form;
    }

    async function load() {
      const items = await listed("/api/admin/members", $("#results-state"));
      if (!items) return;
      $("tbody", table).replaceChildren(
        ...items.map((member) => {
          const row = document.createElement("tr");
          row.dataset.accountId = member.account_id;
          const email = data("th", member.email);
          email.scope = "row";
          row.appendChild(email);
          const values = [canWrite ? roleChooser(member) : t("role_" + member.role), time(member.created_at)];
          if (canWrite) {
            values.push(
              button(t("remove"), member.email, async () => {
                const answer = await api("DELETE", `/api/admin/members/${member.account_id}`);
                if (!answer.ok) return failed(answer);
                await load();
                result(t("member_removed", { email: member.email }));
              }),
            );
          }
          return cells(row, values);
        }),
      );
    }

    if (canWrite && invite) {
      invite.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(invite);
        if (missing(invite, ["email"])) return;
        const sent = { email: invite.elements.email.value.trim(), role: invite.elements.role.value };
        const answer = await api("POST", "/api/admin/members", sent);
        if (!answer.ok) return refusedHere(invite, answer);
        await load();
        result(t("member_added", { email: sent.email }));
        invite.reset();
      });
    }
    load();
  }

  function tokensPage() {
    const list = $("#tokens");
    const canWrite = list.dataset.canWrite === "yes";
    const form = $("#new-token");

    async function load() {
      const items = await listed("/api/admin/api-tokens", $("#results-state"));
      if (!items) return;
      list.replaceChildren(
        ...items.map((token) => {
          const item = element("li", null, "task");
          item.dataset.tokenId = token.token_id;
          item.append(data("h2", token.name));
          const line = element("p");
          const at = (iso) => (iso ? time(iso).textContent : t("never"));
          line.textContent = t("token_line", {
            scopes: token.scopes.map((scope) => t("scope_" + scope)).join(", "),
            created: at(token.created_at), used: at(token.last_used_at), expires: at(token.expires_at),
          });
          item.append(line);
          if (token.revoked_at) item.append(element("p", t("revoked_at", { at: at(token.revoked_at) }), "muted"));
          else if (canWrite) {
            item.append(
              button(t("revoke"), token.name, async () => {
                const answer = await api("DELETE", `/api/admin/api-tokens/${token.token_id}`);
                if (!answer.ok) return failed(answer);
                await load();
                result(t("token_revoked", { name: token.name }));
              }),
            );
          }
          return item;
        }),
      );
    }

    async function issue(sent) {
      const answer = await api("POST", "/api/admin/api-tokens", sent);
      if (stepUp(answer, () => issue(sent))) return;
      if (!answer.ok) return refusedHere(form, answer);
      const shown = element("code", answer.data.token, "data secret-once");
      shown.id = "new-token-value";
      await load();
      result(element("p", t("token_once")), shown);
      form.reset();
    }

    if (canWrite && form) {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        clearErrors(form);
        $("#e-f-scopes").textContent = "";
        if (missing(form, ["name"])) return;
        const scopes = [...form.querySelectorAll('[name="scopes"]:checked')].map((box) => box.value);
        if (!scopes.length) {
          $("#e-f-scopes").textContent = t("required");
          form.querySelector('[name="scopes"]').focus();
          return;
        }
        const sent = { name: form.elements.name.value.trim(), scopes };
        if (form.elements.expires_on.value) sent.expires_at = dayStart(form.elements.expires_on.value, true);
        issue(sent);
      });
    }
    load();
  }

  function auditPage() {
    const form = $("#audit-filter");
    const list = $("#audit-entries");
    const more = $("#more");
    const state = $("#results-state");

    function query(before) {
      const params = new URLSearchParams({ limit: "50" });
      for (const name of ["shop_id", "action"]) {
        if (form.elements[name] && form.elements[name].value.trim()) params.set(name, form.elements[name].value.trim());
      }
      if (form.elements.since.value) params.set("since", dayStart(form.elements.since.value));
      if (form.elements.until.value) params.set("until", dayStart(form.elements.until.value, true));
      if (before) params.set("before", before);
      return params;
    }

    function entry(found) {
      const item = element("li");
      item.dataset.action = found.action;
      const what = t("audit_line", { who: found.actor_label, action: found.action, outcome: found.outcome });
      item.append(time(found.occurred_at), " ", data("span", what));
      const where = [found.target, found.client_ip && t("audit_from", { ip: found.client_ip })].filter(Boolean);
      if (form.elements.shop_id) where.unshift(found.shop_id || t("platform_wide"));
      if (where.length) item.append(element("br"), data("span", where.join(" · ")));
      item.append(element("br"), data("small", found.summary));
      return item;
    }

    async function load(before) {
      state.textContent = t("loading");
      const answer = await api("GET", `${form.dataset.source}?${query(before)}`);
      state.textContent = "";
      if (!answer.ok) return refusedHere(form, answer);
      if (!before) list.replaceChildren();
      list.append(...answer.data.items.map(entry));
      if (!list.children.length) state.textContent = t("nothing_here");
      more.hidden = !answer.data.next;
      more.onclick = () => load(answer.data.next);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clearErrors(form);
      load(null);
    });
    load(null);
  }

  function paymentChannelsPage() {
    const list = $("#channels");
    const canWrite = list.dataset.canWrite === "yes";
    const providers = JSON.parse($("#providers").textContent);

    function channelForm(provider, found) {
      const form = element("form", null, "console-form");
      form.noValidate = true;
      form.hidden = true;
      for (const spec of providers[provider]) {
        const id = `f-${provider}-${spec.name}`;
        const wrap = element("div", null, "field");
        const label = element("label", spec.name);
        label.htmlFor = id;
        const input = document.createElement(spec.lines ? "textarea" : "input");
        Object.assign(input, { id, name: spec.name, autocomplete: "off" });
        if (!spec.lines) input.type = spec.secret ? "password" : "text";
        if (!spec.secret && found && found.credentials[spec.name] !== undefined) input.value = found.credentials[spec.name];
        wrap.append(label, input);
        form.append(wrap);
      }
      const enabled = element("div", null, "field check");
      const box = document.createElement("input");
      Object.assign(box, { type: "checkbox", id: `f-${provider}-enabled`, name: "enabled", checked: found ? found.enabled : true });
      const boxLabel = element("label", t("enabled"));
      boxLabel.htmlFor = box.id;
      enabled.append(box, boxLabel);
      const save = element("button", t("save"));
      save.type = "submit";
      save.setAttribute("aria-label", `${t("save")}: ${provider}`);
      form.append(enabled, save);

      async function put(sent) {
        const answer = await api("PUT", `/api/admin/payment-channels/${provider}`, sent);
        if (stepUp(answer, () => put(sent))) return;
        if (!answer.ok) return refusedHere(form, answer);
        await load();
        result(t("channel_saved", { provider }));
      }

      form.addEventListener("submit", (event) => {
        event.preventDefault();
        clearErrors(form);
        const required = providers[provider].filter((spec) => spec.required).map((spec) => spec.name);
        if (missing(form, required)) return;
        const credentials = {};
        for (const spec of providers[provider]) {
          const value = form.elements[spec.name].value;
          if (value.trim() || spec.required) credentials[spec.name] = spec.lines ? value : value.trim();
        }
        put({ enabled: box.checked, credentials });
      });
      return form;
    }

    function shown(provider, found) {
      const item = element("li", null, "task");
      item.dataset.provider = provider;
      item.append(element("h2", provider));
      if (!found) item.append(element("p", t("channel_none"), "muted"));
      else {
        item.append(element("p", t(found.enabled ? "channel_enabled" : "channel_disabled")));
        const facts = Object.entries(found.credentials).map(([name, value]) =>
          name.endsWith("_set") ? `${name.slice(0, -4)}: ${t(value ? "secret_set" : "secret_unset")}` : `${name}: ${value || "—"}`,
        );
        item.append(data("p", facts.join(" · ")));
      }
      if (!canWrite) return item;
      const form = channelForm(provider, found);
      const actions = element("p", null, "row-actions");
      actions.append(
        button(t(found ? "replace_credentials" : "set_up"), provider, () => {
          form.hidden = !form.hidden;
          if (!form.hidden) form.querySelector("input, textarea").focus();
        }),
      );
      if (found) {
        actions.append(
          " ",
          button(t("remove"), provider, async function remove() {
            const answer = await api("DELETE", `/api/admin/payment-channels/${provider}`);
            if (stepUp(answer, remove)) return;
            if (!answer.ok) return failed(answer);
            await load();
            result(t("channel_removed", { provider }));
          }),
        );
      }
      item.append(actions, form);
      return item;
    }

    async function load() {
      const answer = await api("GET", "/api/admin/payment-channels");
      if (!answer.ok) return failed(answer);
      const found = Object.fromEntries(answer.data.items.map((channel) => [channel.provider, channel]));
      list.replaceChildren(...Object.keys(providers).map((provider) => shown(provider, found[provider])));
    }
    load();
  }

  function notificationChannelsPage() {
    const form = $("#channels-form");
    const canWrite = form.dataset.canWrite === "yes";
    const fields = form.elements;
    let current = null;

    function fill(found) {
      current = found;
      for (const name of ["from_name", "from_address", "reply_to", "webhook_url"]) fields[name].value = found[name] || "";
      fields.alert_emails.value = (found.alert_emails || []).join("\n");
      const smtp = found.smtp || {};
      fields.smtp_host.value = smtp.host || "";
      fields.smtp_port.value = smtp.port || "";
      fields.smtp_security.value = smtp.security || "starttls";
      fields.smtp_username.value = smtp.username || "";
      const accounts = [];
      if (found.aliyun_sms) {
        accounts.push(t("sms_account", { name: "Aliyun", secret: t(found.aliyun_sms_secret_set ? "secret_set" : "secret_unset") }));
      }
      if (found.twilio_sms) {
        accounts.push(t("sms_account", { name: "Twilio", secret: t(found.twilio_sms_token_set ? "secret_set" : "secret_unset") }));
      }
      $("#sms-accounts").replaceChildren(...accounts.map((line) => element("li", line)));
    }

    function body() {
      const text = (name) => fields[name].value.trim() || null;
      const sent = {
        from_name: text("from_name"),
        from_address: text("from_address"),
        reply_to: text("reply_to"),
        smtp: null,
        alert_emails: fields.alert_emails.value.split("\n").map((line) => line.trim()).filter(Boolean),
        webhook_url: text("webhook_url"),
        aliyun_sms: current.aliyun_sms || null,
        twilio_sms: current.twilio_sms || null,
        alert_telegram_chat: current.alert_telegram_chat || null,
      };
      if (text("smtp_host")) {
        sent.smtp = { host: text("smtp_host"), security: fields.smtp_security.value, username: text("smtp_username") };
        const port = whole(form, "smtp_port");
        if (Number.isNaN(port)) return null;
        if (port !== undefined) sent.smtp.port = port;
        if (fields.smtp_password.value) sent.smtp.password = fields.smtp_password.value;
      }
      if (fields.webhook_secret.value) sent.webhook_secret = fields.webhook_secret.value;
      return sent;
    }

    // the form is saved whole: not before what is stored is in it
    (async () => {
      const answer = await api("GET", "/api/admin/shop-channels");
      if (!answer.ok) return failed(answer);
      fill(answer.data);
      form.setAttribute("aria-busy", "false");
      const save = $('button[type="submit"]', form);
      if (save) save.disabled = false;
    })();
    if (!canWrite) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const sent = body();
      if (!sent) return;
      const answer = await api("PUT", "/api/admin/shop-channels", sent);
      if (!answer.ok) return refusedHere(form, answer);
      fields.smtp_password.value = "";
      fields.webhook_secret.value = "";
      fill(answer.data);
      result(t("saved_channels"));
    });
  }

  function suppliersPage() {
    const table = $("#suppliers");
    const canWrite = table.dataset.canWrite === "yes";
    const percent = (rate) => t("percent", { value: new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(rate * 100) });

    async function account(supplier) {
      const answer = await api("GET", `/api/admin/suppliers/${supplier.supplier_id}/account`);
      if (!answer.ok) return failed(answer);
      const found = answer.data;
      const lines = Object.entries(found.balances || {}).map(([currency, amount]) => t("balance", { amount: money(amount, currency) }));
      for (const claim of found.claims || []) {
        lines.push(t("claims_line", { claims: count(claim.claims), replacements: count(claim.replacements), amount: money(claim.amount, claim.currency) }));
      }
      const withheld = found.keys ? found.keys.withdrawn || 0 : 0;
      if (supplier.paused || withheld) lines.push(t("keys_withheld", { count: count(withheld) }));
      const section = $("#supplier-account");
      $("#account-title").textContent = `${t("account")}: ${supplier.name}`;
      $("#account-lines").replaceChildren(...(lines.length ? lines : [t("nothing_here")]).map((line) => element("li", line)));
      section.hidden = false;
      $("#account-title").focus();
    }

    async function load() {
      const state = $("#results-state");
      state.textContent = t("loading");
      const answer = await api("GET", "/api/admin/suppliers/scores");
      state.textContent = "";
      if (!answer.ok) return failed(answer);
      const items = answer.data.items || [];
      if (!items.length) state.textContent = t("nothing_here");
      $("tbody", table).replaceChildren(
        ...items.map((supplier) => {
          const row = document.createElement("tr");
          row.dataset.supplierId = supplier.supplier_id;
          const name = data("th", supplier.name);
          name.scope = "row";
          row.appendChild(name);
          const status = [t(supplier.active ? "supplier_on" : "supplier_off"), t("breaker_" + supplier.breaker)];
          if (supplier.paused) status.push(t("supplier_paused"));
          const actions = element("span", null, "row-actions");
          actions.append(button(t("account"), supplier.name, () => account(supplier)));
          if (canWrite) {
            const to = !supplier.active;
            actions.append(
              " ",
              button(t(to ? "switch_on" : "switch_off"), supplier.name, async () => {
                const changed = await api("PATCH", `/api/admin/suppliers/${supplier.supplier_id}`, { active: to });
                if (!changed.ok) return failed(changed);
                load();
              }),
            );
          }
          const mean = supplier.mean_latency_ms === null ? "—" : t("ms", { value: count(Math.round(supplier.mean_latency_ms)) });
          return cells(row, [status.join(", "), count(supplier.attempts), percent(supplier.success_rate), mean, percent(supplier.claim_rate), actions]);
        }),
      );
    }
    load();
  }

  function categoriesPage() {
    const list = $("#categories");
    const form = $("#new-category");

    async function load() {
      const items = await listed("/api/admin/categories", $("#results-state"));
      if (!items) return;
      list.replaceChildren(
        ...items.map((category) => {
          const item = element("li");
          item.dataset.categoryId = category.category_id;
          item.append(data("strong", category.name), " ", element("span", `#${category.sort_order} · ${t(category.visible ? "visible" : "hidden_category")}`, "muted"));
          return item;
        }),
      );
    }

    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        if (missing(form, ["name"])) return;
        const position = whole(form, "sort_order");
        if (Number.isNaN(position)) return;
        const sent = { name: form.elements.name.value.trim(), sort_order: position || 0, visible: form.elements.visible.checked };
        const answer = await api("POST", "/api/admin/categories", sent);
        if (!answer.ok) return refusedHere(form, answer);
        await load();
        result(t("category_added", { name: sent.name }));
        form.reset();
      });
    }
    load();
  }

  function couponsPage() {
    const table = $("#coupons");
    const canWrite = table.dataset.canWrite === "yes";
    const form = $("#new-coupon");
    const targets = new Map();

    async function loadTargets() {
      const [products, categories] = await Promise.all([api("GET", "/api/admin/products"), api("GET", "/api/admin/categories")]);
      for (const product of products.ok ? products.data.items : []) targets.set("p:" + product.product_id, product.title);
      for (const category of categories.ok ? categories.data.items : []) targets.set("c:" + category.category_id, category.name);
      if (!form) return;
      const everything = element("option", t("everything"));
      everything.value = "";
      form.elements.target.replaceChildren(
        everything,
        ...[...targets].map(([key, name]) => {
          const option = element("option", name);
          option.value = key;
          return option;
        }),
      );
    }

    async function load() {
      const items = await listed("/api/admin/coupons", $("#results-state"));
      if (!items) return;
      $("tbody", table).replaceChildren(
        ...items.map((coupon) => {
          const row = document.createElement("tr");
          row.dataset.code = coupon.code;
          const code = data("th", coupon.code);
          code.scope = "row";
          row.appendChild(code);
          const off = coupon.kind === "fixed"
            ? t("coupon_off_fixed", { amount: money(coupon.value, coupon.currency) })
            : t("coupon_off_percent", { value: coupon.value });
          const target = coupon.product_id ? "p:" + coupon.product_id : coupon.category_id ? "c:" + coupon.category_id : "";
          const uses = t("coupon_uses", { used: count(coupon.used_count), limit: coupon.usage_limit ? count(coupon.usage_limit) : "∞" });
          const values = [off, data("span", target ? targets.get(target) || target.slice(2) : t("everything")), uses,
            coupon.expires_at ? time(coupon.expires_at) : t("never"), t(coupon.active ? "coupon_active" : "coupon_inactive")];
          if (canWrite) {
            values.push(
              coupon.active
                ? button(t("disable"), coupon.code, async () => {
                    const answer = await api("POST", `/api/admin/coupons/${encodeURIComponent(coupon.code)}/disable`);
                    if (!answer.ok) return failed(answer);
                    await load();
                    result(t("coupon_disabled", { code: coupon.code }));
                  })
                : "",
            );
          }
          return cells(row, values);
        }),
      );
    }

    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        if (missing(form, ["code", "value"])) return;
        const kind = form.elements.kind.value;
        const currency = form.elements.currency.value.trim().toUpperCase();
        const raw = form.elements.value.value.trim();
        const value = kind === "fixed" ? minorUnits(raw, currency || "CNY") : /^\d+$/.test(raw) ? Number(raw) : NaN;
        if (Number.isNaN(value)) return fieldError(form, "value", t(kind === "fixed" ? "bad_amount" : "bad_number"));
        const sent = { kind, code: form.elements.code.value.trim(), value };
        if (kind === "fixed" || currency) sent.currency = currency;
        const target = form.elements.target.value;
        if (target) sent[target.startsWith("p:") ? "product_id" : "category_id"] = target.slice(2);
        for (const name of ["usage_limit", "per_buyer_limit"]) {
          const limit = whole(form, name);
          if (Number.isNaN(limit)) return;
          if (limit !== undefined) sent[name] = limit;
        }
        if (form.elements.expires_on.value) sent.expires_at = dayStart(form.elements.expires_on.value, true);
        const answer = await api("POST", "/api/admin/coupons", sent);
        if (!answer.ok) return refusedHere(form, answer);
        await load();
        result(t("coupon_added", { code: sent.code }));
        form.reset();
      });
    }
    loadTargets().then(load);
  }

  function shopsPage() {
    const table = $("#shops");
    const canWrite = table.dataset.canWrite === "yes";
    const filter = $("#shop-filter");
    const more = $("#more");
    const state = $("#results-state");
    const form = $("#new-shop");
    const ACTIONS = { pending: ["approve"], active: ["suspend"], suspended: ["resume"], closed: [] };
    const TARGET = { approve: "active", suspend: "suspended", resume: "active" };

    function row(shop) {
      const made = document.createElement("tr");
      made.dataset.shopId = shop.shop_id;
      const name = data("th", shop.name);
      name.scope = "row";
      made.appendChild(name);
      const front = data("a", `/s/${shop.slug}/`);
      front.href = `/s/${shop.slug}/`;
      const fee = shop.fee_rate_bps === null ? t("fee_default") : percent(shop.fee_rate_bps);
      const values = [front, t("shop_" + shop.status), time(shop.created_at), fee];
      if (canWrite) {
        const actions = element("span", null, "row-actions");
        for (const action of ACTIONS[shop.status] || []) {
          actions.append(
            button(t(action), shop.name, async () => {
              const answer = await api("POST", `/api/platform/shops/${shop.shop_id}/status`, { status: TARGET[action] });
              if (!answer.ok) return failed(answer);
              result(t("shop_now", { name: shop.name, status: t("shop_" + answer.data.status) }));
              made.replaceWith(row(answer.data));
            }),
          );
        }
        actions.append(feeForm(shop, made));
        values.push(actions);
      }
      return cells(made, values);
    }

    // The platform's fee on the shop's sales; an empty field puts it back to the platform's default.
    function feeForm(shop, made) {
      const form = element("form", null, "console-form inline");
      form.noValidate = true;
      const id = `f-fee-${shop.shop_id}`;
      const wrap = element("div", null, "field");
      const label = element("label", t("fee_rate"));
      label.htmlFor = id;
      const input = document.createElement("input");
      Object.assign(input, { id, name: "fee_rate_bps", type: "number", min: 0, max: 10000, step: 1 });
      if (shop.fee_rate_bps !== null) input.value = String(shop.fee_rate_bps);
      wrap.append(label, input);
      const submit = element("button", t("set_fee"), "secondary");
      submit.type = "submit";
      submit.setAttribute("aria-label", `${t("set_fee")}: ${shop.name}`);
      form.append(wrap, submit);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        const raw = input.value.trim();
        const sent = { fee_rate_bps: raw === "" ? null : Number(raw) };
        const answer = await api("PUT", `/api/platform/shops/${shop.shop_id}/fee-rate`, sent);
        if (!answer.ok) return refusedHere(form, answer);
        const rate = answer.data.fee_rate_bps === null ? t("fee_default") : percent(answer.data.fee_rate_bps);
        result(t("fee_set", { name: shop.name, rate }));
        made.replaceWith(row(answer.data));
      });
      return form;
    }

    async function load(after) {
      const params = new URLSearchParams({ limit: "50" });
      if (filter.elements.status.value) params.set("status", filter.elements.status.value);
      if (after) params.set("after", after);
      state.textContent = t("loading");
      const answer = await api("GET", "/api/platform/shops?" + params);
      state.textContent = "";
      if (!answer.ok) return failed(answer);
      const rows = $("tbody", table);
      if (!after) rows.replaceChildren();
      rows.append(...answer.data.items.map(row));
      if (!rows.children.length) state.textContent = t("no_shops");
      more.hidden = !answer.data.next_after;
      more.onclick = () => load(answer.data.next_after);
    }

    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      load(null);
    });
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors(form);
        if (missing(form, ["slug", "name"])) return;
        const sent = { slug: form.elements.slug.value.trim(), name: form.elements.name.value.trim() };
        if (form.elements.open_now.checked) sent.status = "active";
        const answer = await api("POST", "/api/platform/shops", sent);
        if (!answer.ok) return refusedHere(form, answer);
        result(t("shop_opened", { name: answer.data.name, slug: answer.data.slug }));
        form.reset();
        load(null);
      });
    }
    load(null);
  }

  const pages = {
    members: membersPage,
    "api-tokens": tokensPage,
    audit: auditPage,
    "payment-channels": paymentChannelsPage,
    "notification-channels": notificationChannelsPage,
    suppliers: suppliersPage,
    categories: categoriesPage,
    coupons: couponsPage,
    "platform-shops": shopsPage,
  };
  const run = pages[document.body.dataset.page];
  if (run) run();
})();
