/*
 * plot.js - the page script of `memtide plot -o FILE.html`: memory over
 * time of one or more captures with uPlot (the same picture as the PNG:
 * one line per capture and series, peaks marked and labelled, steps
 * shaded and named), zoomable, with a table of the captures.  Reads the
 * data document of docs/HTML.md ("The plot page"); names are only ever
 * set with textContent.
 */
(function () {
  'use strict';

  var doc = JSON.parse(document.getElementById('memtide-data').textContent);
  var meta = doc.meta || {}, runs = doc.runs || [];
  var $ = function (id) { return document.getElementById(id); };
  var el = MT.el;

  var PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd',
    '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  var HEAP = '#c2410c', RSS = '#1f6feb';
  var showHeap = meta.series !== 'rss', showRss = meta.series !== 'heap';
  var both = showHeap && showRss;
  var single = runs.length === 1;

  /* The colour of a run's series: per series for one run, else per run. */
  function colourOf(run, rss) {
    if (single) return rss ? RSS : HEAP;
    return PALETTE[run % PALETTE.length];
  }

  /* ------------------------------------------------------------- header */

  function header() {
    var hdr = $('hdr');
    hdr.appendChild(el('div', { class: 'mt-top' },
      el('span', { class: 'mt-brand' }, 'memtide'),
      el('h1', { id: 'mt-title' }, meta.title ? String(meta.title) : 'memtide plot')));
    var host = document.querySelector('main'), box = el('div', { id: 'mt-run' });
    host.insertBefore(box, host.firstChild);
    var cut = runs.filter(function (r) { return r.truncated; });
    if (cut.length) {
      box.appendChild(el('div', { class: 'mt-warn', id: 'mt-truncated', role: 'alert' },
        '\u26A0\uFE0E ' + (cut.length === 1 && single ? 'The capture is' : cut.length + ' of the captures are') +
        ' truncated (marked in the table): the program ended abnormally or the file was cut short, ' +
        'so the lines stop where the data does.'));
    }
  }

  function table() {
    var body = document.querySelector('#runs tbody');
    runs.forEach(function (r, i) {
      var sw = el('i', { class: 'mt-swatch' });
      sw.style.background = single ? HEAP : colourOf(i, false);
      body.appendChild(el('tr', null,
        el('td', { class: 'fn' }, sw, String(r.label)),
        el('td', { class: 'loc' }, String(r.file)),
        el('td', { class: 'num' }, MT.fmtBytes(r.peak_bytes) + ' at ' + MT.fmtSecs(r.peak_time)),
        el('td', { class: 'num' }, MT.fmtBytes(r.peak_rss_bytes) + ' at ' + MT.fmtSecs(r.peak_rss_time)),
        el('td', { class: 'num' }, MT.fmtSecs(r.duration)),
        el('td', { class: 'num' }, String((r.steps || []).length))));
    });
  }

  /* -------------------------------------------------------------- chart */

  var span = 0;
  runs.forEach(function (r) {
    var t = (r.timeline || {}).t || [];
    span = Math.max(span, +r.duration || 0, t.length ? t[t.length - 1] : 0);
  });
  var unit = span < 120 ? 1 : span < 7200 ? 60 : 3600;
  var unitName = unit === 1 ? 's' : unit === 60 ? 'min' : 'h';
  var TIME_INCRS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];

  function timeTick(v) {
    return v ? +(v / unit).toFixed(6) + ' ' + unitName : '0';
  }

  /*
   * A series' points: its samples (each round's maximum at the round's
   * end), with the peak put where it happened so that the line goes
   * through its marker, and the heap from (0, 0).
   */
  function points(r, rss) {
    var tl = r.timeline || {}, ts = (tl.t || []).slice(), ys = (tl[rss ? 'rss' : 'heap'] || []).slice();
    var pt = rss ? r.peak_rss_time : r.peak_time, pv = rss ? r.peak_rss_bytes : r.peak_bytes;
    if (ts.length && pv) {
      var j = 0;
      while (j < ts.length && ts[j] < pt) j++;
      if (!(ts[j] === pt && ys[j] === pv)) { ts.splice(j, 0, pt); ys.splice(j, 0, pv); }
    }
    if (!rss && ts.length && ts[0] > 0) { ts.unshift(0); ys.unshift(0); }
    // times are in ms: points at the same one (the heap freed at the end)
    // are kept a microsecond apart, as uPlot has one value per time
    for (var k = 1; k < ts.length; k++) if (ts[k] <= ts[k - 1]) ts[k] = ts[k - 1] + 1e-6;
    return [ts, ys];
  }

  /* One table per series for uPlot.join, which puts them on one time axis. */
  function seriesAndData() {
    var tables = [], series = [{ label: 'time', value: function (u, v) { return v == null ? '–' : MT.fmtSecs(v); } }];
    var bytesValue = function (u, v) { return v == null ? '–' : MT.fmtBytes(v); };
    runs.forEach(function (r, i) {
      [[showHeap, false], [showRss, true]].forEach(function (x) {
        if (!x[0]) return;
        var rss = x[1];
        tables.push(points(r, rss));
        series.push({
          label: single ? (rss ? 'RSS' : 'heap') : String(r.label) + (both ? (rss ? ' (RSS)' : ' (heap)') : ''),
          stroke: colourOf(i, rss), width: 1.8, spanGaps: true, value: bytesValue,
          dash: rss && both ? [6, 4] : undefined,
          fill: single && !rss ? 'rgba(194,65,12,0.10)' : undefined,
          points: { show: false }, run: i, rss: rss
        });
      });
    });
    var data = tables.length ? uPlot.join(tables) : [[]];
    return { series: series, data: data };
  }

  var uplot = null;

  function makeChart() {
    var box = $('chart');
    var sd = seriesAndData();
    if (!sd.data[0].length) {
      box.appendChild(el('div', { class: 'mt-empty' }, 'No memory samples over time in these captures.'));
      return;
    }
    var stepRows = runs.filter(function (r) { return (r.steps || []).length; }).length;
    var pr = uPlot.pxRatio || 1;
    uplot = new uPlot({
      width: Math.max(400, box.clientWidth),
      height: 420,
      scales: {
        x: { time: false },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * (1.12 + 0.05 * stepRows) : 1]; } }
      },
      axes: [
        { label: runs.length > 1 ? 'time since the start of each run' : 'time since the start of the run',
          labelSize: 20, incrs: TIME_INCRS, values: function (u, ticks) { return ticks.map(timeTick); } },
        { label: both ? 'heap and RSS' : showRss ? 'RSS' : 'heap', labelSize: 20, size: 76,
          incrs: MT.BYTE_INCRS, values: function (u, ticks) { return ticks.map(MT.fmtBytesShort); } }
      ],
      series: sd.series,
      cursor: { drag: { x: true, y: false, setScale: true } },
      hooks: { draw: [function (u) { overlay(u, pr); }] }
    }, sd.data, box);
  }

  function fit(ctx, name, maxw) {
    var s = String(name == null ? '' : name);
    if (ctx.measureText(s).width <= maxw) return s;
    while (s.length && ctx.measureText(s + '…').width > maxw) s = s.slice(0, -1);
    return s ? s + '…' : '';
  }

  function overlaps(a, b) {
    return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
  }

  /* Steps (a row of names per run with steps) and each series' peak. */
  function overlay(u, pr) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, left = u.bbox.left, right = left + u.bbox.width;
    var taken = [], row = 0;
    // lighter when the bands of several captures overlap
    var rows = runs.filter(function (r) { return (r.steps || []).length; }).length, dim = rows > 1 ? 2.5 : 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, u.bbox.width, h);
    ctx.clip();
    ctx.font = (11 * pr) + 'px system-ui, sans-serif';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    if ($('show-steps').checked) {
      runs.forEach(function (r, i) {
        var steps = r.steps || [];
        if (!steps.length) return;
        var c = single ? '#4b5563' : colourOf(i, false);
        steps.forEach(function (s, k) {
          var x0 = u.valToPos(+s.start, 'x', true), x1 = u.valToPos(+s.end, 'x', true);
          if (x1 < left || x0 > right) return;
          ctx.globalAlpha = (k % 2 ? 0.05 : 0.10) / dim;
          ctx.fillStyle = c;
          ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
          ctx.globalAlpha = 0.7;
          ctx.strokeStyle = c;
          ctx.lineWidth = pr;
          ctx.setLineDash([4 * pr, 3 * pr]);
          ctx.beginPath(); ctx.moveTo(Math.round(x0) + 0.5, top); ctx.lineTo(Math.round(x0) + 0.5, top + h); ctx.stroke();
          ctx.setLineDash([]);
          ctx.globalAlpha = 1;
          var lx = Math.max(x0, left), label = fit(ctx, s.name, Math.min(x1, right) - lx - 8 * pr);
          if (label) {
            var y = top + (2 + row * 15) * pr;
            ctx.fillStyle = single ? '#1f2937' : c;
            ctx.fillText(label, lx + 4 * pr, y);
            taken.push({ x0: lx, y0: y, x1: lx + 8 * pr + ctx.measureText(label).width, y1: y + 14 * pr });
          }
        });
        row++;
      });
    }
    ctx.font = 'bold ' + (11 * pr) + 'px system-ui, sans-serif';
    u.series.forEach(function (s, si) {
      if (!si || !s.show) return;
      var r = runs[s.run];
      var bytes = s.rss ? r.peak_rss_bytes : r.peak_bytes, t = s.rss ? r.peak_rss_time : r.peak_time;
      var x = u.valToPos(t, 'x', true), y = u.valToPos(bytes, 'y', true);
      if (x < left - 1 || x > right + 1) return;
      var c = colourOf(s.run, s.rss);
      ctx.fillStyle = '#fff';
      ctx.beginPath(); ctx.arc(x, y, 5.5 * pr, 0, 2 * Math.PI); ctx.fill();
      ctx.fillStyle = c;
      ctx.beginPath(); ctx.arc(x, y, 4 * pr, 0, 2 * Math.PI); ctx.fill();
      var label = (both ? (s.rss ? 'RSS peak ' : 'heap peak ') : 'peak ') + MT.fmtBytes(bytes) + ' at ' + MT.fmtSecs(t);
      var w = ctx.measureText(label).width + 8 * pr, lh = 17 * pr, box = null;
      var cands = [[x - w / 2, y - 8 * pr - lh], [x + 4 * pr, y - 8 * pr - lh], [x - 4 * pr - w, y - 8 * pr - lh],
        [x + 9 * pr, y - lh / 2], [x - 9 * pr - w, y - lh / 2], [x - w / 2, y + 8 * pr]];
      for (var k = 0; k < cands.length && !box; k++) {
        var bx = Math.min(Math.max(cands[k][0], left + 2), right - w - 2);
        var by = Math.min(Math.max(cands[k][1], top + 2), top + h - lh - 2);
        var b = { x0: bx, y0: by, x1: bx + w, y1: by + lh };
        if (!taken.some(function (o) { return overlaps(o, b); })) box = b;
      }
      if (!box) box = { x0: Math.min(Math.max(x - w / 2, left + 2), right - w - 2), y0: Math.max(top + 2, y - 8 * pr - lh) };
      box.x1 = box.x0 + w; box.y1 = box.y0 + lh;
      taken.push(box);
      ctx.globalAlpha = 0.85;
      ctx.fillStyle = '#fff';
      ctx.fillRect(box.x0, box.y0, w, lh);
      ctx.globalAlpha = 1;
      ctx.fillStyle = c;
      ctx.fillText(label, box.x0 + 4 * pr, box.y0 + 3 * pr);
    });
    ctx.restore();
    document.body.dataset.renders = String((+document.body.dataset.renders || 0) + 1);
  }

  header();
  table();
  makeChart();
  $('show-steps').addEventListener('change', function () { if (uplot) uplot.redraw(false, false); });
  if (!runs.some(function (r) { return (r.steps || []).length; })) $('show-steps').parentNode.hidden = true;
  window.memtide = { runs: runs, uplot: function () { return uplot; } };
  document.body.dataset.ready = '1';
})();
