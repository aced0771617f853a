// Keeps the page current without reloading: every few seconds it fetches the view's
// fragment from the server (the same template the page was drawn with) and swaps it
// in, unless the operator is in the middle of using a control in it; the charts are
// fetched again every sixth round. Control forms are sent in the background, and the
// outcome is announced in the status line. Without this script every page still
// works: forms post and the server redirects back.
(function () {
  'use strict';
  var refresh = (Number(document.body.dataset.refresh) || 5) * 1000;
  var round = 0;

  function busy(el) {
    var a = document.activeElement;
    return a && a !== document.body && el.contains(a) && (a.tagName === 'INPUT' || a.tagName === 'SELECT');
  }

  function update(el, force) {
    var url = el.dataset.part + window.location.search;
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html' } }).then(function (r) {
      if (r.status === 401) {
        window.location.href = '/login?next=' + encodeURIComponent(window.location.pathname + window.location.search);
        return;
      }
      if (!r.ok) { return; }
      return r.text().then(function (html) {
        if (force || !busy(el)) {
          // The fragment is our own server's template output, escaped there.
          el.innerHTML = html;
        }
        var stamp = document.querySelector('[data-updated]');
        if (stamp) { stamp.textContent = new Date().toLocaleTimeString(); }
      });
    }).catch(function () { /* the next round tries again */ });
  }

  function charts() {
    document.querySelectorAll('[data-chart]').forEach(function (el) {
      var attr = el.tagName === 'SOURCE' ? 'srcset' : 'src';
      var u = new URL(el.getAttribute(attr), window.location.href);
      u.searchParams.set('t', Date.now());
      el.setAttribute(attr, u.pathname + u.search);
    });
  }

  window.setInterval(function () {
    round++;
    document.querySelectorAll('[data-part]').forEach(function (el) { update(el, false); });
    if (round % 6 === 0) { charts(); }
  }, refresh);

  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!form.matches('form[data-ajax]')) { return; }
    ev.preventDefault();
    var body = new URLSearchParams(new FormData(form));
    if (ev.submitter && ev.submitter.name) { body.set(ev.submitter.name, ev.submitter.value); }
    var status = document.getElementById('status');
    status.className = 'status';
    status.textContent = 'Sending…';
    form.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
    // getAttribute, not form.action: the buttons named "action" shadow that property.
    fetch(form.getAttribute('action'), {
      method: 'POST', body: body, credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-CSRF-Token': form.elements.csrf.value }
    }).then(function (r) {
      return r.json().catch(function () { return { message: 'HTTP ' + r.status }; }).then(function (a) {
        status.className = 'status ' + (r.ok ? 'ok' : 'error');
        status.textContent = a.message;
      });
    }).catch(function () {
      status.className = 'status error';
      status.textContent = 'The dashboard did not answer; nothing may have changed.';
    }).then(function () {
      var part = form.closest('[data-part]');
      if (part) { update(part, true); }
    });
  });
})();
