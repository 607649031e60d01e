/* Aladdin admin: small progressive enhancements. No dependencies; every page works without it.
 *
 * - CSRF: the token of <meta name="csrf-token" content="…"> goes into the X-CSRF-Token header of
 *   every htmx request. With <meta name="csrf-param" content="csrf_token"> it is also added as a
 *   hidden field to plain POST forms that lack one.
 * - [data-confirm="Question?"] on a form, a submit button, a link or an element with hx-* asks in
 *   a <dialog> first. Optional: data-confirm-title, data-confirm-ok ("Delete"), data-confirm-tone
 *   ("danger" by default, or "primary").
 * - Bulk tables: <input type="checkbox" data-select-all="ids"> checks every checkbox named "ids"
 *   in the same form (or table). Rows with a checked box get .is-selected; [data-selected-count]
 *   shows the count; [data-bulk-bar] gets .is-visible and [data-bulk-action] buttons are enabled
 *   only while something is selected.
 * - Toasts in #toasts remove themselves when their fade-out animation ends; .toast-close closes.
 * - <textarea data-json> shows a live "Valid JSON" / "Invalid JSON: …" hint below itself
 *   (or in the element named by data-json-status="#id").
 * - [data-sidebar-toggle] opens/closes the sidebar on small screens (body.sidebar-open).
 * - [data-autoscroll] containers stay pinned to the bottom while content streams in, unless the
 *   user has scrolled up.
 * - [data-copy="#id"] copies the text (or value) of the target; [data-copy-text="…"] copies that text.
 * - <input type="color" data-color-for="id"> and the text input #id keep each other in sync.
 * - [data-submit-on-change] on a form control submits its form when it changes (the page-size
 *   select of lists, which belongs to the filter form through its form="…" attribute).
 * - <textarea data-submit-shortcut> submits its form on Ctrl+Enter (⌘+Enter on macOS): the
 *   run page's prompt.
 * - Sub-run cards (.subrun-body[data-sse-src]) follow their own streams, but a browser opens
 *   only six connections to a server over HTTP/1.1: at most CARD_STREAMS cards stream at once
 *   (their [data-card-swap] parts become sse-swap targets when they connect); the others wait,
 *   closed, oldest first, and a waiting card that is opened connects at once.
 */
(function () {
  'use strict';

  var doc = document;

  function meta(name) {
    var el = doc.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') : null;
  }

  /* ---------- CSRF ---------- */
  doc.addEventListener('htmx:configRequest', function (evt) {
    var token = meta('csrf-token');
    if (token) evt.detail.headers['X-CSRF-Token'] = token;
  });

  function ensureCsrfField(form) {
    var param = meta('csrf-param');
    var token = meta('csrf-token');
    if (!param || !token || (form.method || '').toLowerCase() !== 'post') return;
    if (form.querySelector('input[name="' + param + '"]')) return;
    var input = doc.createElement('input');
    input.type = 'hidden';
    input.name = param;
    input.value = token;
    form.appendChild(input);
  }

  /* ---------- Confirm dialog ---------- */
  var dialog = null;

  function buildDialog() {
    dialog = doc.createElement('dialog');
    dialog.className = 'modal';
    dialog.setAttribute('aria-labelledby', 'confirm-title');
    dialog.innerHTML =
      '<form method="dialog">' +
      '<div class="modal-header"><h2 class="modal-title" id="confirm-title"></h2></div>' +
      '<div class="modal-body"><p data-confirm-message></p></div>' +
      '<div class="modal-footer">' +
      '<button class="btn" value="cancel" data-confirm-cancel>Cancel</button>' +
      '<button class="btn btn-danger" value="ok" data-confirm-ok></button>' +
      '</div></form>';
    doc.body.appendChild(dialog);
    return dialog;
  }

  function askConfirm(source) {
    var d = dialog || buildDialog();
    var title = source.getAttribute('data-confirm-title') || 'Are you sure?';
    var ok = source.getAttribute('data-confirm-ok') || 'Confirm';
    var tone = source.getAttribute('data-confirm-tone') || 'danger';
    // textContent: the question may contain user data (a name), never parse it as HTML.
    d.querySelector('.modal-title').textContent = title;
    d.querySelector('[data-confirm-message]').textContent = source.getAttribute('data-confirm');
    var okBtn = d.querySelector('[data-confirm-ok]');
    okBtn.textContent = ok;
    okBtn.className = 'btn ' + (tone === 'primary' ? 'btn-primary' : 'btn-danger');
    return new Promise(function (resolve) {
      d.addEventListener('close', function onClose() {
        d.removeEventListener('close', onClose);
        resolve(d.returnValue === 'ok');
      });
      d.returnValue = '';
      if (typeof d.showModal === 'function') {
        d.showModal();
        okBtn.focus();
      } else {
        resolve(window.confirm(source.getAttribute('data-confirm')));
      }
    });
  }

  function isHtmxElement(el) {
    return ['hx-get', 'hx-post', 'hx-put', 'hx-patch', 'hx-delete', 'data-hx-get', 'data-hx-post', 'data-hx-put', 'data-hx-patch', 'data-hx-delete']
      .some(function (a) { return el.hasAttribute(a); });
  }

  // htmx requests: the element that issues the request (or, for a form, its submitter) carries data-confirm.
  doc.addEventListener('htmx:confirm', function (evt) {
    var elt = evt.detail.elt;
    var submitter = evt.detail.triggeringEvent && evt.detail.triggeringEvent.submitter;
    var source = (submitter && submitter.hasAttribute('data-confirm')) ? submitter : (elt.hasAttribute('data-confirm') ? elt : null);
    if (!source) return;
    evt.preventDefault();
    askConfirm(source).then(function (yes) { if (yes) evt.detail.issueRequest(true); });
  });

  // Plain forms and links.
  var confirmed = new WeakSet();
  doc.addEventListener('submit', function (evt) {
    var form = evt.target;
    ensureCsrfField(form);
    if (isHtmxElement(form)) return;
    var submitter = evt.submitter;
    var source = (submitter && submitter.hasAttribute('data-confirm')) ? submitter : (form.hasAttribute('data-confirm') ? form : null);
    if (!source || confirmed.has(form)) { confirmed.delete(form); return; }
    evt.preventDefault();
    askConfirm(source).then(function (yes) {
      if (!yes) return;
      confirmed.add(form);
      if (form.requestSubmit) form.requestSubmit(submitter || undefined); else form.submit();
    });
  }, true);

  doc.addEventListener('click', function (evt) {
    var link = evt.target.closest && evt.target.closest('a[data-confirm]');
    if (!link || isHtmxElement(link)) return;
    evt.preventDefault();
    askConfirm(link).then(function (yes) { if (yes) window.location.href = link.href; });
  });

  /* ---------- Bulk selection ---------- */
  function scopeOf(el) {
    return el.closest('form') || el.closest('table') || doc;
  }

  function refreshSelection(scope) {
    var boxes = scope.querySelectorAll('input[type="checkbox"][data-select-all]');
    boxes.forEach(function (all) {
      var name = all.getAttribute('data-select-all');
      var items = Array.prototype.slice.call(scope.querySelectorAll('input[type="checkbox"][name="' + name + '"]'));
      var checked = items.filter(function (i) { return i.checked; }).length;
      all.checked = items.length > 0 && checked === items.length;
      all.indeterminate = checked > 0 && checked < items.length;
      items.forEach(function (i) {
        var row = i.closest('tr');
        if (row) row.classList.toggle('is-selected', i.checked);
      });
      var root = scope === doc ? doc : (scope.closest('[data-bulk-scope]') || scope);
      root.querySelectorAll('[data-selected-count]').forEach(function (el) { el.textContent = String(checked); });
      root.querySelectorAll('[data-bulk-bar]').forEach(function (el) { el.classList.toggle('is-visible', checked > 0); });
      root.querySelectorAll('[data-bulk-action]').forEach(function (el) { el.disabled = checked === 0; });
    });
  }

  doc.addEventListener('change', function (evt) {
    var el = evt.target;
    if (!(el instanceof HTMLInputElement) || el.type !== 'checkbox') return;
    var scope = scopeOf(el);
    var all = el.getAttribute('data-select-all');
    if (all) {
      scope.querySelectorAll('input[type="checkbox"][name="' + all + '"]').forEach(function (i) {
        if (!i.disabled) i.checked = el.checked;
      });
    }
    if (all || scope.querySelector('[data-select-all="' + el.name + '"]')) refreshSelection(scope);
  });

  /* ---------- Toasts ---------- */
  function removeToast(toast) {
    if (!toast || toast.classList.contains('is-leaving')) return;
    toast.classList.add('is-leaving');
    setTimeout(function () { if (toast.parentNode) toast.parentNode.removeChild(toast); }, 250);
  }

  doc.addEventListener('animationend', function (evt) {
    if (evt.animationName === 'toast-out' && evt.target.classList && evt.target.classList.contains('toast')) {
      evt.target.parentNode && evt.target.parentNode.removeChild(evt.target);
    }
  });

  doc.addEventListener('click', function (evt) {
    var close = evt.target.closest && evt.target.closest('.toast-close');
    if (close) removeToast(close.closest('.toast'));
  });

  /* ---------- JSON hints ---------- */
  // JSON.parse says *that* the text is invalid; browsers disagree on *where*. This small scanner
  // finds the first error's offset so the hint can name the line and column.
  function findJsonError(text) {
    var i = 0;
    function ws() { while (i < text.length && ' \t\n\r'.indexOf(text[i]) !== -1) i++; }
    function fail(what) {
      var found = i < text.length ? "'" + text[i] + "'" : 'end of input';
      throw { pos: i, message: 'expected ' + what + ', found ' + found };
    }
    function lit(word) { if (text.substr(i, word.length) === word) i += word.length; else fail('a value'); }
    function str() {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\\') {
          i++;
          if (text[i] === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(text.substr(i + 1, 4))) fail('4 hex digits'); i += 4; }
          else if ('"\\/bfnrt'.indexOf(text[i]) === -1) fail('an escape character');
        } else if (text.charCodeAt(i) < 0x20) fail('a closing quote');
        i++;
      }
      if (i >= text.length) fail('a closing quote');
      i++;
    }
    function num() {
      var m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
      if (!m || !m[0] || m[0] === '-') fail('a value');
      i += m[0].length;
    }
    function value() {
      ws();
      var c = text[i];
      if (c === '{') {
        i++; ws();
        if (text[i] === '}') { i++; return; }
        for (;;) {
          ws(); if (text[i] !== '"') fail('a property name in double quotes');
          str(); ws(); if (text[i] !== ':') fail("':'"); i++;
          value(); ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === '}') { i++; return; }
          fail("',' or '}'");
        }
      } else if (c === '[') {
        i++; ws();
        if (text[i] === ']') { i++; return; }
        for (;;) {
          value(); ws();
          if (text[i] === ',') { i++; continue; }
          if (text[i] === ']') { i++; return; }
          fail("',' or ']'");
        }
      } else if (c === '"') str();
      else if (c === 't') lit('true');
      else if (c === 'f') lit('false');
      else if (c === 'n') lit('null');
      else num();
    }
    try {
      value(); ws();
      if (i < text.length) fail('end of input');
      return null;
    } catch (e) {
      if (e && typeof e.pos === 'number') return e;
      throw e;
    }
  }

  function lineColumn(text, pos) {
    var before = text.slice(0, pos).split('\n');
    return { line: before.length, column: before[before.length - 1].length + 1 };
  }

  function statusElementFor(area) {
    var sel = area.getAttribute('data-json-status');
    if (sel) return doc.querySelector(sel);
    var next = area.nextElementSibling;
    if (next && next.classList.contains('json-status')) return next;
    var el = doc.createElement('p');
    el.className = 'json-status';
    el.setAttribute('aria-live', 'polite');
    area.insertAdjacentElement('afterend', el);
    return el;
  }

  function checkJson(area) {
    var status = statusElementFor(area);
    if (!status) return;
    var text = area.value;
    status.classList.remove('is-valid', 'is-invalid', 'is-empty');
    if (text.trim() === '') {
      status.classList.add('is-empty');
      status.textContent = area.required ? 'Required' : 'Empty';
      return;
    }
    var valid = true;
    try { JSON.parse(text); } catch (e) { valid = false; }
    if (valid) {
      status.classList.add('is-valid');
      status.textContent = 'Valid JSON';
      return;
    }
    var err = findJsonError(text);
    status.classList.add('is-invalid');
    if (err) {
      var lc = lineColumn(text, err.pos);
      status.textContent = 'Invalid JSON at line ' + lc.line + ', column ' + lc.column + ': ' + err.message;
    } else {
      status.textContent = 'Invalid JSON';
    }
  }

  var jsonTimers = new WeakMap();
  doc.addEventListener('input', function (evt) {
    var area = evt.target;
    if (!(area instanceof HTMLTextAreaElement) || !area.hasAttribute('data-json')) return;
    clearTimeout(jsonTimers.get(area));
    jsonTimers.set(area, setTimeout(function () { checkJson(area); }, 200));
  });

  /* ---------- Sidebar (small screens) ---------- */
  doc.addEventListener('click', function (evt) {
    var toggle = evt.target.closest && evt.target.closest('[data-sidebar-toggle]');
    if (toggle) {
      doc.body.classList.toggle('sidebar-open');
      return;
    }
    if (doc.body.classList.contains('sidebar-open') && !(evt.target.closest && evt.target.closest('.sidebar'))) {
      doc.body.classList.remove('sidebar-open');
    }
  });

  /* ---------- Copy to clipboard ---------- */
  doc.addEventListener('click', function (evt) {
    var btn = evt.target.closest && evt.target.closest('[data-copy], [data-copy-text]');
    if (!btn || !navigator.clipboard) return;
    var text = btn.getAttribute('data-copy-text');
    if (text === null) {
      var target = doc.querySelector(btn.getAttribute('data-copy'));
      if (!target) return;
      text = 'value' in target && target.value !== undefined ? target.value : target.textContent;
    }
    navigator.clipboard.writeText(text).then(function () {
      var old = btn.getAttribute('aria-label') || btn.textContent;
      btn.setAttribute('data-copied', '');
      btn.title = 'Copied';
      setTimeout(function () { btn.removeAttribute('data-copied'); btn.title = old; }, 1500);
    });
  });

  /* ---------- Colour fields ---------- */
  doc.addEventListener('input', function (evt) {
    var el = evt.target;
    if (!(el instanceof HTMLInputElement)) return;
    if (el.type === 'color' && el.hasAttribute('data-color-for')) {
      var text = doc.getElementById(el.getAttribute('data-color-for'));
      if (text) text.value = el.value;
    } else if (el.id && /^#[0-9a-fA-F]{6}$/.test(el.value)) {
      var picker = doc.querySelector('input[type="color"][data-color-for="' + el.id + '"]');
      if (picker) picker.value = el.value.toLowerCase();
    }
  });

  /* ---------- Submit on change ---------- */
  doc.addEventListener('change', function (evt) {
    var el = evt.target;
    if (!el.hasAttribute || !el.hasAttribute('data-submit-on-change') || !el.form) return;
    if (el.form.requestSubmit) el.form.requestSubmit(); else el.form.submit();
  });

  /* ---------- Ctrl/⌘+Enter submits (run prompt) ---------- */
  doc.addEventListener('keydown', function (evt) {
    var el = evt.target;
    if (evt.key !== 'Enter' || !(evt.ctrlKey || evt.metaKey)) return;
    if (!el.hasAttribute || !el.hasAttribute('data-submit-shortcut') || !el.form) return;
    evt.preventDefault();
    if (el.form.requestSubmit) el.form.requestSubmit(); else el.form.submit();
  });

  /* ---------- Auto-scroll for streaming transcripts ---------- */
  function watchAutoscroll(el) {
    if (el.__autoscroll) return;
    el.__autoscroll = true;
    var pinned = true;
    el.addEventListener('scroll', function () {
      pinned = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    });
    new MutationObserver(function () {
      if (pinned) el.scrollTop = el.scrollHeight;
    }).observe(el, { childList: true, subtree: true, characterData: true });
    el.scrollTop = el.scrollHeight;
  }

  /* ---------- Sub-run cards share a few connections ---------- */
  var CARD_STREAMS = 3;
  var cardStreams = 0;

  /* `byUser`: opened by a click, whose default action opens the card itself. */
  function connectCard(body, byUser) {
    if (body.hasAttribute('sse-connect')) return;
    body.querySelectorAll(':scope > [data-card-swap], :scope > * > [data-card-swap]').forEach(function (el) {
      el.setAttribute('sse-swap', el.getAttribute('data-card-swap'));
      el.removeAttribute('data-card-swap');
    });
    body.setAttribute('sse-close', 'end');
    body.setAttribute('sse-connect', body.getAttribute('data-sse-src'));
    var card = body.closest('details.subrun');
    if (card && card.classList.contains('is-waiting')) {
      card.classList.remove('is-waiting');
      if (!byUser) card.open = true;
    }
    cardStreams += 1;
    if (window.htmx) window.htmx.process(body);
  }

  function fillCardStreams() {
    doc.querySelectorAll('.subrun-body[data-sse-src]:not([sse-connect])').forEach(function (body) {
      if (cardStreams < CARD_STREAMS) {
        connectCard(body, false);
      } else {
        // Closed while it waits: opening it connects it (see the click handler).
        var card = body.closest('details.subrun');
        if (card && !card.classList.contains('is-waiting')) {
          card.classList.add('is-waiting');
          card.open = false;
        }
      }
    });
  }

  doc.addEventListener('htmx:sseClose', function (evt) {
    var el = evt.target;
    if (!el.matches || !el.matches('.subrun-body[data-sse-src]') || el.__cardClosed) return;
    el.__cardClosed = true;
    cardStreams = Math.max(0, cardStreams - 1);
    fillCardStreams();
  });
  doc.addEventListener('click', function (evt) {
    var summary = evt.target.closest && evt.target.closest('details.subrun.is-waiting > summary');
    if (!summary) return;
    var body = summary.parentNode.querySelector(':scope > .subrun-body[data-sse-src]:not([sse-connect])');
    if (body) connectCard(body, true);
  });

  /* ---------- Initialise (page load and every htmx swap) ---------- */
  function init(root) {
    root.querySelectorAll('textarea[data-json]').forEach(checkJson);
    root.querySelectorAll('[data-autoscroll]').forEach(watchAutoscroll);
    root.querySelectorAll('[data-select-all]').forEach(function (all) { refreshSelection(scopeOf(all)); });
    fillCardStreams();
  }

  doc.addEventListener('htmx:load', function (evt) { init(evt.detail.elt.parentNode || doc); });
  if (doc.readyState === 'loading') {
    doc.addEventListener('DOMContentLoaded', function () { init(doc); });
  } else {
    init(doc);
  }
})();
