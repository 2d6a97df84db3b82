// The chat page: one WebSocket to /ws, whose frames are documented in
// runtime/platforms/web/_frames.py. No build step and no dependencies: the page's
// Content-Security-Policy allows only this script, this stylesheet and data: images.
//
// Safety rule: text from the user or the bot is inserted with textContent, never as HTML.
// The only HTML inserted is the `html` field of markdown and HTML replies, which the server
// has sanitised (nh3).
"use strict";

const TOKEN_KEY = "runtime-chat-token";
const MAX_BACKOFF_MS = 30000;
const NOTICE_MS = 6000;

const $ = (id) => document.getElementById(id);
const scroller = $("scroller");
const list = $("messages");
const typing = $("typing");
const notice = $("notice");
const statusLine = $("status");
const form = $("composer");
const input = $("text");
const fileInput = $("file-input");

let socket = null;
let ready = false; // the server answered this connection with a `session` frame
let attempts = 0; // reconnections since the last `session` frame, for the backoff
let reconnectTimer = null;
let serverTyping = false;
let noticeTimer = null;
let blobUrls = [];

// Frames sent, or waiting to be sent, whose turn has not answered yet, by id, oldest first.
// An entry is {frame, item, acked}: `item` is the user's bubble; `acked` means the server
// took the frame, so its turn will reach this page (as replies, or in a resumed history).
const outbox = new Map();

// -- small helpers ------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  // randomUUID exists only on secure origins (https, localhost); a LAN address is not one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// localStorage throws when storage is disabled: the chat then just does not survive a reload.
function loadToken() {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function saveToken(token) {
  try {
    if (token === null) localStorage.removeItem(TOKEN_KEY);
    else localStorage.setItem(TOKEN_KEY, token);
  } catch {
    // see loadToken
  }
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function base64Bytes(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function isFileContent(content) {
  return (
    content !== null &&
    typeof content === "object" &&
    typeof content.name === "string" &&
    typeof content.base64 === "string"
  );
}

// -- the message list -----------------------------------------------------------------------

function nearBottom() {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
}

function scrollToEnd() {
  scroller.scrollTop = scroller.scrollHeight;
}

// Append a list item, following the conversation unless the reader scrolled up to read.
function append(item, follow) {
  const stick = follow || nearBottom();
  list.append(item);
  if (stick) scrollToEnd();
}

function messageItem(sender, content) {
  const item = el("li", `msg ${sender}`);
  item.append(el("span", "visually-hidden", sender === "user" ? "You: " : "Bot: "), content);
  return item;
}

function clearMessages() {
  list.replaceChildren();
  for (const url of blobUrls) URL.revokeObjectURL(url);
  blobUrls = [];
}

// Options answer the latest bot turn only: once the user says something, older ones go grey.
function disableOptions() {
  for (const button of list.querySelectorAll("button.option:not(:disabled)")) {
    button.disabled = true;
  }
}

function addUserText(text) {
  disableOptions();
  const item = messageItem("user", el("div", "bubble", text));
  append(item, true);
  return item;
}

function addBotReply(reply) {
  const content = renderReply(reply);
  const item = messageItem("bot", content);
  if (content.classList.contains("options")) item.classList.add("has-options");
  append(item, false);
}

// -- rendering replies ({kind, text, content?, html?}) --------------------------------------

function renderReply(reply) {
  const content = reply.content;
  switch (reply.kind) {
    case "markdown":
    case "html":
      if (typeof reply.html === "string") return richBubble(reply.html);
      break;
    case "options":
      if (Array.isArray(content) && content.length) return optionButtons(content);
      break;
    case "file":
      if (isFileContent(content)) return fileBubble(content);
      break;
    case "image":
      if (isFileContent(content) && /^image\/[\w.+-]+$/.test(content.type)) {
        return imageBubble(content);
      }
      break;
    case "location":
      if (content && Number.isFinite(content.latitude) && Number.isFinite(content.longitude)) {
        return locationBubble(content.latitude, content.longitude);
      }
      break;
    case "json": {
      const bubble = el("div", "bubble json");
      bubble.append(el("pre", null, JSON.stringify(content, null, 2)));
      return bubble;
    }
  }
  return el("div", "bubble", String(reply.text ?? "")); // text, or a kind this page does not know
}

function richBubble(html) {
  const bubble = el("div", "bubble rich");
  bubble.innerHTML = html; // sanitised by the server: see the top of this file
  for (const link of bubble.querySelectorAll("a[href]")) {
    link.target = "_blank"; // leaving the page would drop the conversation's connection
  }
  return bubble;
}

function optionButtons(options) {
  const group = el("div", "options");
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", "Choose an answer");
  for (const option of options) {
    const text = String(option);
    const button = el("button", "option", text);
    button.type = "button";
    button.addEventListener("click", () => {
      button.classList.add("chosen");
      sendText(text);
    });
    group.append(button);
  }
  return group;
}

function fileBubble(content) {
  const bubble = el("div", "bubble file");
  let bytes;
  try {
    bytes = base64Bytes(content.base64);
  } catch {
    bubble.textContent = `${content.name} (unreadable file)`;
    return bubble;
  }
  // The CSP allows data: URLs for images only: downloads go through a Blob URL. Its type is
  // never the sender's (text/html would open as a page of this origin): always a download.
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  blobUrls.push(url);
  const link = el("a", "download", content.name);
  link.href = url;
  link.download = content.name;
  bubble.append(link, el("span", "meta", formatSize(bytes.length)));
  return bubble;
}

function imageBubble(content) {
  const bubble = el("div", "bubble image");
  const image = el("img");
  image.alt = content.name;
  image.addEventListener("load", () => {
    if (nearBottom() || list.lastElementChild?.contains(image)) scrollToEnd();
  });
  image.src = `data:${content.type};base64,${content.base64}`;
  bubble.append(image);
  return bubble;
}

function locationBubble(latitude, longitude) {
  const bubble = el("div", "bubble location");
  const link = el("a", null, "Open in OpenStreetMap");
  const at = `${latitude}/${longitude}`;
  link.href = `https://www.openstreetmap.org/?mlat=${latitude}&mlon=${longitude}#map=16/${at}`;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  bubble.append(el("span", "coordinates", `${latitude}, ${longitude}`), link);
  return bubble;
}

// -- sending --------------------------------------------------------------------------------

function sendRaw(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

// Give the frame an id and keep it until its turn answers; it goes out now if the session is
// ready, else when it is (see onSession).
function send(frame, item) {
  frame.id = newId();
  outbox.set(frame.id, { frame, item, acked: false });
  if (ready) sendRaw(frame);
}

// Send every frame the server has not acknowledged. Resending one it did take is harmless:
// the server answers a known id from its store instead of running the bot again.
function flushOutbox() {
  if (!ready) return;
  for (const entry of outbox.values()) {
    if (!entry.acked) sendRaw(entry.frame);
  }
}

function sendText(text) {
  const trimmed = text.trim();
  if (!trimmed) return;
  send({ type: "message", text: trimmed }, addUserText(trimmed));
}

function sendFile(file) {
  const reader = new FileReader();
  reader.addEventListener("load", () => {
    const dataUrl = String(reader.result);
    const base64 = dataUrl.slice(dataUrl.indexOf(",") + 1);
    disableOptions();
    const bubble = el("div", "bubble upload");
    if (/^image\/[\w.+-]+$/.test(file.type)) {
      const preview = el("img");
      preview.alt = "";
      preview.src = dataUrl;
      bubble.append(preview);
    }
    bubble.append(el("span", "file-name", file.name), el("span", "meta", formatSize(file.size)));
    const item = messageItem("user", bubble);
    append(item, true);
    send({ type: "file", file: { name: file.name, type: file.type || null, base64 } }, item);
  });
  reader.addEventListener("error", () => showNotice(`Could not read ${file.name}.`));
  reader.readAsDataURL(file);
}

// -- status, typing and notices -----------------------------------------------------------------

function setStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
}

// Typing: while the server says so, and while an accepted message waits for its replies.
function updateTyping() {
  let waiting = serverTyping;
  for (const entry of outbox.values()) waiting ||= entry.acked;
  const stick = nearBottom();
  typing.hidden = !waiting;
  if (waiting && stick) scrollToEnd();
}

function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (notice.hidden = true), NOTICE_MS);
}

// -- the connection ---------------------------------------------------------------------------

function connect() {
  reconnectTimer = null;
  ready = false;
  setStatus("connecting", "Connecting…");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/ws`);
  socket = ws;
  // Resume first on every connection: the server answers with the session and its history.
  ws.addEventListener("open", () => sendRaw({ type: "resume", token: loadToken() }));
  ws.addEventListener("message", (event) => {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    onFrame(frame);
  });
  ws.addEventListener("close", () => {
    if (socket === ws) scheduleReconnect();
  });
}

function scheduleReconnect() {
  ready = false;
  serverTyping = false;
  updateTyping();
  // Exponential backoff with jitter, so a restarted server is not hit by every page at once.
  const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempts) * (0.5 + Math.random() / 2);
  attempts += 1;
  setStatus("offline", `Offline, reconnecting in ${Math.ceil(delay / 1000)} s…`);
  reconnectTimer = setTimeout(connect, delay);
}

function reconnectNow() {
  if (reconnectTimer === null) return;
  clearTimeout(reconnectTimer);
  connect();
}

function onFrame(frame) {
  switch (frame.type) {
    case "session":
      onSession(frame);
      break;
    case "ack": {
      const entry = outbox.get(frame.in_reply_to);
      if (entry) entry.acked = true;
      updateTyping();
      break;
    }
    case "typing":
      serverTyping = Boolean(frame.on);
      updateTyping();
      break;
    case "replies":
      onReplies(frame);
      break;
    case "error":
      onError(frame);
      break;
  }
}

function onSession(frame) {
  saveToken(frame.token);
  attempts = 0;
  ready = true;
  serverTyping = false;
  setStatus("online", "Online");
  // The history is the whole conversation so far: render it afresh.
  list.setAttribute("aria-busy", "true");
  clearMessages();
  for (const entry of frame.history || []) {
    if (entry.sender === "user") addUserText(String(entry.reply.text));
    else addBotReply(entry.reply);
  }
  for (const [id, entry] of outbox) {
    if (entry.acked) {
      // Taken by the server: its turn is in this history or its replies are on the way.
      outbox.delete(id);
    } else {
      disableOptions();
      list.append(entry.item);
    }
  }
  list.removeAttribute("aria-busy");
  scrollToEnd();
  updateTyping();
  flushOutbox();
}

function onReplies(frame) {
  const id = frame.in_reply_to;
  if (id !== null && id !== undefined) {
    // A known id answered twice (a frame resent while its first copy was in flight): once is enough.
    if (!outbox.delete(id)) return;
  }
  for (const reply of frame.replies || []) addBotReply(reply);
  updateTyping();
}

function onError(frame) {
  const entry = frame.in_reply_to ? outbox.get(frame.in_reply_to) : undefined;
  if (frame.code === "bad_token") {
    // Not a token of this server (its key changed): start a new conversation.
    saveToken(null);
    sendRaw({ type: "resume", token: null });
    return;
  }
  if (frame.code === "rate_limited" || frame.code === "overloaded") {
    // Nothing of the frame was kept: send it again later, under the same id.
    if (entry) entry.acked = false;
    const seconds = Number(frame.retry_after) || 1;
    setTimeout(flushOutbox, seconds * 1000);
    showNotice(`The server is busy; trying again in ${Math.ceil(seconds)} s.`);
  } else if (frame.code === "shutting_down") {
    if (entry) entry.acked = false; // resent after the reconnection
    showNotice("The server is restarting; your message will be sent again.");
  } else {
    if (entry) {
      outbox.delete(frame.in_reply_to);
      entry.item.classList.add("failed");
      entry.item.append(el("span", "failure", "Not delivered"));
    }
    showNotice(frame.message || "Something went wrong.");
  }
  updateTyping();
}

// -- wiring -------------------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  sendText(input.value);
  input.value = "";
  input.focus();
});

input.addEventListener("keydown", (event) => {
  // Enter sends, Shift+Enter starts a new line; an IME composing text keeps its Enter.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

$("attach").addEventListener("click", () => fileInput.click());
fileInput.addEventListener("change", () => {
  for (const file of fileInput.files) sendFile(file);
  fileInput.value = ""; // the same file can be chosen again
});

notice.addEventListener("click", () => (notice.hidden = true));
window.addEventListener("online", reconnectNow);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") reconnectNow();
});

// The bot's name for the title: /health says it.
fetch("/health")
  .then((response) => response.json())
  .then((health) => {
    if (typeof health.bot === "string" && health.bot) {
      $("title").textContent = health.bot;
      document.title = health.bot;
    }
  })
  .catch(() => {});

connect();
