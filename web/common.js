/*
 * common.js - shared by memtide's HTML reports (flamegraph.html, table.html, bench.html).
 *
 * Everything that comes from the profiled program (function and file names,
 * thread names, the command line) is put into the page with textContent or
 * createTextNode only: never innerHTML.  The data document is read with
 * JSON.parse from the script element of id "memtide-data" (type application/json).
 */
var MT = (function () {
  'use strict';

  var KIND_PY = 0, KIND_NATIVE = 1;

  function loadData() {
    var node = document.getElementById('memtide-data');
    var doc = JSON.parse(node.textContent);
    doc.meta = doc.meta || {};
    doc.frames = doc.frames || [];
    doc.threads = doc.threads || [];
    doc.stacks = doc.stacks || [];
    doc.timeline = doc.timeline || { t: [], heap: [], rss: [] };
    doc.steps = doc.steps || [];
    doc.temporal = doc.temporal || null;
    return doc;
  }

  /* Bytes as "512 B", "1.50 KiB", "3.20 MiB" (1024-based, like the CLI). */
  function fmtBytes(n) {
    if (n == null || isNaN(n)) return '–';
    var neg = n < 0;
    if (neg) n = -n;
    var s;
    if (n < 1024) s = Math.round(n) + ' B';
    else {
      var units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'], u = -1;
      while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
      s = (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) + ' ' + units[u];
    }
    return neg ? '-' + s : s;
  }

  /* Axis ticks at round binary sizes: 1, 2, 5, 10, 20, 50 ... of B, KiB, MiB... */
  var BYTE_INCRS = [];
  [1, 1024, 1048576, 1073741824, 1099511627776].forEach(function (u) {
    [1, 2, 5, 10, 20, 50, 100, 200, 500].forEach(function (k) { BYTE_INCRS.push(k * u); });
  });

  /* Short form for axis ticks: "0", "512 B", "1.5 KiB", "20 MiB". */
  function fmtBytesShort(n) {
    if (!n) return '0';
    var s = fmtBytes(n);
    return s.replace(/\.0+ /, ' ').replace(/(\.\d*?)0+ /, '$1 ').replace(/\. /, ' ');
  }

  function fmtCount(n) {
    if (n == null || isNaN(n)) return '–';
    return Math.round(n).toLocaleString('en-US');
  }

  /* "1 allocation", "2 allocations": a count and its noun (plural with an s, or given). */
  function fmtCountOf(n, one, many) {
    return fmtCount(n) + ' ' + (Math.round(n) === 1 ? one : many || one + 's');
  }

  function fmtSecs(s) {
    if (s == null || isNaN(s)) return '–';
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 0) + ' ms';
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    var m = Math.floor(s / 60);
    return m + ' min ' + (s - m * 60).toFixed(0) + ' s';
  }

  /* A time range in one unit: "0.50 s – 1.80 s", "120 ms – 480 ms". */
  function fmtRange(t0, t1) {
    var span = Math.abs(t1 - t0), hi = Math.max(Math.abs(t0), Math.abs(t1));
    if (hi < 1) return (t0 * 1000).toFixed(0) + ' ms – ' + (t1 * 1000).toFixed(0) + ' ms';
    var d = span >= 10 ? 1 : span >= 1 ? 2 : 3;
    if (hi >= 1000) d = Math.min(d, 1);
    return t0.toFixed(d) + ' s – ' + t1.toFixed(d) + ' s';
  }

  function fmtPct(part, whole) {
    if (!whole) return '';
    var p = 100 * part / whole;
    return (p >= 10 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toPrecision(2)) + '%';
  }

  /* el('div', {class: 'x'}, 'text', child...): strings become text nodes. */
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null) continue;
        if (k === 'class') e.className = attrs[k];
        else if (k === 'text') e.textContent = attrs[k];
        else e.setAttribute(k, attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  }

  function append(parent, c) {
    if (c == null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(parent, x); }); return; }
    parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.lastChild);
  }

  /* Frame helpers: frames[i] = [function, file, line, kind, imp]. */
  function frameFunction(f) {
    return f && f[0] ? String(f[0]) : '???';
  }

  function frameLocation(f) {
    if (!f) return '';
    var file = f[1] ? String(f[1]) : '';
    if (!file) return '';
    return f[2] ? file + ':' + f[2] : file;
  }

  function baseName(path) {
    var i = path.lastIndexOf('/');
    return i >= 0 ? path.slice(i + 1) : path;
  }

  function kindName(f) {
    return f && f[3] === KIND_NATIVE ? 'native' : 'Python';
  }

  function threadMap(doc) {
    var m = new Map();
    doc.threads.forEach(function (t) { m.set(t[0], t); });
    return m;
  }

  function threadLabel(threads, idx) {
    var t = threads.get(idx);
    if (!t) return 'thread ' + idx;
    var name = t[2] ? String(t[2]) : '';
    return (name ? name : 'thread ' + t[0]) + ' (tid ' + t[1] + ')';
  }

  var MODE_TEXT = {
    peak: 'memory live at the peak',
    leaks: 'leaks: memory still allocated at exit',
    temporary: 'temporary allocations (freed soon after)'
  };

  /* The page header: title, run facts, warnings and notes. */
  function renderHeader(doc, into, extra) {
    var m = doc.meta;
    var top = el('div', { class: 'mt-top' },
      el('span', { class: 'mt-brand' }, 'memtide'),
      el('h1', { id: 'mt-title' }, m.title ? String(m.title) : 'memtide report'));
    into.appendChild(top);
    var main = document.createElement('div');
    main.id = 'mt-run';
    var host = document.querySelector('main');
    host.insertBefore(main, host.firstChild);
    var dl = el('dl', { class: 'mt-meta', id: 'mt-meta' });
    function item(label, value, cls) {
      if (value == null || value === '') return;
      dl.appendChild(el('div', { class: cls || null }, el('dt', null, label), el('dd', null, String(value))));
    }
    item('Command', m.command, 'mt-cmd');
    item('PID', m.pid);
    item('Python', m.python ? m.python : 'none (native program)');
    item('Report', m.mode ? (MODE_TEXT[m.mode] || String(m.mode)) : null);
    if (m.peak_bytes != null)
      item('Peak heap', fmtBytes(m.peak_bytes) + (m.peak_time_ms != null ? ' at ' + fmtSecs(m.peak_time_ms / 1000) : ''));
    if (m.duration_ms != null) item('Duration', fmtSecs(m.duration_ms / 1000));
    if (m.total_bytes != null) item('Allocated in total', fmtBytes(m.total_bytes));
    if (extra) extra.forEach(function (e) { item(e[0], e[1]); });
    main.appendChild(dl);
    if (m.truncated) {
      main.appendChild(el('div', { class: 'mt-warn', id: 'mt-truncated', role: 'alert' },
        '\u26A0\uFE0E The capture is truncated: the program ended abnormally or the file was cut short, so the figures stop where the data does.'));
    }
    if (m.notes && m.notes.length) {
      main.appendChild(el('ul', { class: 'mt-notes', id: 'mt-notes' },
        m.notes.map(function (n) { return el('li', null, String(n)); })));
    }
  }

  return {
    KIND_PY: KIND_PY, KIND_NATIVE: KIND_NATIVE,
    loadData: loadData, fmtBytes: fmtBytes, fmtBytesShort: fmtBytesShort, fmtCount: fmtCount,
    fmtCountOf: fmtCountOf,
    fmtSecs: fmtSecs, fmtRange: fmtRange, BYTE_INCRS: BYTE_INCRS, fmtPct: fmtPct, el: el, append: append, clear: clear,
    frameFunction: frameFunction, frameLocation: frameLocation, baseName: baseName, kindName: kindName,
    threadMap: threadMap, threadLabel: threadLabel, renderHeader: renderHeader
  };
})();
