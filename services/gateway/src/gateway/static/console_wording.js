// The shop's wording of its buyers' e-mails (Settings, Notifications): pick an e-mail and a language, edit
// its subject and text from the shop's own or the platform's, preview it with sample data, save it or go
// back to the platform's. Over /api/admin/notification-templates with console.js's helpers; a refusal that
// names the subject or the text shows next to that field. Rendered with textContent only.
(() => {
  "use strict";
  const ui = window.fakaConsole;
  const section = document.getElementById("wording");
  if (!ui || !section) return;
  const { api, clearErrors, fieldError, formError, result } = ui;
  const say = section.dataset;
  const form = document.getElementById("wording-form");
  const { wording: choice, subject, body } = form.elements;
  const shown = document.getElementById("wording-shown");
  let entries = new Map();

  const path = () => `/api/admin/notification-templates/${choice.value}`;
  const sent = () => ({ subject: subject.value, body: body.value });

  function show() {
    const entry = entries.get(choice.value);
    if (!entry) return;
    const wording = entry.own || entry.default;
    subject.value = wording.subject;
    body.value = wording.body;
    document.getElementById("wording-state").textContent = entry.own
      ? say.own.replace("%(who)s", entry.own.updated_by)
      : say.default;
    const hint = [say.placeholders, entry.placeholders.join(", ")];
    if (entry.marker) hint.push("·", say.marker, entry.marker);
    document.getElementById("h-f-body").textContent = hint.join(" ");
    shown.hidden = true;
  }

  // "body: line 3: …" goes next to the text, "subject: …" next to the subject; a malformed body's details
  // name their field; anything else above the form
  function refused(answer) {
    const message = answer.data.message || "";
    const named = /^(subject|body):/.exec(message);
    if (named && fieldError(form, named[1], message)) return;
    for (const detail of answer.data.details || []) {
      const name = (detail.loc || []).slice(-1)[0];
      if ((name === "subject" || name === "body") && fieldError(form, name, detail.msg)) return;
    }
    formError(`${say.failed} ${message || answer.status}`);
  }

  async function load() {
    const answer = await api("GET", "/api/admin/notification-templates");
    if (!answer.ok) return refused(answer);
    entries = new Map(answer.data.items.map((item) => [`${item.template}/${item.language}`, item]));
    show();
    form.setAttribute("aria-busy", "false");
  }

  choice.addEventListener("change", () => {
    clearErrors(form);
    show();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const answer = await api("PUT", path(), sent());
    if (!answer.ok) return refused(answer);
    entries.set(choice.value, answer.data);
    show();
    result(say.saved);
  });
  document.getElementById("wording-preview")?.addEventListener("click", async () => {
    clearErrors(form);
    const answer = await api("POST", `${path()}/preview`, sent());
    if (!answer.ok) return refused(answer);
    document.getElementById("preview-subject").textContent = answer.data.subject;
    document.getElementById("preview-text").textContent = answer.data.text;
    shown.hidden = false;
  });
  document.getElementById("wording-reset")?.addEventListener("click", async () => {
    clearErrors(form);
    const answer = await api("DELETE", path());
    if (!answer.ok) return refused(answer);
    entries.set(choice.value, answer.data);
    show();
    result(say.reset);
  });
  load();
})();
