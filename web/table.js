/*
 * table.js - the page script of memtide's table report.
 *
 * Rows are the stacks of the data document (docs/HTML.md) grouped by
 * (leaf frame, thread, allocator).  Sorting and filtering work on the
 * grouped rows; at most PAGE rows more are put into the DOM at a time.
 * Names are only ever set with textContent.
 */
(function () {
  'use strict';

  var PAGE = 500, MAX_STACKS = 25;
  var doc = MT.loadData();
  var meta = doc.meta, frames = doc.frames, stacks = doc.stacks;
  var threads = MT.threadMap(doc);
  var $ = function (id) { return document.getElementById(id); };
  var el = MT.el;

  MT.renderHeader(doc, $('hdr'));

  /* ------------------------------------------------------------ grouping */
  var rows = [], total = { bytes: 0, count: 0 }, maxBytes = 0;
  var hasPython = frames.some(function (f, i) { return i > 0 && f && f[3] !== MT.KIND_NATIVE; });
  var hasNative = frames.some(function (f, i) { return i > 0 && f && f[3] === MT.KIND_NATIVE; });

  /* The site of a stack: its leaf frame, or with by === 'py' its innermost
   * Python frame outside import machinery (else its innermost Python
   * frame, else its leaf). */
  function siteOf(fr, by) {
    if (by === 'py') {
      var any = -1;
      for (var i = fr.length - 1; i >= 0; i--) {
        var f = frames[fr[i]];
        if (!f || f[3] === MT.KIND_NATIVE) continue;
        if (!f[4]) return fr[i];
        if (any < 0) any = fr[i];
      }
      if (any >= 0) return any;
    }
    return fr.length ? fr[fr.length - 1] : 0;
  }

  function group(by) {
    var groups = new Map();
    rows = [];
    total = { bytes: 0, count: 0 };
    for (var s = 0; s < stacks.length; s++) {
      var st = stacks[s], fr = st[0] || [];
      if (!(+st[2] > 0) && !(+st[3] > 0)) continue;  // nothing at this moment
      var leaf = siteOf(fr, by), thread = st[1] | 0, alloc = String(st[4] == null ? '' : st[4]);
      var key = leaf + '\u0000' + thread + '\u0000' + alloc;
      var g = groups.get(key);
      if (!g) {
        var f = frames[leaf];
        g = {
          leaf: leaf, thread: thread, alloc: alloc, bytes: 0, count: 0, stacks: [],
          fn: MT.frameFunction(f), loc: MT.frameLocation(f), threadName: MT.threadLabel(threads, thread),
          native: !!(f && f[3] === MT.KIND_NATIVE),
          imp: !!(f && f[4]),
          other: !!(f && f[0] === '<other>' && !f[1])
        };
        g.text = (g.fn + '\u0000' + g.loc + '\u0000' + g.threadName + '\u0000' + alloc).toLowerCase();
        groups.set(key, g);
        rows.push(g);
      }
      g.bytes += +st[2] || 0;
      g.count += +st[3] || 0;
      g.stacks.push(s);
      total.bytes += +st[2] || 0;
      total.count += +st[3] || 0;
    }
    maxBytes = rows.reduce(function (m, r) { return Math.max(m, r.bytes); }, 0);
  }
  group('leaf');

  var state = { sort: 'bytes', dir: -1, filter: '', thread: '', alloc: '', site: 'leaf', shown: PAGE, selected: null };
  var view = [];

  /* ------------------------------------------------------------ controls */
  var threadSel = $('thread-filter'), allocSel = $('alloc-filter');
  var usedThreads = Array.from(new Set(rows.map(function (r) { return r.thread; }))).sort(function (a, b) { return a - b; });
  usedThreads.forEach(function (t) { threadSel.appendChild(el('option', { value: String(t) }, MT.threadLabel(threads, t))); });
  var usedAllocs = Array.from(new Set(rows.map(function (r) { return r.alloc; }))).sort();
  usedAllocs.forEach(function (a) { allocSel.appendChild(el('option', { value: a }, a || '(unknown)')); });

  var what = meta.mode === 'leaks' ? 'memory leaked at exit'
    : meta.mode === 'temporary' ? 'temporary allocations' : 'memory live at the peak';
  $('table-title').textContent = 'Allocation sites of the ' + what + ' (' + MT.fmtBytes(total.bytes) + ')';

  var cmp = {
    fn: function (a, b) { return a.fn < b.fn ? -1 : a.fn > b.fn ? 1 : 0; },
    loc: function (a, b) { return a.loc < b.loc ? -1 : a.loc > b.loc ? 1 : 0; },
    bytes: function (a, b) { return a.bytes - b.bytes; },
    count: function (a, b) { return a.count - b.count; },
    thread: function (a, b) { return a.thread - b.thread; },
    alloc: function (a, b) { return a.alloc < b.alloc ? -1 : a.alloc > b.alloc ? 1 : 0; }
  };

  function recompute() {
    var f = state.filter.toLowerCase();
    view = rows.filter(function (r) {
      if (state.thread !== '' && String(r.thread) !== state.thread) return false;
      if (state.alloc !== '' && r.alloc !== state.alloc) return false;
      return !f || r.text.indexOf(f) >= 0;
    });
    var c = cmp[state.sort], dir = state.dir;
    view.sort(function (a, b) { return dir * c(a, b) || b.bytes - a.bytes || a.leaf - b.leaf; });
    document.querySelectorAll('#sites th').forEach(function (th) {
      var col = th.getAttribute('data-col');
      if (col === state.sort) th.setAttribute('aria-sort', state.dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
    render();
  }

  function render() {
    var body = document.querySelector('#sites tbody');
    MT.clear(body);
    var n = Math.min(view.length, state.shown);
    var frag = document.createDocumentFragment();
    for (var i = 0; i < n; i++) {
      var r = view[i];
      var bar = el('span', { class: 'mt-sizebar' });
      bar.style.width = Math.max(1, Math.round(48 * r.bytes / (maxBytes || 1))) + 'px';
      var tr = el('tr', { tabindex: '0', 'data-leaf': String(r.leaf) },
        el('td', { class: 'fn' }, el('span', { class: 'mt-kind ' + (r.other || r.imp ? 'imp' : r.native ? 'nat' : 'py') },
          r.other ? 'merged' : r.imp ? 'import' : r.native ? 'native' : 'Python'), r.fn),
        el('td', { class: 'loc' }, r.loc),
        el('td', { class: 'num', title: MT.fmtCount(r.bytes) + ' bytes' },
          bar, MT.fmtBytes(r.bytes)),
        el('td', { class: 'num' }, MT.fmtCount(r.count)),
        el('td', null, r.threadName),
        el('td', null, r.alloc));
      tr._row = r;
      if (r === state.selected) tr.className = 'sel';
      frag.appendChild(tr);
    }
    body.appendChild(frag);
    var vb = 0, vc = 0;
    view.forEach(function (r) { vb += r.bytes; vc += r.count; });
    $('table-summary').textContent = MT.fmtCount(view.length) + ' of ' + MT.fmtCountOf(rows.length, 'site') +
      (n < view.length ? ' (first ' + MT.fmtCount(n) + ' shown)' : '') + ': ' + MT.fmtBytes(vb) + ' in ' +
      MT.fmtCountOf(vc, 'allocation') + '.';
    $('more').hidden = n >= view.length;
    document.body.setAttribute('data-ready', '1');
  }

  function frameItem(fi) {
    var f = frames[fi];
    var native = !!(f && f[3] === MT.KIND_NATIVE), imp = !!(f && f[4]);
    var loc = MT.frameLocation(f);
    return el('li', null,
      el('span', { class: 'mt-kind ' + (imp ? 'imp' : native ? 'nat' : 'py') }, imp ? 'import' : native ? 'native' : 'Python'),
      MT.frameFunction(f), loc ? el('span', { class: 'loc' }, ' at ' + loc) : null);
  }

  function showStack(r) {
    state.selected = r;
    document.querySelectorAll('#sites tbody tr').forEach(function (tr) { tr.className = tr._row === r ? 'sel' : ''; });
    var box = $('stack');
    MT.clear(box);
    box.hidden = false;
    box.appendChild(el('h3', null, r.fn + (r.loc ? ' at ' + r.loc : '')));
    box.appendChild(el('div', { class: 'mt-hint' }, MT.fmtBytes(r.bytes) + ' in ' +
      MT.fmtCountOf(r.count, 'allocation') + ' by ' + (r.alloc || 'an unknown allocator') + ', thread ' + r.threadName + '; ' +
      r.stacks.length + (r.stacks.length === 1 ? ' stack' : ' stacks') + ' (most recent call last):'));
    var list = r.stacks.slice().sort(function (a, b) { return (stacks[b][2] || 0) - (stacks[a][2] || 0); });
    list.slice(0, MAX_STACKS).forEach(function (s, k) {
      var st = stacks[s];
      if (list.length > 1) {
        box.appendChild(el('div', null, el('b', null, 'Stack ' + (k + 1)), ': ' + MT.fmtBytes(st[2]) + ' in ' +
          MT.fmtCountOf(st[3], 'allocation')));
      }
      box.appendChild(el('ol', null, (st[0] || []).map(frameItem)));
    });
    if (list.length > MAX_STACKS) {
      box.appendChild(el('div', { class: 'mt-hint' }, (list.length - MAX_STACKS) + ' smaller stacks not shown.'));
    }
  }

  document.querySelectorAll('#sites th').forEach(function (th) {
    th.querySelector('button').addEventListener('click', function () {
      var col = th.getAttribute('data-col');
      if (state.sort === col) state.dir = -state.dir;
      else { state.sort = col; state.dir = (col === 'bytes' || col === 'count') ? -1 : 1; }
      recompute();
    });
  });
  var tbody = document.querySelector('#sites tbody');
  tbody.addEventListener('click', function (e) {
    var tr = e.target.closest('tr');
    if (tr && tr._row) showStack(tr._row);
  });
  tbody.addEventListener('keydown', function (e) {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    var tr = e.target.closest('tr');
    if (tr && tr._row) { e.preventDefault(); showStack(tr._row); }
  });
  var timer = 0;
  $('filter').addEventListener('input', function (e) {
    clearTimeout(timer);
    timer = setTimeout(function () { state.filter = e.target.value.trim(); state.shown = PAGE; recompute(); }, 120);
  });
  threadSel.addEventListener('change', function () { state.thread = threadSel.value; state.shown = PAGE; recompute(); });
  allocSel.addEventListener('change', function () { state.alloc = allocSel.value; state.shown = PAGE; recompute(); });
  $('more').addEventListener('click', function () { state.shown += PAGE; render(); });
  var siteSel = $('site');
  if (hasPython && hasNative) {
    siteSel.addEventListener('change', function () {
      state.site = siteSel.value;
      state.selected = null;
      $('stack').hidden = true;
      group(state.site);
      window.memtide.rows = rows;
      state.shown = PAGE;
      recompute();
    });
  } else {
    siteSel.parentNode.hidden = true;
  }

  window.memtide = { rows: rows, state: state, view: function () { return view; }, showStack: showStack };

  if (!rows.length) {
    $('table-summary').textContent = 'No allocations in this report.';
    document.body.setAttribute('data-ready', '1');
  } else {
    recompute();
  }
})();
