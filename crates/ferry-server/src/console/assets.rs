//! The console's style sheet and script, embedded (no front-end build).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

pub(crate) async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

pub(crate) async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

const CSS: &str = r#":root {
  --bg: #f5f6f8; --fg: #1c2230; --muted: #6a7282; --line: #dfe3e9; --card: #fff; --accent: #2f6fdb;
  --ok: #17804a; --ok-bg: #e2f4ea; --bad: #c22f2f; --bad-bg: #fbe5e5; --run: #2458c2; --run-bg: #e3ecfb;
  --wait: #86641a; --wait-bg: #fbf1dc; --skip: #8a919d; --skip-bg: #f1f2f4;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .92em; }
header.top { display: flex; align-items: center; gap: 1.5rem; padding: .55rem 1.5rem; background: #1c2230; color: #fff; }
header.top a { color: #c9d2e3; }
header.top a:hover { color: #fff; text-decoration: none; }
header.top .brand { font-weight: 700; font-size: 1.1rem; color: #fff; letter-spacing: .03em; }
header.top nav { display: flex; gap: 1.1rem; flex: 1; }
header.top .who { color: #9aa4b8; font-size: .9em; }
header.top form { margin: 0; }
main { max-width: 1440px; margin: 0 auto; padding: 1.4rem 1.5rem 3rem; }
h1 { font-size: 1.45rem; margin: .1rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .7rem; }
h3 { font-size: 1rem; margin: 0 0 .6rem; }
h4 { font-size: .95rem; margin: 1rem 0 .4rem; }
.crumbs { margin: 0; color: var(--muted); font-size: .9em; }
.muted { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.2rem; margin-bottom: 1rem; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .42rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { font-size: .75rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); background: #fafbfc; white-space: nowrap; }
table.list, table.grid { border: 1px solid var(--line); border-radius: 8px; margin-bottom: 1rem; }
.stages { display: flex; gap: .75rem; overflow-x: auto; align-items: flex-start; margin-bottom: 1rem; }
.stages .stage { min-width: 14rem; flex: 1 0 14rem; }
.stages .stage h3 { margin-top: 0; }
.stages ul.actions { list-style: none; padding: 0; margin: 0; }
.stages ul.actions li { padding: .4rem 0; border-top: 1px solid var(--line); }
.stages .detail { font-size: .85rem; color: var(--muted, #666); }
form.inline { display: inline-block; margin: .25rem 0; }
table.facts { width: auto; min-width: 50%; }
table.facts th { width: 13rem; color: var(--muted); font-weight: 500; }
table.facts td, table.facts th { border: 0; padding: .22rem .6rem .22rem 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
caption { text-align: left; font-weight: 600; padding: .5rem .6rem; }
.st { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .78rem; font-weight: 600; background: var(--skip-bg); color: #4b5262; white-space: nowrap; }
.st-succeeded { background: var(--ok-bg); color: var(--ok); }
.st-failed { background: var(--bad-bg); color: var(--bad); }
.st-inprogress, .st-baking { background: var(--run-bg); color: var(--run); }
.st-ready, .st-queued, .st-created { background: var(--wait-bg); color: var(--wait); }
.st-stopped { background: #fde9dc; color: #a4470f; }
.st-skipped, .st-unknown, .st-pending { background: var(--skip-bg); color: var(--skip); }
table.grid thead th { text-transform: none; letter-spacing: 0; font-size: .78rem; }
td.ev { min-width: 6.4rem; font-size: .82rem; border-left: 1px solid #fff; }
td.ev .ev-status { display: block; font-weight: 600; }
td.ev .ev-time { display: block; color: inherit; opacity: .8; font-variant-numeric: tabular-nums; }
td.ev .ev-error { display: block; font-weight: 700; }
td.ev.st-inprogress { animation: pulse 1.6s ease-in-out infinite; }
@keyframes pulse { 50% { background: #cfdef8; } }
.label { display: inline-block; font-size: .72rem; padding: 0 .4rem; border-radius: 4px; background: var(--skip-bg); color: var(--muted); }
.label-green { background: var(--ok-bg); color: var(--ok); }
.label-blue { background: var(--run-bg); color: var(--run); }
.health-healthy { color: var(--ok); font-weight: 600; }
.health-unhealthy { color: var(--bad); font-weight: 600; }
.health-unknown { color: var(--muted); }
meter { width: 5rem; vertical-align: middle; }
.status-line { display: flex; align-items: center; gap: .8rem; flex-wrap: wrap; }
.status-line .st { font-size: .9rem; padding: .15rem .8rem; }
.livebadge { display: none; font-size: .72rem; color: var(--ok); font-weight: 600; }
.livebadge::before { content: "● "; }
.connected .livebadge { display: inline; }
.overview { display: flex; gap: .5rem; flex-wrap: wrap; margin: .8rem 0 0; }
.count { padding: .1rem .55rem; border-radius: 6px; font-size: .85rem; }
.bluegreen { margin-top: .8rem; padding: .5rem .7rem; border-radius: 6px; background: #f2f6fd; }
.error-box { background: var(--bad-bg); color: #7f1d1d; padding: .5rem .7rem; border-radius: 6px; margin: .8rem 0 0; }
.actions { display: flex; gap: .5rem; flex-wrap: wrap; margin-top: 1rem; }
.actions form { margin: 0; }
.btn { display: inline-block; border: 1px solid var(--line); background: #fff; color: var(--fg); padding: .38rem .85rem; border-radius: 6px; cursor: pointer; font: inherit; }
.btn:hover { border-color: #b9c1cd; text-decoration: none; }
.btn.small { padding: .15rem .6rem; font-size: .85em; background: transparent; color: #c9d2e3; border-color: #3a4356; }
.btn.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn.danger { color: var(--bad); border-color: #e9b4b4; }
.btn.danger:hover { background: var(--bad-bg); }
.btn.plain { border-color: transparent; }
.flash { padding: .6rem 1rem; border-radius: 6px; margin: 0 0 1rem; }
.flash.ok { background: var(--ok-bg); color: #125c34; }
.flash.error { background: var(--bad-bg); color: #7f1d1d; }
.filters { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; }
.filters label, .login label { display: flex; flex-direction: column; gap: .2rem; font-size: .85rem; color: var(--muted); }
input, select { font: inherit; height: 2.2rem; padding: .3rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--fg); min-width: 11rem; }
.login { max-width: 380px; margin: 8vh auto; }
.login form { display: flex; flex-direction: column; gap: .8rem; }
details.diag { border-top: 1px solid var(--line); padding: .5rem 0; }
details.diag summary { cursor: pointer; }
pre.tail { background: #1c2230; color: #e5e9f0; padding: .6rem .8rem; border-radius: 6px; overflow: auto; max-height: 22rem; white-space: pre-wrap; }
.problem { max-width: 640px; }
.st-fault, .st-timedout, .st-error { background: var(--bad-bg); color: var(--bad); }
.error-text { color: var(--bad); font-weight: 600; }
td.msg { white-space: pre-wrap; }
pre.case-message { margin: 0; white-space: pre-wrap; font-size: .85em; color: #7f1d1d; }
.log-lines { background: #1c2230; color: #e5e9f0; padding: .6rem .8rem; border-radius: 6px; max-height: 70vh; overflow: auto; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .85em; }
.log-lines .line { white-space: pre-wrap; word-break: break-all; min-height: 1.2em; }
.log-lines .line::before { content: attr(data-n); display: inline-block; min-width: 3.5em; margin-right: .8em; text-align: right; color: #6a7282; user-select: none; }
.pager a { margin-right: 1rem; }
"#;

const JS: &str = r#"// ferry console: live deployment and build updates, and running timers. Every page works without this.
(function () {
  "use strict";
  var skew = 0;
  var MAX_LINES = 20000;
  function fmt(ms) {
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (ms < 3600000) return Math.floor(ms / 60000) + " min " + pad(Math.floor(ms / 1000) % 60) + " s";
    return Math.floor(ms / 3600000) + " h " + pad(Math.floor(ms / 60000) % 60) + " min";
  }
  function sync(root) {
    var f = root.querySelector("[data-now]");
    if (f) skew = Date.now() - Number(f.getAttribute("data-now"));
  }
  function tick() {
    var now = Date.now() - skew;
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = fmt(Math.max(0, now - Number(el.getAttribute("data-since"))));
    });
  }
  document.addEventListener("submit", function (e) {
    var message = e.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) e.preventDefault();
  });
  var live = document.getElementById("live");
  if (live) sync(live);
  var src = live && live.getAttribute("data-src");
  if (src && window.EventSource) {
    var updates = 0;
    var es = new EventSource(src);
    es.onopen = function () { live.classList.add("connected"); };
    es.onerror = function () { live.classList.remove("connected"); };
    es.addEventListener("fragment", function (e) {
      live.innerHTML = e.data;
      live.setAttribute("data-updates", String(++updates));
      sync(live);
      tick();
    });
    // A build's new log lines (escaped by the server), kept to the newest MAX_LINES.
    es.addEventListener("lines", function (e) {
      var log = document.getElementById("log-lines");
      if (!log) return;
      var empty = document.getElementById("log-empty");
      if (empty) empty.remove();
      var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      log.insertAdjacentHTML("beforeend", e.data);
      while (log.childElementCount > MAX_LINES) log.firstElementChild.remove();
      log.setAttribute("data-next", e.lastEventId);
      if (atEnd) log.scrollTop = log.scrollHeight;
    });
    es.addEventListener("done", function (e) {
      es.close();
      live.classList.remove("connected");
      if (e.data === "signed-out") window.location.reload();
    });
  }
  setInterval(tick, 1000);
})();
"#;
