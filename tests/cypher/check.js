#!/usr/bin/env node
// Check quickpage's captured query texts with Neo4j's own Cypher front end.
//
//   node check.js CAPTURED.json      (capture.py writes it)
//
// Each distinct text is parsed and semantically analysed by
// @neo4j-cypher/language-support (Neo4j's parser and the semantic analysis
// of its Cypher front end) with a neuPrint schema (schema.json: labels,
// property keys, the functions of Neo4j and APOC that quickpage may call;
// any other function is an error), as sent and after neuPrintHTTP's label
// rewrite for every flavor's dataset name. Beyond the front end: only the
// constructs schema.json lists (each checked against Neo4j 4.4 and 5,
// docs/queries.md), none of Cypher 5's own; each string literal decodes by
// Cypher's escape rules, holds no label the rewrite would replace, is the
// same after the rewrite, and is a name quickpage meant (a spelling of a
// page stem of that run, or a primary ROI); every type of the run's oracle
// is asked for; no body passes the run's max_query_bytes.
// First, self-tests: planted faults (a syntax error, an unknown function,
// an unescaped ':Neuron' in a literal, a Cypher-5-only subquery), alone and
// planted into a captured text, must each be rejected for that reason.
'use strict';

const fs = require('fs');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const ls = require('@neo4j-cypher/language-support');

const SCHEMA = JSON.parse(fs.readFileSync(path.join(__dirname, 'schema.json'), 'utf8'));
const VERSION = 'CYPHER 5';

// ---- the schema as the front end takes it

function declareFunction(f) {
  const args = f.args.map(([name, type, dflt]) => {
    const a = { name, description: '', type, isDeprecated: false };
    if (dflt !== undefined) a.default = `DefaultParameterValue{value=${dflt}, type=${type}}`;
    return a;
  });
  const sig = args.map((a) => `${a.name}${a.default !== undefined ? ' = ' : ' :: '}${a.type}`);
  return {
    name: f.name, category: '', description: '', isBuiltIn: !f.name.includes('.'),
    argumentDescription: args, returnDescription: f.returns,
    signature: `${f.name}(${sig.join(', ')}) :: ${f.returns}`,
    aggregating: f.aggregating, isDeprecated: false,
  };
}

const FUNCTIONS = {};
for (const f of SCHEMA.functions) FUNCTIONS[f.name] = declareFunction(f);
const FUNCTION_NAMES = new Set(SCHEMA.functions.map((f) => f.name.toLowerCase()));

function dbSchema(labels) {
  return {
    labels, relationshipTypes: SCHEMA.relationshipTypes, propertyKeys: SCHEMA.propertyKeys,
    functions: { [VERSION]: FUNCTIONS }, procedures: { [VERSION]: {} },
    defaultLanguage: VERSION,
  };
}

const ALLOWED_RULES = new Set();
const ALLOWED_TOKENS = new Set(['EOF']);
for (const c of Object.values(SCHEMA.constructs)) {
  c.rules.forEach((r) => ALLOWED_RULES.add(r));
  c.tokens.forEach((t) => ALLOWED_TOKENS.add(t));
}
const PROPERTY_KEYS = new Set(SCHEMA.propertyKeys);
const REWRITTEN = SCHEMA.rewritten_labels;

// ---- neuPrintHTTP's label rewrite
// As connectome-neuprint/neuPrintHTTP v1.9.2 storage/masterdb.go
// (CypherWrapper.CypherRequest) does it: plain text replacement over the
// whole query, literals and comments included, with the dataset name
// before ':'; ':SynapsesTo' is shielded from the ':Synapse' replacement.
function rewrite(text, dataset) {
  const root = dataset.split(':')[0];
  let q = text.split(':SynapsesTo').join(':XSynapsesTo');
  for (const l of REWRITTEN) q = q.split(`:${l}`).join(`:\`${root}_${l}\``);
  for (const l of REWRITTEN) q = q.split(`:\`${l}\``).join(`:\`${root}_${l}\``);
  return q.split(':XSynapsesTo').join(':SynapsesTo');
}

function labelsFor(dataset) {
  if (!dataset) return SCHEMA.labels;
  const root = dataset.split(':')[0];
  return SCHEMA.labels.map((l) => (REWRITTEN.includes(l) ? `${root}_${l}` : l));
}

// ---- string literals: Cypher's escapes

const ESCAPES = { '\\': '\\', "'": "'", '"': '"', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

// -> [value, null] or [null, why]
function decodeLiteral(raw) {
  const q = raw[0];
  if ((q !== "'" && q !== '"') || raw[raw.length - 1] !== q || raw.length < 2)
    return [null, 'not a quoted string'];
  const body = raw.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      if (c === q) return [null, `unescaped ${q} at ${i}`];
      out += c;
      continue;
    }
    const e = body[++i];
    if (e in ESCAPES) {
      out += ESCAPES[e];
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex))
        return [null, `bad \\${e} escape at ${i - 1}`];
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) return [null, `\\${e}${hex} is past U+10FFFF`];
      out += String.fromCodePoint(cp);
      i += n;
    } else {
      return [null, `unknown escape \\${e === undefined ? '' : e} at ${i - 1}`];
    }
  }
  // (String.prototype.isWellFormed is not in node 18)
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(out))
    return [null, 'a lone surrogate'];
  return [out, null];
}

// ---- one text through the front end

function walk(ctx, parser, onRule) {
  if (ctx.ruleIndex !== undefined) onRule(parser.ruleNames[ctx.ruleIndex], ctx);
  for (const ch of ctx.children || []) walk(ch, parser, onRule);
}

function tokenName(t) {
  if (t.type === -1) return 'EOF';
  return ls.CypherLexer.symbolicNames[t.type] || String(t.type);
}

// Problems of TEXT (a query as sent when DATASET is null, else as run for
// DATASET): [{kind, msg}]; and its string literals, decoded.
// FULL: the semantic analysis too (the parser alone otherwise).
function checkText(text, dataset, full) {
  const problems = [];
  const bad = (kind, msg) => problems.push({ kind, msg });
  const st = ls.parserWrapper.parse(text).statementsParsing;
  if (st.length !== 1) {
    bad('syntax', `${st.length} statements, not 1`);
    return { problems, literals: [] };
  }
  const s = st[0];
  // The parser's own count: this version of the package leaves
  // syntaxErrors empty and words the errors in lintCypherQuery.
  // (antlr4 4.13's JavaScript Parser keeps the count in _syntaxErrors)
  if (typeof s.parser._syntaxErrors !== 'number') throw new Error('cannot read the parser\'s syntax error count');
  const nsyntax = s.parser._syntaxErrors + s.syntaxErrors.length;
  if (nsyntax) bad('syntax', `the parser found ${nsyntax} syntax error(s)`);
  if (s.cypherVersionError) bad('syntax', s.cypherVersionError.message);
  const labels = new Set(labelsFor(dataset));
  for (const l of s.collectedLabelOrRelTypes) {
    const name = l.labelText.replace(/^`(.*)`$/, '$1');
    if (!labels.has(name) && !SCHEMA.relationshipTypes.includes(name))
      bad('schema', `label ${l.labelText} is not in the neuPrint schema`);
  }
  for (const f of s.collectedFunctions) {
    if (!FUNCTION_NAMES.has(f.name.toLowerCase()))
      bad('function-list', `function ${f.name} is not one quickpage may call (schema.json)`);
  }
  if (!nsyntax) {
    walk(s.ctx, s.parser, (rule, ctx) => {
      if (rule in SCHEMA.cypher5_only) bad('cypher5', `${SCHEMA.cypher5_only[rule]}: ${ctx.getText()}`);
      else if (!ALLOWED_RULES.has(rule)) bad('construct', `construct ${rule} is not among those checked against Neo4j 4.4 and 5 (schema.json): ${ctx.getText().slice(0, 80)}`);
      if (rule === 'propertyKeyName') {
        const k = ctx.getText().replace(/^`(.*)`$/, '$1');
        if (!PROPERTY_KEYS.has(k)) bad('schema', `property key ${k} is not in the neuPrint schema`);
      }
    });
  }
  const literals = [];
  for (const t of s.tokens) {
    if (t.channel !== 0) continue;
    const name = tokenName(t);
    if (!ALLOWED_TOKENS.has(name)) bad('construct', `token ${name} (${t.text}) is not among those checked against Neo4j 4.4 and 5`);
    if (name !== 'STRING_LITERAL1' && name !== 'STRING_LITERAL2') continue;
    const [v, why] = decodeLiteral(t.text);
    if (why) bad('literal', `literal ${t.text.slice(0, 60)} does not decode: ${why}`);
    else literals.push(v);
    if (dataset === null && rewrite(t.text, 'x') !== t.text)
      bad('label-literal', `literal ${t.text.slice(0, 60)} holds a label (:Neuron, :Meta, ...) neuPrintHTTP's rewrite would change`);
  }
  if (full) {
    for (const d of ls.lintCypherQuery(text, dbSchema([...labels]))) {
      let kind = /^Function .* is not present/.test(d.message) ? 'function' : 'semantic';
      if (nsyntax) kind = 'syntax';
      bad(kind, `${d.severity === 1 ? 'error' : 'warning'}: ${d.message.split('\n')[0]} (at offset ${d.offsets.start})`);
    }
  }
  return { problems, literals };
}

// A text as sent (full), and after the rewrite for each of DATASETS: full
// for DATASETS[FULLAT], the parser for the others; the literals must not
// change. -> {problems, literals}
function checkAll(text, datasets, fullAt) {
  const sent = checkText(text, null, true);
  const problems = sent.problems.map((p) => ({ ...p, msg: `as sent: ${p.msg}` }));
  datasets.forEach((ds, i) => {
    const r = checkText(rewrite(text, ds), ds, i === fullAt);
    r.problems.forEach((p) => problems.push({ ...p, msg: `rewritten for ${ds}: ${p.msg}` }));
    if (JSON.stringify(r.literals) !== JSON.stringify(sent.literals)) {
      const j = r.literals.findIndex((v, k) => v !== sent.literals[k]);
      const what = j < 0 ? `${sent.literals.length} literals became ${r.literals.length}`
        : `literal ${JSON.stringify(sent.literals[j])} became ${JSON.stringify(r.literals[j])}`;
      problems.push({ kind: 'rewrite-literal', msg: `rewritten for ${ds}: ${what}` });
    }
  });
  return { problems, literals: sent.literals };
}

// ---- reporting

let passed = 0;
let failed = 0;
function result(ok, what, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'FAIL'} ${what}${ok || !detail ? '' : '\n    ' + detail}`);
}

function brief(problems) {
  return problems.slice(0, 5).map((p) => `[${p.kind}] ${p.msg}`).join('\n    ');
}

// ---- self-tests: the checker rejects each planted fault, for its reason

const CLEAN = "UNWIND ['LC10a', 'PN\\u003ANeuron_like'] AS t MATCH (n:Neuron) WHERE n.type = t " +
  'RETURN n.type AS type, coalesce(n.celltypePredictedNt, n.predictedNt) AS pnt, count(n) AS cells';
const CLEAN_ROIS = "UNWIND ['LC10a'] AS t MATCH (n:Neuron) WHERE n.type = t WITH n.type AS type, " +
  'apoc.convert.fromJsonMap(n.roiInfo) AS ri UNWIND keys(ri) AS roi WITH type, roi, ri[roi] AS c ' +
  "WHERE roi IN ['ME(R)'] RETURN type, roi, sum(c.pre) AS pre";
const PLANTS = [
  ['a syntax error', 'syntax', (t) => t.replace(' RETURN ', ' RETRN ')],
  // 'function': the front end's semantic analysis says so itself
  ['an unknown function', 'function', (t) => t.replace('coalesce(', 'coalesec(')],
  ['an unknown function', 'function-list', (t) => t.replace('coalesce(', 'coalesec(')],
  ['an unescaped :Neuron in a literal', 'rewrite-literal', (t) => t.replace('\\u003ANeuron', ':Neuron')],
  ['an unescaped :Neuron in a literal', 'label-literal', (t) => t.replace('\\u003ANeuron', ':Neuron')],
  ['a COUNT { } subquery (Cypher 5)', 'cypher5', (t) => t.replace('count(n)', 'COUNT { (n)--() }')],
  ['an unknown property key', 'schema', (t) => t.replace('n.type = t', 'n.tpye = t')],
  ['two statements', 'syntax', (t) => `${t}; ${t}`],
  ['a bad escape', 'literal', (t) => t.replace("'LC10a'", "'LC\\q10a'")],
  // valid as sent (an unknown label), a syntax error once rewritten
  ['a label the rewrite breaks (:NeuronX)', 'syntax', (t) => t.replace('(n:Neuron)', '(n:NeuronX)')],
  ['an unknown APOC function', 'function', (t) => t.replace('apoc.convert.fromJsonMap(', 'apoc.convert.fromJsonMapp(')],
  ['a function called with too many arguments', 'semantic', (t) => t.replace('keys(ri)', 'keys(ri, ri)')],
];

// Each plant into the first of HOSTS it fits (the texts themselves pass:
// the hand-written one is checked here, the captured ones below).
function selfTest(where, hosts, datasets) {
  for (const [what, kind, plant] of PLANTS) {
    const text = hosts.find((h) => plant(h) !== h);
    if (text === undefined) {
      result(false, `self-test: ${what} planted into ${where}`, 'no text has a place to plant it');
      continue;
    }
    const r = checkAll(plant(text), datasets, 0);
    result(r.problems.some((p) => p.kind === kind),
      `self-test: ${what} planted into ${where} (${text.length} chars) is rejected [${kind}]`,
      r.problems.length ? `rejected only for: ${brief(r.problems)}` : 'accepted');
  }
}

// ---- the captured runs

function fileRule(name) {
  return name.replace(/[/ ]/g, '_');
}

function utf8Length(s) {
  return Buffer.byteLength(s, 'utf8');
}

// The texts of SHARE (0: even indices, 1: odd) -> [[index, {problems, literals}]]
function checkShare(texts, datasets, share) {
  const out = [];
  for (let i = share; i < texts.length; i += 2) out.push([i, checkAll(texts[i], datasets, i % datasets.length)]);
  return out;
}

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node check.js CAPTURED.json');
    process.exit(2);
  }
  const runs = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!Array.isArray(runs) || runs.length === 0) {
    console.error(`check.js: ${file} holds no run`);
    process.exit(1);
  }
  const datasets = [...new Set(runs.map((r) => r.dataset))];

  const clean = checkAll(CLEAN, datasets, 0);
  result(clean.problems.length === 0, 'self-test: the hand-written text passes', brief(clean.problems));
  selfTest('a hand-written text', [CLEAN, CLEAN_ROIS], datasets);
  const texts = [...new Set(runs.flatMap((r) => r.queries.map((q) => q.cypher)))];
  selfTest('a captured text', [...texts].sort((a, b) => a.length - b.length), datasets);

  // Each distinct text once: the front end's analysis is what takes time
  // (~2.5 s for a 134 kB batch), so a worker thread takes every other one.
  const checked = new Array(texts.length);
  const worker = new Worker(__filename, { workerData: { texts, datasets } });
  const theirs = new Promise((resolve, reject) => {
    worker.on('message', resolve);
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`the worker thread exited (${code}) with no result`)));
  });
  checkShare(texts, datasets, 0).forEach(([i, r]) => { checked[i] = r; });
  (await theirs).forEach(([i, r]) => { checked[i] = r; });
  const decoded = new Map();
  texts.forEach((t, i) => {
    const r = checked[i];
    decoded.set(t, r.literals);
    const shape = t.slice(0, 40).replace(/\s+/g, ' ');
    result(r.problems.length === 0, `text ${i + 1}/${texts.length} (${t.length} chars: ${shape}...)`, brief(r.problems));
  });

  for (const run of runs) {
    const stems = new Set(run.stems);
    const rois = new Set(run.rois);
    const asked = new Set();
    const wrong = [];
    let biggest = 0;
    for (const q of run.queries) {
      const want = rewrite(q.cypher, q.dataset);
      if (q.run !== want) wrong.push(`the emulator ran a text other than neuPrintHTTP's rewrite of it: ${q.run.slice(0, 80)}`);
      if (q.dataset !== run.dataset) wrong.push(`a query for dataset ${q.dataset}`);
      for (const v of decoded.get(q.cypher)) {
        asked.add(v);
        if (!rois.has(v) && !stems.has(fileRule(v)))
          wrong.push(`literal ${JSON.stringify(v)} is neither a spelling of a page stem nor a primary ROI`);
      }
      biggest = Math.max(biggest, utf8Length(JSON.stringify({ cypher: q.cypher, dataset: q.dataset })));
    }
    for (const t of run.types) if (!asked.has(t)) wrong.push(`type ${JSON.stringify(t)} of the oracle was never asked for`);
    if (biggest > run.max_query_bytes) wrong.push(`a body of ${biggest} bytes passes max_query_bytes ${run.max_query_bytes}`);
    if (run.max_query_bytes < 65536 && biggest < run.max_query_bytes * 0.75)
      wrong.push(`no batch came near max_query_bytes ${run.max_query_bytes} (largest ${biggest} bytes)`);
    result(wrong.length === 0, `run ${run.run}: ${run.queries.length} texts, ${asked.size} literals, ` +
      `every one a name quickpage meant, all ${run.types.length} types asked for, largest body ${biggest} bytes`,
      wrong.slice(0, 5).join('\n    '));
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

if (isMainThread) {
  main().catch((e) => {
    console.error(`check.js: ${e.stack || e}`);
    process.exit(1);
  });
} else {
  parentPort.postMessage(checkShare(workerData.texts, workerData.datasets, 1));
}
