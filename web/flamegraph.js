/*
 * flamegraph.js - the page script of memtide's flame graph report.
 *
 * Reads the data document (docs/HTML.md), draws memory over time with
 * uPlot and the stacks with d3-flame-graph.  The tree is rebuilt from the
 * stacks whenever a filter changes: one pass over the stacks, a Map per
 * node keyed by frame index, so 50k nodes build in a few milliseconds.
 * Names are only ever set with textContent / d3 .text().
 */
(function () {
  'use strict';

  var doc = MT.loadData();
  var meta = doc.meta, frames = doc.frames, stacks = doc.stacks;
  var threads = MT.threadMap(doc);
  var T = doc.temporal && doc.temporal.t && doc.temporal.t.length ? doc.temporal : null;
  var $ = function (id) { return document.getElementById(id); };

  MT.renderHeader(doc, $('hdr'));

  var state = {
    hideImports: true,
    kinds: 'both',
    inverted: !!meta.inverted,
    split: !!meta.split_threads,
    icicle: true,
    search: '',
    range: null          // {t0, t1, bucket} while a range of a temporal report is shown
  };
  var whole = wholeRun();
  var values = whole;    // {bytes, count} per stack, for what is drawn
  var tree = null, chart = null, uplot = null, renders = 0, timings = {};

  /* ---------------------------------------------------------------- data */

  function wholeRun() {
    var n = stacks.length, bytes = new Float64Array(n), count = new Float64Array(n);
    for (var s = 0; s < n; s++) { bytes[s] = +stacks[s][2] || 0; count[s] = +stacks[s][3] || 0; }
    return { bytes: bytes, count: count };
  }

  // Labels of frames, computed once.
  var frameLabel = frames.map(function (f, i) {
    if (!i && !f) return '???';
    var fn = MT.frameFunction(f), file = f && f[1] ? MT.baseName(String(f[1])) : '';
    if (!file) return fn;
    return fn + ' (' + file + (f[2] ? ':' + f[2] : '') + ')';
  });

  function keepMask() {
    var keep = new Uint8Array(frames.length);
    for (var i = 0; i < frames.length; i++) {
      var f = frames[i];
      if (!f) { keep[i] = 1; continue; }
      var ok = !(state.hideImports && f[4]);
      if (ok && state.kinds === 'py') ok = f[3] !== MT.KIND_NATIVE;
      if (ok && state.kinds === 'native') ok = f[3] === MT.KIND_NATIVE;
      keep[i] = ok ? 1 : 0;
    }
    return keep;
  }

  function newNode(key, name, kind) {
    return { key: key, name: name, kind: kind, v: 0, n: 0, c: null, k1: 0, c1: null, m: null };
  }

  /* The child of node for a frame index (>= 0) or thread (< 0).  Most nodes
   * have one child: it is kept inline, and a Map made for the second. */
  function child(node, key) {
    if (node.c1 === null) return (node.k1 = key, node.c1 = makeChild(key));
    if (node.k1 === key) return node.c1;
    var m = node.m;
    if (!m) { m = node.m = new Map(); m.set(node.k1, node.c1); }
    var c = m.get(key);
    if (!c) m.set(key, c = makeChild(key));
    return c;
  }

  function makeChild(key) {
    if (key < 0) return newNode(key, MT.threadLabel(threads, -1 - key), 'thread');
    var f = frames[key];
    return newNode(key, frameLabel[key] || '???',
      !f ? 'other' : f[4] ? 'imp' : f[0] === '<other>' ? 'other' : f[3] === MT.KIND_NATIVE ? 'native' : 'py');
  }

  /* The tree of what is drawn: totals per node (d3-flame-graph's "v"). */
  function buildTree() {
    var keep = keepMask();
    var root = newNode(0, 'all', 'root');
    var path = [], nodes = 1;
    for (var s = 0; s < stacks.length; s++) {
      var b = values.bytes[s], n = values.count[s];
      if (!(b > 0)) continue;
      var st = stacks[s], fr = st[0] || [];
      path.length = 0;
      for (var i = 0; i < fr.length; i++) if (keep[fr[i]]) path.push(fr[i]);
      if (state.inverted) path.reverse();
      var node = root;
      root.v += b; root.n += n;
      if (state.split) { node = child(node, -1 - (st[1] | 0)); node.v += b; node.n += n; }
      for (var k = 0; k < path.length; k++) {
        node = child(node, path[k]);
        node.v += b; node.n += n;
      }
    }
    // Maps to arrays, biggest first (iterative: stacks can be deep).
    var todo = [root];
    while (todo.length) {
      var x = todo.pop();
      if (x.m) {
        x.c = Array.from(x.m.values());
        x.c.sort(function (a, b2) { return b2.v - a.v; });
        x.m = null;
      } else if (x.c1) {
        x.c = [x.c1];
      }
      x.c1 = null;
      if (x.c) {
        nodes += x.c.length;
        for (var j = 0; j < x.c.length; j++) todo.push(x.c[j]);
      }
    }
    root.name = 'all (' + MT.fmtBytes(root.v) + ')';
    root.nodes = nodes;
    return root;
  }

  /* ------------------------------------------------------------ temporal */

  var liveOrder = null;
  function prepTemporal() {
    var live = T.live || [];
    var order = new Array(live.length), sorted = true;
    for (var i = 0; i < live.length; i++) {
      order[i] = i;
      if (i && live[i][1] < live[i - 1][1]) sorted = false;
    }
    if (!sorted) order.sort(function (a, b) { return live[a][1] - live[b][1] || a - b; });
    liveOrder = order;
  }

  /* Every stack's (bytes, count) at bucket b: the live entries up to b, in order. */
  function stateAt(b) {
    if (!liveOrder) prepTemporal();
    var n = stacks.length, bytes = new Float64Array(n), count = new Float64Array(n);
    var live = T.live || [];
    for (var i = 0; i < liveOrder.length; i++) {
      var e = live[liveOrder[i]];
      if (e[1] > b) break;
      if (e[0] >= 0 && e[0] < n) { bytes[e[0]] = +e[2] || 0; count[e[0]] = +e[3] || 0; }
    }
    return { bytes: bytes, count: count };
  }

  function bucketStart(b) { return b > 0 ? T.t[b - 1] : Math.min(0, T.t[0]); }

  /* The bucket with the largest peak among those overlapping [t0, t1]. */
  function pickBucket(t0, t1) {
    var best = -1;
    for (var b = 0; b < T.t.length; b++) {
      var s = bucketStart(b), e = T.t[b];
      if (e >= t0 && (s < t1 || (b === 0 && s <= t1))) {
        if (best < 0 || T.peak[b] > T.peak[best]) best = b;
      }
    }
    return best;
  }

  function selectRange(t0, t1) {
    if (!T) return false;
    if (t1 < t0) { var x = t0; t0 = t1; t1 = x; }
    var b = pickBucket(t0, t1);
    if (b < 0) {
      $('range-status').textContent = 'No data between ' + MT.fmtSecs(t0) + ' and ' + MT.fmtSecs(t1) + '.';
      return false;
    }
    values = stateAt(b);
    state.range = { t0: t0, t1: t1, bucket: b };
    var st = $('range-status');
    MT.clear(st);
    MT.append(st, [
      'Showing the peak inside ', MT.el('b', null, MT.fmtRange(t0, t1)), ': ',
      MT.el('b', null, MT.fmtBytes(T.peak[b])), ' of heap, reached between ',
      MT.fmtSecs(bucketStart(b)) + ' and ' + MT.fmtSecs(T.t[b]) + '.'
    ]);
    $('range-reset').hidden = false;
    if (uplot) uplot.redraw(false, false);
    draw();
    return true;
  }

  function resetRange() {
    values = whole;
    state.range = null;
    $('range-status').textContent = '';
    $('range-reset').hidden = true;
    if (uplot) {
      uplot.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
      uplot.redraw(false, false);
    }
    draw();
  }

  /* --------------------------------------------------------------- chart */

  function makeChart() {
    var tl = doc.timeline || {}, t = tl.t || [];
    var box = $('chart');
    if (!t.length) {
      box.appendChild(MT.el('div', { class: 'mt-empty' }, 'No memory samples over time in this capture.'));
      $('chart-hint').textContent = '';
      return;
    }
    $('chart-hint').textContent = T
      ? 'Drag across the chart to show the flame graph at the highest point of that range.'
      : 'Drag to zoom the chart, double-click to zoom out. (With memtide flamegraph --temporal, a range chosen here redraws the flame graph.)';
    var pr = uPlot.pxRatio || 1;
    var steps = doc.steps || [];
    var bytesValue = function (u, v) { return v == null ? '–' : MT.fmtBytes(v); };
    var opts = {
      width: Math.max(300, box.clientWidth),
      height: 250,
      scales: {
        x: { time: false },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } }
      },
      axes: [
        { label: 'time (s)', labelSize: 20, values: function (u, ticks) { return ticks.map(function (v) { return +v.toFixed(6) + ''; }); } },
        { size: 76, incrs: MT.BYTE_INCRS, values: function (u, ticks) { return ticks.map(MT.fmtBytesShort); } }
      ],
      series: [
        { label: 'time', value: function (u, v) { return v == null ? '–' : MT.fmtSecs(v); } },
        { label: 'heap', stroke: '#c2410c', width: 1.5, fill: 'rgba(194,65,12,0.10)', value: bytesValue, points: { show: false } },
        { label: 'RSS', stroke: '#1f6feb', width: 1.5, value: bytesValue, points: { show: false } }
      ],
      cursor: { drag: { x: true, y: false, setScale: !T } },
      hooks: {
        setSelect: [function (u) {
          if (!T || u.select.width < 2) return;
          var t0 = u.posToVal(u.select.left, 'x'), t1 = u.posToVal(u.select.left + u.select.width, 'x');
          selectRange(t0, t1);
        }],
        draw: [function (u) { drawOverlay(u, steps, pr); }]
      }
    };
    var series = [t, tl.heap || [], tl.rss || []];
    uplot = new uPlot(opts, series, box);
  }

  /* name cut with an ellipsis to at most maxw pixels; '' when nothing fits */
  function stepLabel(ctx, name, maxw) {
    var label = String(name == null ? '' : name);
    if (ctx.measureText(label).width <= maxw) return label;
    while (label.length && ctx.measureText(label + '…').width > maxw) label = label.slice(0, -1);
    return label ? label + '…' : '';
  }

  function drawOverlay(u, steps, pr) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, left = u.bbox.left, right = left + u.bbox.width;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, u.bbox.width, h);
    ctx.clip();
    ctx.font = (11 * pr) + 'px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left';  /* uPlot leaves the axes' alignment (right) behind */
    for (var i = 0; i < steps.length; i++) {
      var s = steps[i];
      var x0 = u.valToPos(+s.start, 'x', true), x1 = u.valToPos(s.end == null ? +s.start : +s.end, 'x', true);
      if (x1 < left || x0 > right) continue;
      ctx.fillStyle = i % 2 ? 'rgba(90,100,120,0.05)' : 'rgba(90,100,120,0.10)';
      ctx.fillRect(x0, top, Math.max(0, x1 - x0), h);
      ctx.strokeStyle = 'rgba(60,66,80,0.6)';
      ctx.lineWidth = pr;
      ctx.setLineDash([4 * pr, 3 * pr]);
      ctx.beginPath(); ctx.moveTo(Math.round(x0) + 0.5, top); ctx.lineTo(Math.round(x0) + 0.5, top + h); ctx.stroke();
      ctx.setLineDash([]);
      /* the name inside its own band, from its left edge, elided to fit */
      var lx = Math.max(x0, left), label = stepLabel(ctx, s.name, Math.min(x1, right) - lx - 8 * pr);
      if (label) {
        ctx.fillStyle = '#2f3640';
        ctx.fillText(label, lx + 4 * pr, top + 4 * pr + (i % 2) * 14 * pr);
      }
    }
    if (!state.range && meta.peak_time_ms != null && meta.peak_bytes != null && meta.mode !== 'temporary') {
      var px = u.valToPos(meta.peak_time_ms / 1000, 'x', true), py = u.valToPos(meta.peak_bytes, 'y', true);
      if (px >= left && px <= right) {
        ctx.fillStyle = '#c2410c';
        ctx.beginPath(); ctx.arc(px, py, 3.5 * pr, 0, 2 * Math.PI); ctx.fill();
        ctx.textBaseline = 'bottom';
        var pl = 'peak ' + MT.fmtBytes(meta.peak_bytes);
        var pw = ctx.measureText(pl).width;
        ctx.fillText(pl, Math.max(left + 2 * pr, Math.min(px - pw / 2, right - pw - 2 * pr)), Math.max(top + 12 * pr, py - 6 * pr));
      }
    }
    if (state.range && T) {
      var b = state.range.bucket;
      var bx0 = u.valToPos(bucketStart(b), 'x', true), bx1 = u.valToPos(T.t[b], 'x', true);
      ctx.fillStyle = 'rgba(194,65,12,0.22)';
      ctx.fillRect(bx0, top, Math.max(2 * pr, bx1 - bx0), h);
      ctx.fillStyle = '#8a2c06';
      ctx.textBaseline = 'bottom';
      ctx.fillText('peak ' + MT.fmtBytes(T.peak[b]), Math.min(bx1 + 3 * pr, right - 90 * pr), top + h - 4 * pr);
    }
    ctx.restore();
  }

  /* --------------------------------------------------------- flame graph */

  function hash(s) {
    var h = 2166136261;
    for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    return (h >>> 0) / 4294967296;
  }

  var colorCache = new Map();
  function colorOf(d) {
    var key = d.kind + '\u0000' + d.name;
    var c = colorCache.get(key);
    if (c) return c;
    var r = hash(d.name), r2 = hash(d.name + '*');
    switch (d.kind) {
      case 'py': c = 'hsl(' + (22 + 20 * r).toFixed(1) + ',88%,' + (63 + 10 * r2).toFixed(1) + '%)'; break;
      case 'native': c = 'hsl(' + (200 + 18 * r).toFixed(1) + ',66%,' + (68 + 9 * r2).toFixed(1) + '%)'; break;
      case 'thread': c = 'hsl(268,38%,' + (76 + 6 * r).toFixed(1) + '%)'; break;
      case 'root': c = 'hsl(220,10%,72%)'; break;
      default: c = 'hsl(220,8%,' + (76 + 6 * r).toFixed(1) + '%)';
    }
    colorCache.set(key, c);
    return c;
  }

  var mouse = { x: 0, y: 0 };
  document.addEventListener('mousemove', function (e) {
    mouse.x = e.clientX; mouse.y = e.clientY;
    if (!tipEl.hidden) placeTip();
  }, { passive: true });

  var tipEl = $('tip');
  function placeTip() {
    var w = tipEl.offsetWidth, h = tipEl.offsetHeight;
    var x = mouse.x + 14, y = mouse.y + 16;
    if (x + w > window.innerWidth - 8) x = Math.max(8, mouse.x - w - 14);
    if (y + h > window.innerHeight - 8) y = Math.max(8, mouse.y - h - 12);
    tipEl.style.left = x + 'px';
    tipEl.style.top = y + 'px';
  }

  function tip() {}
  tip.show = function (d) {
    var x = d.data, total = tree ? tree.v : 0;
    MT.clear(tipEl);
    var fn, loc = '', kind = '';
    if (x.kind === 'root') { fn = 'all stacks'; }
    else if (x.kind === 'thread') { fn = x.name; kind = 'thread'; }
    else {
      var f = frames[x.key];
      fn = MT.frameFunction(f);
      loc = MT.frameLocation(f);
      kind = (f && f[3] === MT.KIND_NATIVE ? 'native' : 'Python') + ' frame' + (f && f[4] ? ', import machinery' : '');
    }
    MT.append(tipEl, [
      MT.el('div', { class: 't-fn' }, fn),
      loc ? MT.el('div', { class: 't-loc' }, loc) : null,
      kind ? MT.el('div', { class: 't-loc' }, kind) : null,
      MT.el('div', { class: 't-num' }, MT.fmtBytes(x.v) + ' (' + MT.fmtPct(x.v, total) + ') in ' +
        MT.fmtCountOf(x.n, 'allocation'))
    ]);
    tipEl.hidden = false;
    placeTip();
    return tip;
  };
  tip.hide = function () { tipEl.hidden = true; return tip; };

  function searchMatch(d, term) {
    if (!term) return false;
    var x = d.data, t = term.toLowerCase();
    if (x.kind === 'root') return false;
    if (x.kind === 'thread') return x.name.toLowerCase().indexOf(t) >= 0;
    var f = frames[x.key];
    return !!f && (String(f[0] || '').toLowerCase().indexOf(t) >= 0 ||
      String(f[1] || '').toLowerCase().indexOf(t) >= 0);
  }

  var zoomed = null;
  function showDetails() {
    var det = $('details');
    MT.clear(det);
    if (!tree || !tree.v) return;
    var parts = [MT.fmtCountOf(tree.nodes - 1, 'frame') + ', ' + MT.fmtBytes(tree.v) + ' in ' +
      MT.fmtCountOf(tree.n, 'allocation') + '. Click a frame to zoom.'];
    if (zoomed && zoomed.parent) parts.push(' Zoomed into ', MT.el('b', null, zoomed.data.name), '.');
    if (lastSearch) parts.push(' ', lastSearch);
    MT.append(det, parts);
  }
  var lastSearch = '';

  function flameTitle() {
    var what = meta.mode === 'leaks' ? 'memory leaked at exit'
      : meta.mode === 'temporary' ? 'temporary allocations' : 'memory live at the peak';
    var s = 'Flame graph of the ' + what;
    if (state.range) s = 'Flame graph at the peak of ' + MT.fmtRange(state.range.t0, state.range.t1);
    if (tree) s += ' (' + MT.fmtBytes(tree.v) + ')';
    return s;
  }

  var hasNative = frames.some(function (f) { return f && f[3] === MT.KIND_NATIVE; });

  /* Why there is no flame graph to draw, or null. */
  function emptyMessage() {
    if (!stacks.length) return 'No allocations in this report.';
    if (state.kinds === 'native' && !hasNative) {
      return 'This capture has no native frames: run with --native (memtide run --native ...) to record them.';
    }
    return tree.v ? null : 'Nothing to show with these filters.';
  }

  function draw() {
    var box = $('flame');
    if (chart) { try { chart.destroy(); } catch (e) { /* nothing drawn yet */ } chart = null; }
    MT.clear(box);
    tip.hide();
    zoomed = null;
    $('zoom-reset').disabled = true;
    var t0 = performance.now();
    tree = buildTree();
    timings.build = performance.now() - t0;
    $('flame-title').textContent = flameTitle();
    var empty = emptyMessage();
    if (empty) {
      box.appendChild(MT.el('div', { class: 'mt-empty' }, empty));
      showDetails();
      finishRender();
      return;
    }
    chart = flamegraph()
      .width(Math.max(300, box.clientWidth))
      .cellHeight(20)
      .minFrameSize(1)
      .transitionDuration(300)
      .inverted(state.icicle)
      .selfValue(false)
      .sort(false)
      .getName(function (d) { return d.data.name; })
      .tooltip(tip)
      .setColorMapper(function (d) { return d.highlight ? '#e0218a' : colorOf(d.data); })
      .setSearchMatch(searchMatch)
      .setSearchHandler(function (results, sum, total) {
        lastSearch = state.search ? 'Search: ' + MT.fmtCountOf(results.length, 'frame matches', 'frames match') +
          ', ' + MT.fmtBytes(sum) +
          ' (' + (MT.fmtPct(sum, total) || '0%') + ').' : '';
        showDetails();
      })
      .setDetailsHandler(function () {})
      .onClick(function (d) {
        zoomed = d;
        $('zoom-reset').disabled = !d.parent;
        showDetails();
      });
    t0 = performance.now();
    d3.select(box).datum(tree).call(chart);
    timings.draw = performance.now() - t0;
    lastSearch = '';
    if (state.search) chart.search(state.search);
    showDetails();
    finishRender();
  }

  function finishRender() {
    renders++;
    document.body.setAttribute('data-renders', String(renders));
    document.body.setAttribute('data-ready', '1');
  }

  /* ------------------------------------------------------------ controls */

  function setOrientation(icicle) {
    state.icicle = icicle;
    $('orient-icicle').setAttribute('aria-pressed', String(icicle));
    $('orient-flame').setAttribute('aria-pressed', String(!icicle));
    draw();
  }

  $('orient-icicle').addEventListener('click', function () { setOrientation(true); });
  $('orient-flame').addEventListener('click', function () { setOrientation(false); });
  $('hide-imports').addEventListener('change', function (e) { state.hideImports = e.target.checked; draw(); });
  $('kinds').addEventListener('change', function (e) { state.kinds = e.target.value; draw(); });
  $('inverted').checked = state.inverted;
  $('inverted').addEventListener('change', function (e) { state.inverted = e.target.checked; draw(); });
  $('split-threads').checked = state.split;
  $('split-threads').addEventListener('change', function (e) { state.split = e.target.checked; draw(); });
  $('zoom-reset').addEventListener('click', function () { if (chart) chart.resetZoom(); });
  $('range-reset').addEventListener('click', resetRange);

  var searchTimer = 0;
  $('search').addEventListener('input', function (e) {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      state.search = e.target.value.trim();
      if (!chart) return;
      if (state.search) chart.search(state.search);
      else { lastSearch = ''; chart.clear(); showDetails(); }
    }, 150);
  });

  var resizeTimer = 0, lastWidth = 0;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      var w = $('flame').clientWidth;
      if (w === lastWidth) return;
      lastWidth = w;
      if (uplot) uplot.setSize({ width: Math.max(300, $('chart').clientWidth), height: 250 });
      draw();
    }, 200);
  });

  // For tests and the curious: window.memtide.selectRange(t0, t1) etc.
  window.memtide = {
    selectRange: selectRange, reset: resetRange, stateAt: T ? stateAt : null,
    pickBucket: T ? pickBucket : null, tree: function () { return tree; }, state: state,
    chart: function () { return uplot; }, timings: timings
  };

  makeChart();
  lastWidth = $('flame').clientWidth;
  draw();
})();
