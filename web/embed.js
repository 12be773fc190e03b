#!/usr/bin/env node
/*
 * embed.js - builds memtide's HTML report pages and embeds them in C.
 *
 *   npm ci --prefix web           # installs the pinned libraries
 *   node web/embed.js OUTDIR      # writes OUTDIR/assets.c
 *   node web/embed.js --html DIR  # writes DIR/flamegraph.html, DIR/table.html, DIR/bench.html,
 *                                 # DIR/plot.html
 *
 * Each page is its template (web/*.html) with {{CSS}}, {{JS_LIBS}},
 * {{APP_JS}}, {{LICENSES}} and {{CSP_SCRIPTS}} substituted; {{TITLE}} and
 * {{DATA}} are left for the C side, each exactly once, TITLE before DATA.
 * The output depends on the input files only (no dates, no paths), and a
 * file is rewritten only when its contents change.  See docs/HTML.md.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const WEB = __dirname;
const NM = path.join(WEB, 'node_modules');

// The libraries that go into the pages, as shipped in their dist/ folders.
const LIBS = {
  d3: { js: ['dist/d3.min.js'] },
  'd3-flame-graph': { js: ['dist/d3-flamegraph.min.js'], css: ['dist/d3-flamegraph.css'] },
  uplot: { js: ['dist/uPlot.iife.min.js'], css: ['dist/uPlot.min.css'] },
};

// Dependencies that d3-dsv declares for its command-line tools only: none
// of their code is in d3.min.js, so their licences are not needed.
const NOT_BUNDLED = new Set(['commander', 'iconv-lite', 'rw', 'safer-buffer']);

const PAGES = [
  {
    name: 'flamegraph',
    template: 'flamegraph.html',
    libs: ['d3', 'd3-flame-graph', 'uplot'],
    css: ['style.css'],
    app: ['common.js', 'flamegraph.js'],
  },
  {
    name: 'table',
    template: 'table.html',
    libs: [],
    css: ['style.css'],
    app: ['common.js', 'table.js'],
  },
  {
    name: 'bench',
    template: 'bench.html',
    libs: ['uplot'],
    css: ['style.css'],
    app: ['common.js', 'bench.js'],
  },
  {
    name: 'plot',
    template: 'plot.html',
    libs: ['uplot'],
    css: ['style.css'],
    app: ['common.js', 'plot.js'],
  },
];

function die(msg) {
  process.stderr.write('embed.js: ' + msg + '\n');
  process.exit(1);
}

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (file.startsWith(NM)) die(`${file}: ${e.code}; run 'npm ci --prefix web' first`);
    die(`${file}: ${e.message}`);
  }
}

function pkgJson(name) {
  return JSON.parse(read(path.join(NM, name, 'package.json')));
}

function checkVersions() {
  const want = JSON.parse(read(path.join(WEB, 'package.json'))).dependencies;
  for (const [name, version] of Object.entries(want)) {
    const have = pkgJson(name).version;
    if (have !== version) die(`node_modules has ${name} ${have}, package.json pins ${version}; run 'npm ci --prefix web'`);
  }
}

/* The packages whose code is in the libraries: each one and its dependencies. */
function bundled(libs) {
  const seen = new Set();
  const todo = libs.slice();
  while (todo.length) {
    const name = todo.pop();
    if (seen.has(name) || NOT_BUNDLED.has(name)) continue;
    seen.add(name);
    todo.push(...Object.keys(pkgJson(name).dependencies || {}));
  }
  return Array.from(seen).sort();
}

function licenceText(name) {
  const dir = path.join(NM, name);
  const file = fs.readdirSync(dir).sort().find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  if (!file) die(`no licence file in ${dir}`);
  return read(path.join(dir, file)).replace(/\r\n/g, '\n').trim();
}

function escapeHtml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/* A <details> block with the licence of every bundled package, identical texts once. */
function licences(libs) {
  if (!libs.length) return '';
  const byText = new Map();
  for (const name of bundled(libs)) {
    const p = pkgJson(name);
    const text = licenceText(name);
    if (!byText.has(text)) byText.set(text, []);
    byText.get(text).push(`${name} ${p.version} (${p.license || 'see below'})`);
  }
  const top = libs.map((n) => `${n} ${pkgJson(n).version}`).join(', ');
  let out = '<details id="licences">\n<summary>Third-party software in this page: ' + escapeHtml(top) +
    ' (with their dependencies) and their licences</summary>\n';
  for (const [text, names] of byText) {
    out += '<p>' + escapeHtml(names.join(', ')) + ':</p>\n<pre>' + escapeHtml(text) + '</pre>\n';
  }
  return out + '</details>';
}

function checkInline(kind, text, where) {
  const bad = kind === 'script' ? /<\/script|<!--|<script/i : /<\/style/i;
  if (bad.test(text)) die(`${where} contains ${bad} and cannot be inlined in a <${kind}>`);
}

function buildPage(page) {
  const css = [];
  const js = [];
  for (const lib of page.libs) {
    for (const f of LIBS[lib].css || []) css.push(`/* ${lib}/${f} */\n` + read(path.join(NM, lib, f)));
    for (const f of LIBS[lib].js) js.push(`/* ${lib}/${f} */\n` + read(path.join(NM, lib, f)));
  }
  for (const f of page.css) css.push(`/* memtide web/${f} */\n` + read(path.join(WEB, f)));
  const app = page.app.map((f) => read(path.join(WEB, f))).join('\n');
  const values = {
    CSS: css.join('\n'),
    JS_LIBS: js.join('\n;\n'),
    APP_JS: app,
    LICENSES: licences(page.libs),
  };
  checkInline('style', values.CSS, page.name + ' CSS');
  checkInline('script', values.JS_LIBS, page.name + ' JS_LIBS');
  checkInline('script', values.APP_JS, page.name + ' APP_JS');

  const template = read(path.join(WEB, page.template));
  // One pass, so that nothing substituted is scanned again.
  let html = template.replace(/\{\{([A-Z_]+)\}\}/g, (m, key) => (key in values ? values[key] : m));

  // CSP: only the page's own inline scripts may run (their hashes), so an
  // inline event handler that got into the page would still be refused.
  const hashes = [];
  const re = /<script>([\s\S]*?)<\/script>/g;
  let m;
  while ((m = re.exec(html))) {
    hashes.push(`'sha256-${crypto.createHash('sha256').update(m[1], 'utf8').digest('base64')}'`);
  }
  if (!hashes.length) die(`${page.template}: no <script>`);
  html = html.replace('{{CSP_SCRIPTS}}', hashes.join(' '));

  const left = html.match(/\{\{[A-Z_]+\}\}/g) || [];
  if (left.join(',') !== '{{TITLE}},{{DATA}}') {
    die(`${page.template}: placeholders left after substitution are ${left.join(',') || 'none'}; ` +
      'want {{TITLE}} then {{DATA}}, once each');
  }
  return html;
}

/* A C string literal, split into lines: every byte that is not plain
 * printable ASCII as a 3-digit octal escape, "?" escaped (trigraphs). */
function cString(buf) {
  const lines = [];
  let cur = '';
  let width = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    let piece;
    if (b === 0x22) piece = '\\"';
    else if (b === 0x5c) piece = '\\\\';
    else if (b === 0x3f) piece = '\\?';
    else if (b === 0x0a) piece = '\\n';
    else if (b === 0x09) piece = '\\t';
    else if (b >= 0x20 && b < 0x7f) piece = String.fromCharCode(b);
    else piece = '\\' + b.toString(8).padStart(3, '0');
    cur += piece;
    width += piece.length;
    if (b === 0x0a || width >= 100) {
      lines.push('"' + cur + '"');
      cur = '';
      width = 0;
    }
  }
  if (cur || !lines.length) lines.push('"' + cur + '"');
  return lines.join('\n');
}

function writeIfChanged(file, text) {
  try {
    if (fs.readFileSync(file, 'utf8') === text) return false;
  } catch (e) { /* new file */ }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = file + '.tmp' + process.pid;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
  return true;
}

function main(argv) {
  let htmlDir = null;
  let outDir = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--html') htmlDir = argv[++i];
    else if (argv[i] === '-h' || argv[i] === '--help') {
      process.stdout.write('usage: node web/embed.js OUTDIR            writes OUTDIR/assets.c\n' +
        '       node web/embed.js --html DIR        writes DIR/<page>.html (TITLE and DATA left)\n');
      return;
    } else if (!outDir) outDir = argv[i];
    else die(`unexpected argument ${argv[i]}`);
  }
  if (!outDir && !htmlDir) die('usage: node web/embed.js OUTDIR | --html DIR');
  checkVersions();
  const pages = PAGES.map((p) => ({ name: p.name, html: buildPage(p) }));

  if (htmlDir) {
    for (const p of pages) writeIfChanged(path.join(htmlDir, p.name + '.html'), p.html);
  }
  if (outDir) {
    const versions = Object.keys(LIBS).map((n) => `${n} ${pkgJson(n).version}`).join(', ');
    let c = '/*\n * Generated by web/embed.js from web/ and the npm packages pinned by\n' +
      ' * web/package-lock.json (' + versions + '). Do not edit.\n' +
      ' * Declared in web/assets.h; see docs/HTML.md.\n */\n';
    for (const p of pages) {
      const sym = 'mt_asset_' + p.name + '_html';
      c += `\nconst char ${sym}[] =\n${cString(Buffer.from(p.html, 'utf8'))};\n`;
      c += `const unsigned long ${sym}_len = sizeof(${sym}) - 1;\n`;
    }
    writeIfChanged(path.join(outDir, 'assets.c'), c);
  }
}

main(process.argv.slice(2));
