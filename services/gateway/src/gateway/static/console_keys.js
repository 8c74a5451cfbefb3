// The console's key pools: the card-key products with their export, and one product's pool key by key (a
// fingerprint, never the key) with void and replace, over the admin API with console.js's helpers
// (window.fakaConsole). What wants a second factor asks for a code, then runs again. textContent only.
(() => {
  "use strict";
  const ui = window.fakaConsole;
  if (!ui) return;
  Object.assign(ui.strings, JSON.parse(document.getElementById("key-strings").textContent));
  const { api, t, element, time, refused, clearErrors, missing, formError, result, stepUp } = ui;
  const $ = (selector, root = document) => root.querySelector(selector);
  const failed = (answer) => formError(t("failed", { message: answer.data.message || answer.status }));
  const count = (value) => new Intl.NumberFormat(document.body.dataset.lang || "en").format(value || 0);

  function poolsPage() {
    const table = $("#pools");
    const state = $("#results-state");
    const canExport = table.dataset.canExport === "yes";

    async function exportKeys(product) {
      const answer = await api("GET", `/api/admin/products/${product.product_id}/keys/unsold`);
      if (stepUp(answer, () => exportKeys(product))) return;
      if (!answer.ok) return failed(answer);
      const keys = String(answer.data).split("\n").filter(Boolean);
      const link = element("a", product.title + ".txt");
      link.href = URL.createObjectURL(new Blob([answer.data], { type: "text/plain" }));
      link.download = product.title + ".txt";
      result(t("exported", { count: keys.length }), " ", link);
    }

    (async () => {
      state.textContent = t("loading");
      const answer = await api("GET", "/api/admin/products");
      state.textContent = "";
      if (!answer.ok) return failed(answer);
      const items = (answer.data.items || []).filter((product) => product.delivery_type === "card_key");
      if (!items.length) state.textContent = t("no_card_products");
      $("tbody", table).replaceChildren(
        ...items.map((product) => {
          const row = document.createElement("tr");
          const title = element("th", product.variant_label ? `${product.title} (${product.variant_label})` : product.title);
          title.scope = "row";
          const actions = element("td", null, "row-actions");
          const link = element("a", t("pool"));
          link.href = "console/keys/" + encodeURIComponent(product.product_id);
          link.setAttribute("aria-label", `${t("pool")}: ${product.title}`);
          actions.append(link);
          if (canExport) {
            const button = element("button", t("export"), "secondary");
            button.type = "button";
            button.setAttribute("aria-label", `${t("export")}: ${product.title}`);
            button.addEventListener("click", () => exportKeys(product));
            actions.append(button);
          }
          row.append(title, element("td", count(product.stock.available)), element("td", count(product.stock.sold)), actions);
          return row;
        }),
      );
      table.hidden = items.length === 0;
    })();
  }

  function poolPage() {
    const table = $("#pool");
    const state = $("#results-state");
    const filter = $("#pool-filter");
    const more = $("#more");
    const product = table.dataset.product;
    const canManage = table.dataset.canManage === "yes";
    const base = `/api/admin/products/${product}/keys`;
    let next = null;

    function keyForm(key, action) {
      const form = element("form", null, "console-form inline");
      form.noValidate = true;
      if (action === "replace") {
        const id = `f-replacement-${key.key_id}`;
        const wrap = element("div", null, "field");
        const label = element("label", t("replacement"));
        label.htmlFor = id;
        const input = document.createElement("input");
        Object.assign(input, { id, name: "content", type: "text", maxLength: 1024, autocomplete: "off" });
        wrap.append(label, input);
        form.appendChild(wrap);
      }
      const button = element("button", t(action), action === "void" ? "secondary" : undefined);
      button.type = "submit";
      button.setAttribute("aria-label", `${t(action)}: ${key.fingerprint}`);
      form.appendChild(button);
      const send = async () => {
        clearErrors(form);
        if (action === "replace" && missing(form, ["content"])) return;
        const sent = action === "replace" ? { content: form.elements.content.value.trim() } : undefined;
        const answer = await api("POST", `${base}/${key.key_id}/${action}`, sent);
        if (stepUp(answer, send)) return;
        if (!answer.ok) return refused(form, answer, action === "replace" ? "content" : null);
        await load();
        result(t(action === "void" ? "voided" : "replaced"));
      };
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        send();
      });
      return form;
    }

    function keyRow(key) {
      const row = document.createElement("tr");
      row.dataset.keyId = key.key_id;
      const fingerprint = element("th", key.fingerprint);
      fingerprint.scope = "row";
      const added = element("td");
      added.append(time(key.created_at));
      const expires = element("td", key.expires_at ? null : "—");
      if (key.expires_at) expires.append(time(key.expires_at));
      row.append(fingerprint, element("td", t("key_" + key.status)), added, expires);
      if (canManage) {
        const actions = element("td", null, "row-actions");
        if (key.status === "available") actions.append(keyForm(key, "void"), keyForm(key, "replace"));
        row.appendChild(actions);
      }
      return row;
    }

    async function load(after) {
      state.textContent = t("loading");
      const query = { limit: "50" };
      if (filter.elements.status.value) query.status = filter.elements.status.value;
      if (after) query.after = after;
      const answer = await api("GET", `${base}?` + new URLSearchParams(query));
      state.textContent = "";
      if (!answer.ok) return failed(answer);
      const items = answer.data.items || [];
      const body = $("tbody", table);
      if (after) body.append(...items.map(keyRow));
      else body.replaceChildren(...items.map(keyRow));
      next = answer.data.next_after;
      more.hidden = !next;
      table.hidden = body.children.length === 0;
      if (!body.children.length) state.textContent = t("no_keys");
    }

    filter.addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    more.addEventListener("click", () => load(next));
    (async () => {
      const answer = await api("GET", `/api/admin/products/${product}`);
      if (answer.ok) $("#pool-title").textContent = answer.data.title;
    })();
    load();
  }

  const pages = { keys: poolsPage, "key-pool": poolPage };
  const run = pages[document.body.dataset.page];
  if (run) run();
})();
