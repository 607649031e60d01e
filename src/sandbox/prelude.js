// Evaluated once per tool call, before the tool's code, in the call's fresh realm.
// `hostLog(level, line)` and `hostCall(method, argsJson)` are the only native functions;
// they stay private to this closure. Everything exposed is frozen.
(function (hostLog, hostCall) {
  'use strict';
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const freeze = Object.freeze;
  const define = Object.defineProperty;
  const toStr = String;
  const global = globalThis;

  // Remove what a tool has no business with, should an engine version ever add it.
  for (const name of ['require', 'process', 'fetch', 'Deno', 'std', 'os', 'setTimeout',
    'setInterval', 'clearTimeout', 'clearInterval', 'queueMicrotask', 'Atomics',
    'SharedArrayBuffer', 'WebAssembly', 'navigator', 'gc', 'scriptArgs', 'print']) {
    delete global[name];
  }

  const show = (v) => {
    if (typeof v === 'string') return v;
    try {
      if (typeof v === 'object' && v !== null && !(v instanceof Error)) {
        const s = stringify(v);
        if (s !== undefined) return s;
      }
    } catch (_) { /* cyclic, BigInt: fall through */ }
    try {
      if (v instanceof Error) return toStr(v) + (v.stack ? '\n' + v.stack : '');
      return toStr(v);
    } catch (_) {
      return '[unprintable]';
    }
  };
  const logger = (level) => freeze(function (...args) {
    let line = '';
    for (let i = 0; i < args.length; i++) line += (i ? ' ' : '') + show(args[i]);
    hostLog(level, line);
  });
  const console = freeze({
    log: logger('log'),
    info: logger('info'),
    warn: logger('warn'),
    error: logger('error'),
    debug: logger('debug'),
  });

  const call = (method, args) => {
    const json = stringify(args);
    return parse(hostCall(method, json === undefined ? 'null' : json));
  };
  const payload = freeze({
    find: freeze(async function find(args) { return call('find', args); }),
    findByID: freeze(async function findByID(args) { return call('findByID', args); }),
    create: freeze(async function create(args) { return call('create', args); }),
    update: freeze(async function update(args) { return call('update', args); }),
    delete: freeze(async function (args) { return call('delete', args); }),
    count: freeze(async function count(args) { return call('count', args); }),
  });

  define(global, 'console', { value: console, writable: false, enumerable: false, configurable: false });
  define(global, 'payload', { value: payload, writable: false, enumerable: false, configurable: false });
  return payload;
})
