// A second, independent client of the TDS EMULATION of SQL Server
// (tests/mssql/tds_emulator.py): Microsoft's own TDS client for Node,
// tedious, which is stricter than FreeTDS. At each TDS version it checks
// the login, @@SPID, sp_getapplock's 0 and -1 (from RETURNSTATUS),
// counted re-grants, error 1223, and a canceled wait (ATTENTION) after
// which the connection still works.
//
//   node tests/mssql/tedious_client.js HOST PORT USER PASSWORD DATABASE
// (tedious from NODE_PATH: ci/test installs it with npm into build/).
// tedious waits in vain for a cancel unless the canceled request's
// response ends in a message of its own before the DONE_ATTN one: ci/test
// runs it with the emulator's attn=split (DATABASE "sqllock_tedious~attn=split").
// Exits 0 when every check passed, 1 otherwise; one line per check.
'use strict';
const { Connection, Request, TYPES } = require('tedious');

const [host, port, user, password, database] = process.argv.slice(2);
const versions = ['7_1', '7_2', '7_3_A', '7_3_B', '7_4'];
let failures = 0;

function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

function connect(tdsVersion, app) {
  return new Promise((resolve, reject) => {
    const c = new Connection({
      server: host,
      authentication: { type: 'default', options: { userName: user, password } },
      options: {
        port: Number(port), database, tdsVersion, appName: app, encrypt: false,
        connectTimeout: 10000, requestTimeout: 0,
      },
    });
    c.on('connect', (err) => (err ? reject(err) : resolve(c)));
    c.on('error', () => {});
    c.connect();
  });
}

// Runs one request: resolves {err, rows, status} (status: RETURNSTATUS).
function run(c, make) {
  return new Promise((resolve) => {
    const out = { err: null, rows: [], status: undefined };
    const r = make((err) => { out.err = err || null; resolve(out); });
    r.on('row', (cols) => out.rows.push(cols.map((x) => x.value)));
    r.on('returnValue', () => {});
    r.on('doneProc', (rowCount, more, returnStatus) => {
      if (returnStatus !== undefined) out.status = returnStatus;
    });
    if (r.isProc) c.callProcedure(r); else c.execSql(r);
  });
}

function sql(c, text) {
  return run(c, (done) => new Request(text, done));
}

function proc(c, name, args) {
  return run(c, (done) => {
    const r = new Request(name, done);
    r.isProc = true;
    for (const [n, t, v] of args) r.addParameter(n, t, v);
    return r;
  });
}

function getapplock(c, res, timeout) {
  return proc(c, 'sp_getapplock', [['Resource', TYPES.NVarChar, res],
    ['LockMode', TYPES.VarChar, 'Exclusive'], ['LockOwner', TYPES.VarChar, 'Session'],
    ['LockTimeout', TYPES.Int, timeout]]);
}

function releaseapplock(c, res) {
  return proc(c, 'sp_releaseapplock', [['Resource', TYPES.NVarChar, res],
    ['LockOwner', TYPES.VarChar, 'Session']]);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function one(v) {
  const res = `tedious-${process.pid}-${v}`;
  const a = await connect(v, `tedious-a-${v}`);
  const b = await connect(v, `tedious-b-${v}`);
  const spid = await sql(a, 'SELECT @@SPID');
  check(!spid.err && spid.rows.length === 1 && spid.rows[0][0] > 0, `${v}: SELECT @@SPID`);
  let r = await getapplock(a, res, 0);
  check(!r.err && r.status === 0, `${v}: sp_getapplock granted (0), got ${r.status}`);
  r = await getapplock(b, res, 0);
  check(!r.err && r.status === -1, `${v}: a try on a held lock is -1, got ${r.status}`);
  r = await getapplock(a, res, 0);
  check(!r.err && r.status === 0, `${v}: granted again to its owner (counted)`);
  // A wait canceled by an ATTENTION ends, and b stays usable.
  const waiting = getapplock(b, res, -1);
  await sleep(300);
  const t0 = Date.now();
  b.cancel();
  r = await Promise.race([waiting, sleep(5000).then(() => ({ timedOut: true }))]);
  const how = r.timedOut ? 'no answer in 5 s'
    : `${r.err ? r.err.code : 'no error'} after ${Date.now() - t0} ms`;
  check(!r.timedOut && r.err && r.err.code === 'ECANCEL', `${v}: a canceled wait ends (${how})`);
  if (!r.timedOut) {
    const again = await sql(b, 'SELECT 1');
    check(!again.err && again.rows[0][0] === 1, `${v}: the connection works after the cancel`);
  }
  r = await releaseapplock(a, res);
  check(!r.err && r.status === 0, `${v}: first release`);
  r = await releaseapplock(a, res);
  check(!r.err && r.status === 0, `${v}: second release (two grants, two releases)`);
  r = await releaseapplock(a, res);
  check(r.err && r.err.number === 1223, `${v}: releasing a lock not held is error 1223`);
  a.close();
  b.close();
}

(async () => {
  for (const v of versions) {
    try {
      await one(v);
    } catch (e) {
      check(false, `${v}: ${e.message}`);
    }
  }
  console.log(failures ? `tedious: ${failures} checks failed` : 'tedious: all checks passed');
  process.exit(failures ? 1 : 0);
})();
