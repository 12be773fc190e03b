/*
 * bench.js - the page of `memtide bench --format html`: the table of a
 * benchmark matrix (one row per combination of parameter values), the
 * peak heap inside each step, and one small uPlot chart per parameter of
 * the peak heap against its values, one line per combination of the
 * other parameters.  The data document is the JSON of `--format json`
 * with a "title" (docs/BENCH.md).  Text from the runs goes into the page
 * with textContent only.
 */
(function () {
  'use strict';

  var doc = JSON.parse(document.getElementById('memtide-data').textContent);
  var params = doc.parameters || [];
  var cells = doc.cells || [];
  var el = MT.el;
  var COLORS = ['#c2410c', '#1f6feb', '#2da44e', '#8250df', '#bf8700', '#cf222e', '#0a7b83', '#6e7781'];

  function header() {
    var hdr = document.getElementById('hdr');
    hdr.appendChild(el('div', { class: 'mt-top' }, el('span', { class: 'mt-brand' }, 'memtide'),
      el('h1', { id: 'mt-title' }, String(doc.title || 'memtide bench'))));
    var dl = el('dl', { class: 'mt-meta', id: 'mt-meta' });
    function item(label, value, cls) {
      dl.appendChild(el('div', { class: cls || null }, el('dt', null, label), el('dd', null, String(value))));
    }
    item('Command', doc.command, 'mt-cmd');
    item('Directory', doc.dir);
    item('Combinations', MT.fmtCount(cells.length));
    item('Runs of each', MT.fmtCount(doc.repeat));
    var failed = cells.filter(function (c) { return c.status === 'failed'; }).length;
    item('Failed', failed ? MT.fmtCountOf(failed, 'combination') : 'none');
    var main = document.querySelector('main');
    main.insertBefore(dl, main.firstChild);
    var notes = [];
    if (doc.repeat > 1) notes.push('Wall time: the median of the runs, their range in parentheses; memory: the median run.');
    if (doc.jobs > 1) notes.push(doc.jobs + ' runs at a time (-j ' + doc.jobs + '): wall times were not measured alone.');
    if (notes.length) {
      dl.parentNode.insertBefore(el('ul', { class: 'mt-notes', id: 'mt-notes' },
        notes.map(function (n) { return el('li', null, n); })), dl.nextSibling);
    }
  }

  function status(c) {
    if (c.status !== 'failed') return c.status + (c.runs && c.runs < doc.repeat ? ' (' + c.runs + ' of ' + doc.repeat + ' runs)' : '');
    return 'failed: ' + (c.signal ? 'killed by ' + c.signal : 'exit status ' + c.exit_status);
  }

  function wall(c) {
    if (c.wall_s == null) return '–';
    var s = c.wall_s.toFixed(3) + ' s';
    if (doc.repeat > 1 && c.wall_s_max > c.wall_s_min) s += ' (' + c.wall_s_min.toFixed(3) + '–' + c.wall_s_max.toFixed(3) + ')';
    return s;
  }

  /* Header cells; columns [numFrom, numTo) hold numbers. */
  function headRow(table, names, numFrom, numTo) {
    var tr = el('tr');
    names.forEach(function (n, i) {
      tr.appendChild(el('th', { scope: 'col', class: i >= numFrom && i < numTo ? 'num' : null }, el('span', { class: 'mt-th' }, n)));
    });
    table.querySelector('thead').appendChild(tr);
  }

  function paramCells(tr, c) {
    params.forEach(function (p) { tr.appendChild(el('td', null, String(c.params[p.name]))); });
  }

  function table() {
    var t = document.getElementById('cells');
    var names = params.map(function (p) { return p.name; });
    headRow(t, names.concat(['status', 'wall time', 'peak heap', 'peak RSS', 'allocated', 'allocations', 'leaked', 'top site at the peak']), names.length + 1, names.length + 7);
    var body = t.querySelector('tbody');
    cells.forEach(function (c) {
      var tr = el('tr');
      paramCells(tr, c);
      tr.appendChild(el('td', { class: c.status === 'failed' ? 'bad' : null }, status(c)));
      tr.appendChild(el('td', { class: 'num' }, wall(c)));
      [c.peak_bytes, c.peak_rss_bytes, c.total_bytes].forEach(function (v) { tr.appendChild(el('td', { class: 'num' }, MT.fmtBytes(v))); });
      tr.appendChild(el('td', { class: 'num' }, MT.fmtCount(c.allocations)));
      tr.appendChild(el('td', { class: 'num' }, MT.fmtBytes(c.leaked_bytes)));
      tr.appendChild(el('td', { class: 'fn' }, c.top_site == null ? '–' : String(c.top_site)));
      body.appendChild(tr);
    });
  }

  function stepsTable() {
    var names = [];
    cells.forEach(function (c) {
      (c.steps || []).forEach(function (s) { if (names.indexOf(s.name) < 0) names.push(s.name); });
    });
    if (!names.length) return;
    document.getElementById('steps-panel').hidden = false;
    var t = document.getElementById('steps');
    headRow(t, params.map(function (p) { return p.name; }).concat(names.map(String)), params.length, params.length + names.length);
    var body = t.querySelector('tbody');
    cells.forEach(function (c) {
      var tr = el('tr');
      paramCells(tr, c);
      names.forEach(function (n) {
        var best = null;
        (c.steps || []).forEach(function (s) { if (s.name === n && (!best || s.peak_bytes > best.peak_bytes)) best = s; });
        tr.appendChild(el('td', { class: 'num' }, best ? MT.fmtBytes(best.peak_bytes) + ' (+' + MT.fmtBytes(best.peak_above_start_bytes) + ')' : '–'));
      });
      body.appendChild(tr);
    });
  }

  /* One chart per parameter with two values or more: x its values, one line per
   * combination of the other parameters. */
  function charts() {
    var box = document.getElementById('charts');
    var drawn = 0;
    params.forEach(function (p, pi) {
      if (p.values.length < 2) return;
      var lines = new Map();
      cells.forEach(function (c) {
        var key = params.filter(function (q, qi) { return qi !== pi; })
          .map(function (q) { return q.name + '=' + c.params[q.name]; }).join(' ');
        if (!lines.has(key)) lines.set(key, p.values.map(function () { return null; }));
        lines.get(key)[p.values.indexOf(c.params[p.name])] = c.peak_bytes;
      });
      var xs = p.values.map(function (v, i) { return i; });
      var data = [xs];
      var series = [{ label: p.name, value: function (u, v) { return v == null ? '–' : String(p.values[v]); } }];
      var k = 0;
      lines.forEach(function (ys, key) {
        data.push(ys);
        series.push({ label: key || 'peak heap', stroke: COLORS[k++ % COLORS.length], width: 1.5,
          value: function (u, v) { return v == null ? '–' : MT.fmtBytes(v); }, points: { show: true, size: 6 } });
      });
      var wrap = el('div', { class: 'mt-chart', id: 'chart-' + pi }, el('h3', null, 'peak heap by ' + p.name));
      box.appendChild(wrap);
      new uPlot({
        width: Math.min(460, Math.max(320, box.clientWidth)),
        height: 220,
        scales: { x: { time: false, range: [-0.25, xs.length - 0.75] },
          y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } } },
        axes: [
          { label: p.name, labelSize: 20, splits: function () { return xs; },
            values: function (u, ticks) { return ticks.map(function (t) { return p.values[t] == null ? '' : String(p.values[t]); }); } },
          { size: 76, incrs: MT.BYTE_INCRS, values: function (u, ticks) { return ticks.map(MT.fmtBytesShort); } }
        ],
        series: series
      }, data, wrap);
      drawn++;
    });
    if (!drawn) box.appendChild(el('div', { class: 'mt-empty' }, 'No parameter has two values or more to chart.'));
    document.body.dataset.charts = String(drawn);
  }

  header();
  table();
  stepsTable();
  charts();
  document.body.dataset.ready = '1';
})();
