/* cxprism web chat widget. Embed with:
 *   <script src="https://cx.example.com/chat/widget.js" data-channel="CHANNEL_ID" async></script>
 * It joins the visitor to the anonymousId of a Segment-style analytics SDK on the page, so
 * the chat lands on the same customer timeline as their browsing. Text is always shown as
 * text (textContent), never parsed as markup.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__cxprismChat) { return; }
  window.__cxprismChat = true;
  var channel = script.getAttribute("data-channel");
  var server = new URL(script.src).origin;
  var storeKey = "cxprism_chat_" + channel;
  var state = { token: null, socket: null, retry: 0, pending: {}, open: false, greeting: null };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function anonymousId() {
    try {
      if (window.analytics && window.analytics.user) { return window.analytics.user().anonymousId(); }
    } catch (e) { /* no SDK: fall through */ }
    try {
      var stored = localStorage.getItem("ajs_anonymous_id");
      if (stored) { return JSON.parse(stored); }
    } catch (e) { /* not JSON */ }
    var match = document.cookie.match(/(?:^|; )ajs_anonymous_id=([^;]*)/);
    return match ? decodeURIComponent(match[1]).replace(/^"|"$/g, "") : null;
  }

  var root = el("div", { "class": "cxprism-chat", "data-testid": "cxprism-chat" });
  var launcher = el("button", { "type": "button", "class": "cxprism-chat-launcher",
                                "aria-label": "Chat with us" }, "Chat");
  var panel = el("section", { "class": "cxprism-chat-panel", "hidden": "" });
  var log = el("ol", { "class": "cxprism-chat-log", "aria-live": "polite" });
  var form = el("form", { "class": "cxprism-chat-form" });
  var input = el("input", { "type": "text", "maxlength": "5000", "aria-label": "Your message",
                            "placeholder": "Type a message" });
  var send = el("button", { "type": "submit" }, "Send");
  var emailForm = el("form", { "class": "cxprism-chat-email" });
  var emailInput = el("input", { "type": "email", "aria-label": "Your email",
                                 "placeholder": "Email, so we can reply if you leave" });
  var status = el("p", { "class": "cxprism-chat-status", "role": "status" });
  form.appendChild(input); form.appendChild(send);
  emailForm.appendChild(emailInput); emailForm.appendChild(el("button", { "type": "submit" }, "Save"));
  panel.appendChild(log); panel.appendChild(status); panel.appendChild(form); panel.appendChild(emailForm);
  root.appendChild(panel); root.appendChild(launcher);
  var style = el("style", {}, ".cxprism-chat{position:fixed;right:16px;bottom:16px;font:14px system-ui;z-index:2147483000}" +
    ".cxprism-chat-panel{width:320px;max-height:440px;display:flex;flex-direction:column;background:#fff;border:1px solid #ccd;border-radius:8px;margin-bottom:8px}" +
    ".cxprism-chat-log{list-style:none;margin:0;padding:8px;overflow-y:auto;flex:1}" +
    ".cxprism-chat-log li{margin:4px 0;padding:6px 8px;border-radius:6px;white-space:pre-wrap;word-wrap:break-word}" +
    ".cxprism-chat-log li.inbound{background:#e8f0fe;margin-left:32px}.cxprism-chat-log li.outbound{background:#f1f3f4;margin-right:32px}" +
    ".cxprism-chat-log li.pending{opacity:.6}.cxprism-chat form{display:flex;gap:4px;padding:6px}.cxprism-chat input{flex:1}");
  document.head.appendChild(style);

  function show(message) {
    var item = el("li", { "class": message.direction, "data-id": message.id || "" }, message.text);
    if (message.pending) { item.classList.add("pending"); }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function post(path, body) {
    return fetch(server + path, { method: "POST", headers: { "content-type": "application/json" },
                                  body: JSON.stringify(body), credentials: "omit" })
      .then(function (r) { if (!r.ok) { throw new Error("chat unavailable (" + r.status + ")"); } return r.json(); });
  }

  function startSession() {
    var saved = null;
    try { saved = localStorage.getItem(storeKey); } catch (e) { /* storage blocked */ }
    return post("/chat/" + channel + "/sessions", { token: saved, anonymous_id: anonymousId() })
      .then(function (body) {
        state.token = body.token;
        try { localStorage.setItem(storeKey, body.token); } catch (e) { /* storage blocked */ }
        state.greeting = body.greeting || null;
      });
  }

  function connect() {
    var url = server.replace(/^http/, "ws") + "/chat/" + channel + "/ws?token=" + encodeURIComponent(state.token);
    var socket = new WebSocket(url);
    state.socket = socket;
    socket.onopen = function () { state.retry = 0; status.textContent = ""; };
    socket.onmessage = function (event) { receive(JSON.parse(event.data)); };
    socket.onclose = function (event) {
      state.socket = null;
      if (event.code === 4401) { state.token = null; }
      var delay = Math.min(30000, 500 * Math.pow(2, state.retry++));
      status.textContent = "Reconnecting…";
      setTimeout(function () { (state.token ? Promise.resolve() : startSession()).then(connect); }, delay);
    };
  }

  function receive(frame) {
    if (frame.type === "history") {
      while (log.firstChild) { log.removeChild(log.firstChild); }
      if (state.greeting) { show({ direction: "outbound", text: state.greeting }); }
      frame.messages.forEach(show);
    } else if (frame.type === "message") {
      show(frame);
    } else if (frame.type === "ack" && state.pending[frame.client_id]) {
      state.pending[frame.client_id].classList.remove("pending");
      delete state.pending[frame.client_id];
    } else if (frame.type === "error") {
      status.textContent = frame.message;
    } else if (frame.type === "identified") {
      status.textContent = "Thanks, we will reply by email if you leave.";
    }
  }

  function transmit(frame) {
    if (!state.socket || state.socket.readyState !== 1) { status.textContent = "Not connected yet."; return false; }
    state.socket.send(JSON.stringify(frame));
    return true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    var clientId = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
    if (transmit({ type: "message", client_id: clientId, text: text })) {
      state.pending[clientId] = show({ direction: "inbound", text: text, pending: true });
      input.value = "";
    }
  });
  emailForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (emailInput.value) { transmit({ type: "identify", email: emailInput.value }); }
  });
  launcher.addEventListener("click", function () {
    state.open = !state.open;
    panel.hidden = !state.open;
    if (state.open && !state.socket) {
      startSession().then(connect).catch(function (e) { status.textContent = e.message; });
    }
    if (state.open) { input.focus(); }
  });
  document.body.appendChild(root);
})();
