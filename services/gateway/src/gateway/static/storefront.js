// The storefront's little script: local times, the order page's live status, copy buttons, the orders
// opened in this browser. Every page works without it.
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;
  var RECENT_KEY = "faka.recent:" + (document.querySelector("base") || { href: "/" }).href;
  var RECENT_MAX = 10;

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      el.textContent = when.toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
      el.title = el.getAttribute("datetime");
    });
  }

  function copyButtons(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (button) {
      var label = button.textContent;
      button.addEventListener("click", function () {
        var text = button.getAttribute("data-copy");
        var done = function (ok) {
          button.textContent = button.getAttribute(ok ? "data-copied" : "data-failed");
          if (!ok) selectKey(button);
          setTimeout(function () { button.textContent = label; }, 2000);
        };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
        } else {
          done(false);
        }
      });
    });
  }

  function selectKey(button) {
    var key = button.parentNode.querySelector(".key");
    if (!key || !window.getSelection) return;
    var range = document.createRange();
    range.selectNodeContents(key);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function readRecent() {
    try {
      var list = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
      return Array.isArray(list) ? list : [];
    } catch (e) {
      return [];
    }
  }

  function remember(block) {
    var entry = {
      no: block.getAttribute("data-order-no"),
      title: block.getAttribute("data-title"),
      href: location.pathname + location.search,
      at: new Date().toISOString()
    };
    if (!entry.no || !/[?&](token|password)=/.test(location.search)) return;
    var list = readRecent().filter(function (item) { return item.no !== entry.no; });
    list.unshift(entry);
    try { localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX))); } catch (e) { /* full or off */ }
  }

  function showRecent() {
    var list = readRecent();
    document.querySelectorAll("[data-recent]").forEach(function (box) {
      var ul = box.querySelector("[data-recent-list]");
      ul.textContent = "";
      list.forEach(function (item) {
        if (typeof item.href !== "string" || item.href.charAt(0) !== "/" || item.href.charAt(1) === "/") return;
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = item.href;
        a.textContent = item.no + (item.title ? " · " + item.title : "");
        li.appendChild(a);
        ul.appendChild(li);
      });
      box.hidden = ul.children.length === 0;
      var forget = box.querySelector("[data-recent-forget]");
      if (forget) forget.onclick = function () { localStorage.removeItem(RECENT_KEY); showRecent(); };
    });
  }

  function countdown(root) {
    var el = root.querySelector("time[data-countdown]");
    if (!el) return;
    var end = new Date(el.getAttribute("datetime")).getTime();
    var out = document.createElement("span");
    out.className = "muted";
    el.after(" ", out);
    (function tick() {
      if (!document.body.contains(el)) return;
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      out.textContent = "(" + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") + ")";
      if (left > 0) setTimeout(tick, 1000);
    })();
  }

  function prepare(root) {
    localTimes(root);
    copyButtons(root);
    countdown(root);
  }

  // The order page follows its event stream: when the stream shows another status than the page, the
  // page's status block is fetched again and swapped in place (no reload; the keys appear where they go).
  function follow() {
    var block = document.getElementById("order");
    if (!block) return;
    remember(block);
    var events = block.getAttribute("data-events");
    if (!events || !window.EventSource || !window.fetch) return;
    var stream = new EventSource(events);
    var latest = block.getAttribute("data-status");
    var busy = false;

    function swap() {
      if (busy) return;
      busy = true;
      fetch(location.href, { cache: "no-store", credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.text() : Promise.reject(answer.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("order");
          var current = document.getElementById("order");
          if (!fresh || !current) return;
          // the block itself stays (a screen reader follows its aria-live); its content and state change
          ["class", "data-status", "data-events"].forEach(function (name) {
            if (fresh.hasAttribute(name)) current.setAttribute(name, fresh.getAttribute(name));
            else current.removeAttribute(name);
          });
          current.innerHTML = fresh.innerHTML;
          prepare(current);
          if (!current.getAttribute("data-events")) stream.close();
        })
        .catch(function () { /* the stream's next change tries again */ })
        .then(function () {
          busy = false;
          var shown = document.getElementById("order").getAttribute("data-status");
          if (latest !== shown && stream.readyState !== 2) swap();
        });
    }

    stream.addEventListener("order", function (message) {
      latest = JSON.parse(message.data).status;
      if (latest !== document.getElementById("order").getAttribute("data-status")) swap();
    });
    stream.addEventListener("error", function () {
      if (stream.readyState === 2) swap();
    });
  }

  function leadingZeroBits(bytes) {
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      var b = bytes[i];
      if (b === 0) { bits += 8; continue; }
      while (!(b & 0x80)) { bits++; b <<= 1; }
      break;
    }
    return bits;
  }

  // A checkout the shop's risk rules challenge comes back with a proof of work to do: the script finds a
  // nonce whose SHA-256 of "<challenge>:<nonce>" starts with the asked zero bits, then sends the form again,
  // so the buyer only waits.
  function solveChallenge() {
    var form = document.querySelector("form[data-challenge]");
    if (!form || !window.crypto || !crypto.subtle || !window.TextEncoder) return;
    var token = form.getAttribute("data-challenge");
    var bits = parseInt(form.getAttribute("data-difficulty"), 10);
    var encoder = new TextEncoder();
    var next = 0;
    var BATCH = 512;
    form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });

    function batch() {
      var first = next;
      var tries = [];
      next += BATCH;
      for (var n = first; n < next; n++) {
        tries.push(crypto.subtle.digest("SHA-256", encoder.encode(token + ":" + n)));
      }
      return Promise.all(tries).then(function (digests) {
        for (var i = 0; i < digests.length; i++) {
          if (leadingZeroBits(new Uint8Array(digests[i])) >= bits) return String(first + i);
        }
        return batch();
      });
    }

    batch().then(function (nonce) {
      form.querySelector("input[name=challenge_nonce]").value = nonce;
      form.submit();
    });
  }

  // The checkout's device id: a random id this browser keeps in localStorage and sends with every order,
  // for the shop's risk rules (lists, orders per device). It names a browser profile, not a device: clearing
  // the site's data or another profile makes a new one, and a script can send any id it likes, so risk
  // takes it as one signal among others. Without storage (blocked, private) nothing is sent.
  var DEVICE_KEY = "faka.device";

  function deviceId() {
    try {
      var id = localStorage.getItem(DEVICE_KEY);
      if (id && /^[A-Za-z0-9_-]{16,64}$/.test(id)) return id;
      var bytes = crypto.getRandomValues(new Uint8Array(16));
      id = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
      localStorage.setItem(DEVICE_KEY, id);
      return id;
    } catch (e) {
      return "";
    }
  }

  function fillDeviceId() {
    var inputs = document.querySelectorAll("form input[name=device_id]");
    if (!inputs.length || !window.crypto || !crypto.getRandomValues) return;
    var id = deviceId();
    inputs.forEach(function (input) { input.value = id; });
  }

  // A checkout that asks for a captcha: the buyer types the image's characters, starting in that field.
  function focusCaptcha() {
    var input = document.querySelector("form[data-captcha] input[name=challenge_answer]");
    if (input) input.focus();
  }

  function start() {
    prepare(document);
    fillDeviceId();
    follow();
    showRecent();
    solveChallenge();
    focusCaptcha();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
