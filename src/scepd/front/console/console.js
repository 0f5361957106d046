// scepd admin console. Everything shown comes from /admin/api/ and is put into the page
// as text (createElement, textContent), never as markup, so a stored name or subject
// cannot run script. The bearer token lives in this tab's sessionStorage only and goes
// out in the Authorization header: never a cookie, never a URL.
"use strict";

(function () {
  const TOKEN_KEY = "scepd.admin.token";
  const MODE_KEY = "scepd.admin.mode"; // "bearer" or "basic"
  const REVOCATION_REASONS = ["unspecified", "keyCompromise", "cACompromise",
    "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold",
    "privilegeWithdrawn", "aACompromise"];
  const VIEWS = ["pending", "certificates", "endentities", "cas", "audit"];

  const $ = (id) => document.getElementById(id);

  // el("td", {class: "x"}, "text", node): children are text or nodes, never markup.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children)
      node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  }

  function when(text) {
    return text ? text.replace("T", " ").replace("Z", " UTC") : "";
  }

  function say(text, error) {
    const status = $("status");
    status.textContent = text || "";
    status.className = error ? "error" : "";
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (sessionStorage.getItem(MODE_KEY) === "bearer")
      headers.Authorization = "Bearer " + (sessionStorage.getItem(TOKEN_KEY) || "");
    const init = { method, headers, cache: "no-store", credentials: "same-origin",
      redirect: "error" };
    if (method !== "GET") {
      // The API takes changes only as application/json (its CSRF defence, with Origin).
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch("/admin/api/" + path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const code = data && data.error ? data.error : "http_" + response.status;
      const message = data && data.message ? data.message : "HTTP " + response.status;
      if (response.status === 401) {
        logout("The credentials were refused: " + message + ".");
      }
      throw new ApiError(response.status, code, message);
    }
    return data;
  }

  // Runs an action, showing what failed instead of throwing into the console; `button`
  // is disabled meanwhile, so one click is one change.
  async function attempt(action, button) {
    if (button) button.disabled = true;
    try {
      await action();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) say(e.message, true);
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ---- login ----------------------------------------------------------------------

  function loggedIn() {
    return sessionStorage.getItem(MODE_KEY) !== null;
  }

  function logout(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(MODE_KEY);
    for (const view of VIEWS) $("view-" + view).hidden = true;
    // Nothing read with the credentials stays in the page after them.
    for (const rows of document.querySelectorAll("tbody")) rows.replaceChildren();
    $("ee-secret-code").textContent = "";
    $("ee-secret").hidden = true;
    $("nav").hidden = true;
    $("login").hidden = false;
    // The next login starts at the pending requests, whoever logs in.
    if (location.hash) history.replaceState(null, "", location.pathname);
    say(message || "", Boolean(message));
  }

  function enter() {
    $("login").hidden = true;
    $("nav").hidden = false;
    show(VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "pending");
  }

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    $("token").value = "";
    if (!token) return;
    sessionStorage.setItem(MODE_KEY, "bearer");
    sessionStorage.setItem(TOKEN_KEY, token);
    say("");
    enter();
  });

  // HTTP Basic: the API's 401 names the Basic scheme, so the browser asks for the user
  // name and password and sends them from then on; the page never sees them.
  $("login-basic").addEventListener("click", () => {
    sessionStorage.setItem(MODE_KEY, "basic");
    sessionStorage.removeItem(TOKEN_KEY);
    say("");
    enter();
  });

  $("logout").addEventListener("click", () => {
    const basic = sessionStorage.getItem(MODE_KEY) === "basic";
    logout(basic ? "Logged out. The browser keeps Basic credentials until it is closed." : "");
  });

  // ---- views ----------------------------------------------------------------------

  const loaders = {};

  // Loads of one view can overlap (a search typed while the list loads); only the newest
  // may fill the table, so rows never change under the pointer to an older answer.
  const tickets = {};
  function ticket(view) {
    const mine = (tickets[view] || 0) + 1;
    tickets[view] = mine;
    return () => tickets[view] === mine;
  }

  function show(view) {
    for (const name of VIEWS) $("view-" + name).hidden = name !== view;
    for (const button of document.querySelectorAll("nav button[data-view]")) {
      if (button.dataset.view === view) button.setAttribute("aria-current", "page");
      else button.removeAttribute("aria-current");
    }
    if (location.hash !== "#" + view) history.replaceState(null, "", "#" + view);
    attempt(loaders[view]);
  }

  for (const button of document.querySelectorAll("nav button[data-view]"))
    button.addEventListener("click", () => {
      say("");
      show(button.dataset.view);
    });
  for (const view of VIEWS) {
    const refresh = $("view-" + view).querySelector("button.refresh");
    if (refresh) refresh.addEventListener("click", () => attempt(loaders[view]));
  }

  // Pending requests: approve, or reject with the reason the client will read.
  loaders.pending = async () => {
    const current = ticket("pending");
    const data = await api("GET", "requests?status=pending&limit=1000");
    if (!current()) return;
    const rows = data.requests.map((request) => {
      const reason = el("input", { type: "text", placeholder: "reason for rejecting",
        "aria-label": "reason for rejecting request " + request.id, maxlength: 512 });
      const approve = el("button", { type: "button", class: "approve",
        "data-request": request.id }, "Approve");
      const reject = el("button", { type: "button", class: "danger",
        "data-request": request.id }, "Reject");
      approve.addEventListener("click", () => attempt(async () => {
        const done = await api("POST", "requests/" + request.id + "/approve");
        say("Request " + request.id + " approved: certificate " + (done.serial || "") +
          " issued; the client receives it at its next poll.");
        await loaders.pending();
      }, approve));
      reject.addEventListener("click", () => attempt(async () => {
        const text = reason.value.trim();
        if (!text) {
          say("Give the reason for rejecting: the client reads it.", true);
          reason.focus();
          return;
        }
        await api("POST", "requests/" + request.id + "/reject", { reason: text });
        say("Request " + request.id + " rejected.");
        await loaders.pending();
      }, reject));
      // Approval issues the names scepd decided, which may differ from the CSR's.
      const decided = request.decided || {};
      const issues = el("td", { class: "decided" }, decided.subject || "");
      for (const san of decided.subjectAltNames || []) issues.append(el("br"), san);
      if (decided.endEntity) issues.append(el("br"), "end entity " + decided.endEntity);
      return el("tr", { "data-request": request.id },
        el("td", {}, request.id),
        el("td", { class: "subject" }, request.subject || ""),
        issues,
        el("td", {}, request.alias || ""),
        el("td", {}, request.client || ""),
        el("td", {}, when(request.received)),
        el("td", {}, when(request.expires)),
        el("td", { class: "actions" }, approve, " ", reason, " ", reject));
    });
    $("pending-rows").replaceChildren(...rows);
    $("pending-empty").hidden = rows.length > 0;
  };

  // Certificates: search by part of the subject or serial; revoke with a reason.
  loaders.certificates = async () => {
    const params = new URLSearchParams({ limit: "200" });
    const text = $("cert-query").value.trim();
    if (text) params.set($("cert-field").value, text);
    if ($("cert-status").value) params.set("status", $("cert-status").value);
    const current = ticket("certificates");
    const data = await api("GET", "certificates?" + params.toString());
    if (!current()) return;
    const rows = data.certificates.map((cert) => {
      let action;
      if (cert.status === "revoked") {
        action = el("span", {}, when(cert.revokedAt) + " " + (cert.revocationReason || ""));
      } else {
        const reason = el("select", { "aria-label": "revocation reason" },
          ...REVOCATION_REASONS.map((name) => el("option", { value: name }, name)));
        const revoke = el("button", { type: "button", class: "danger" }, "Revoke");
        revoke.addEventListener("click", () => attempt(async () => {
          const path = "certificates/" + encodeURIComponent(cert.ca) + "/" +
            encodeURIComponent(cert.serial) + "/revoke";
          const done = await api("POST", path, { reason: reason.value });
          say("Certificate " + cert.serial + " revoked; CRL number " + done.crlNumber + ".");
          await loaders.certificates();
        }, revoke));
        action = el("span", {}, reason, " ", revoke);
      }
      return el("tr", { "data-serial": cert.serial },
        el("td", {}, cert.ca),
        el("td", { class: "serial" }, cert.serial),
        el("td", { class: "subject" }, cert.subject || ""),
        el("td", {}, when(cert.notAfter)),
        el("td", { class: "state-" + cert.status }, cert.status),
        el("td", { class: "actions" }, action));
    });
    $("cert-rows").replaceChildren(...rows);
    $("cert-empty").hidden = rows.length > 0;
  };
  $("cert-search").addEventListener("submit", (event) => {
    event.preventDefault();
    say("");
    attempt(loaders.certificates);
  });

  // A generated code is shown once, here, and forgotten when dismissed.
  function showCode(username, code) {
    $("ee-secret-user").textContent = username;
    $("ee-secret-code").textContent = code;
    $("ee-secret").hidden = false;
  }
  $("ee-secret-done").addEventListener("click", () => {
    $("ee-secret-code").textContent = "";
    $("ee-secret-user").textContent = "";
    $("ee-secret").hidden = true;
  });

  function fillSelect(select, names, first) {
    const current = select.value;
    select.replaceChildren(el("option", { value: "" }, first),
      ...names.map((name) => el("option", { value: name }, name)));
    if (names.includes(current)) select.value = current;
  }

  loaders.endentities = async () => {
    const current = ticket("endentities");
    const [entities, aliases, cas] = await Promise.all([
      api("GET", "endentities?limit=1000"), api("GET", "aliases"), api("GET", "cas")]);
    if (!current()) return;
    fillSelect($("ee-alias"), aliases.aliases.map((a) => a.name), "(default alias)");
    fillSelect($("ee-ca"), cas.cas.map((c) => c.name), "(the alias's CA)");
    const rows = entities.endentities.map((entity) => {
      const reset = el("button", { type: "button" }, "Reset");
      reset.addEventListener("click", () => attempt(async () => {
        const done = await api("POST", "endentities/" + encodeURIComponent(entity.username) +
          "/reset");
        if (done.password) showCode(entity.username, done.password);
        say("End entity " + entity.username + " reset to NEW.");
        await loaders.endentities();
      }, reset));
      return el("tr", {},
        el("td", {}, entity.username),
        el("td", {}, entity.dn || ""),
        el("td", { class: "state-" + (entity.status || "") }, entity.status || ""),
        el("td", {}, entity.alias || ""),
        el("td", {}, entity.ca || ""),
        el("td", {}, when(entity.updated)),
        el("td", { class: "actions" }, reset));
    });
    $("ee-rows").replaceChildren(...rows);
  };
  $("ee-add").addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      const body = { username: $("ee-username").value.trim(), dn: $("ee-dn").value.trim() };
      const sans = $("ee-san").value.split(",").map((s) => s.trim()).filter((s) => s);
      if (sans.length) body.san = sans;
      if ($("ee-alias").value) body.alias = $("ee-alias").value;
      if ($("ee-ca").value) body.ca = $("ee-ca").value;
      const done = await api("POST", "endentities", body);
      if (done.password) showCode(done.username, done.password);
      $("ee-username").value = "";
      $("ee-dn").value = "";
      $("ee-san").value = "";
      say("End entity " + done.username + " added.");
      await loaders.endentities();
    });
  });

  // CAs: validity, a rollover under way (RFC 8894 §4.7's next CA), the current CRL.
  loaders.cas = async () => {
    const current = ticket("cas");
    const data = await api("GET", "cas");
    if (!current()) return;
    const rows = data.cas.map((ca) => {
      let rollover = "none";
      if (ca.next) {
        rollover = "next: " + (ca.next.subject || "") +
          (ca.next.activates ? ", activates " + when(ca.next.activates) : ", not scheduled") +
          (ca.next.hasKey ? "" : " (no key yet)");
      }
      return el("tr", {},
        el("td", {}, ca.name),
        el("td", {}, ca.subject || ""),
        el("td", {}, when(ca.notAfter)),
        el("td", {}, rollover),
        el("td", {}, ca.crl ? ca.crl.number : ca.crlNumber),
        el("td", {}, ca.crl ? when(ca.crl.nextUpdate) : "no CRL yet"));
    });
    $("ca-rows").replaceChildren(...rows);
  };

  // Audit: the newest events, then older pages from the cursor the API returns.
  let auditCursor = null;
  function auditRows(events) {
    return events.map((event) => el("tr", {},
      el("td", {}, event.id),
      el("td", {}, when(event.time)),
      el("td", {}, event.actor || ""),
      el("td", {}, event.action || ""),
      el("td", {}, event.alias || ""),
      el("td", {}, event.outcome || ""),
      el("td", {}, event.detail || "")));
  }
  async function auditPage(append) {
    const cursor = append && auditCursor ? "&cursor=" + encodeURIComponent(auditCursor) : "";
    const current = ticket("audit");
    const data = await api("GET", "audit?limit=50" + cursor);
    if (!current()) return;
    if (append) $("audit-rows").append(...auditRows(data.events));
    else $("audit-rows").replaceChildren(...auditRows(data.events));
    auditCursor = data.nextCursor === undefined ? null : String(data.nextCursor);
    $("audit-more").hidden = auditCursor === null;
  }
  loaders.audit = () => auditPage(false);
  $("audit-more").addEventListener("click", () => attempt(() => auditPage(true)));

  if (loggedIn()) enter();
  else logout("");
})();
