#!/usr/bin/python3
"""
THIS IS AN EMULATION, NOT SQL SERVER. A TDS server (the protocol of
[MS-TDS]) that implements SQL Server's application locks (sp_getapplock,
sp_releaseapplock, APPLOCK_MODE, APPLOCK_TEST) and the few other things
sqllock's tests ask of a SQL Server (@@SPID, @@TRANCOUNT, KILL, SET
LOCK_TIMEOUT, sys.dm_exec_sessions / sys.dm_tran_locks views and a counter
table), so that the mssql-applock adapter can be tested through a real
SQL Server ODBC driver (FreeTDS). It behaves as Microsoft's documentation
says SQL Server does; it has never been compared with a real SQL Server.

Python 3 standard library only. Usage:
  tds_emulator.py --port N [--host 127.0.0.1] [--user U --password P]
                  [--ready-file F] [--log F]
Prints "listening on HOST:PORT" once it accepts connections.

Where the documentation leaves the token stream open, a switch chooses.
The switches are per connection, from the login's database name:
"sqllock_test" alone is the default, "sqllock_test~count=0~inproc=1" sets
two switches (the database is still "sqllock_test": as in SQL Server, an
applock's resource belongs to a database, so runs that must not meet use
different ones). They are:
  count=1|0    DONEPROC of a procedure call carries DONE_COUNT (default 1)
  inproc=0|1   a DONEINPROC token precedes RETURNSTATUS (default 0)
  errors=0|1|2 a -1 (timeout) or -3 (deadlock) return code comes with the
               ERROR 1222 or 1205 beside it (1), or the error comes
               instead of any return code, 1223 and validation errors
               too (2) (default 0: no error for -1, as documented; 1223
               beside -999)
  attn=bare|split  how a request interrupted by an ATTENTION ends: bare =
               one DONE with DONE_ATTN; split = the request's own
               DONEPROC (DONE_ERROR) in one message, then DONE_ATTN in a
               separate message (default bare)
  norc=0|1     (a fault, not an ambiguity) sp_getapplock grants but sends
               no RETURNSTATUS: a reply the client cannot read (default 0)
For measurement, every message (round trip) a session sends is counted,
requests and attentions: "SELECT requests FROM sqllock_emulator.sessions WHERE session_id
= N" answers the count of session N (the question itself is not counted).
"""

import argparse
import queue
import re
import socket
import struct
import sys
import threading
import time
import zlib

# ---- packet and token constants ([MS-TDS] 2.2.3, 2.2.7) -------------------
PKT_BATCH, PKT_RPC, PKT_REPLY, PKT_ATTN, PKT_LOGIN7, PKT_TM, PKT_PRELOGIN = 1, 3, 4, 6, 16, 14, 18
T_RETURNSTATUS, T_COLMETADATA, T_ERROR, T_INFO, T_RETURNVALUE = 0x79, 0x81, 0xAA, 0xAB, 0xAC
T_LOGINACK, T_FEATUREEXTACK, T_ROW, T_ENVCHANGE = 0xAD, 0xAE, 0xD1, 0xE3
T_DONE, T_DONEPROC, T_DONEINPROC = 0xFD, 0xFE, 0xFF
DONE_MORE, DONE_ERROR, DONE_COUNT, DONE_ATTN = 0x01, 0x02, 0x10, 0x20
COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])  # LCID 0x409, CP1252
PROG_NAME = "Microsoft SQL Server"

MODES = ["IntentShared", "Shared", "Update", "IntentExclusive", "Exclusive"]
# SQL Server's compatibility of lock modes (held, requested).
_C = {
    "IntentShared": {"IntentShared", "Shared", "Update", "IntentExclusive"},
    "Shared": {"IntentShared", "Shared", "Update"},
    "Update": {"IntentShared", "Shared"},
    "IntentExclusive": {"IntentShared", "IntentExclusive"},
    "Exclusive": set(),
}
STRENGTH = {m: i for i, m in enumerate(MODES)}  # APPLOCK_MODE names the strongest


def compatible(a, b):
    return b in _C[a]


class LockError(Exception):
    def __init__(self, number, text, severity=16):
        Exception.__init__(self, text)
        self.number, self.text, self.severity = number, text, severity


# ---- the lock manager -----------------------------------------------------
class Request:
    def __init__(self, sess, owner, res, mode):
        self.sess, self.owner, self.res, self.mode = sess, owner, res, mode
        self.granted = False
        self.outcome = None  # "deadlock", "canceled", "killed"


class LockManager:
    """Application locks: resource -> list of requests, granted ones and
    then the queue, in arrival order. A grant is one count; an owner that
    takes a resource twice has two granted requests and needs two
    releases."""

    def __init__(self):
        self.cv = threading.Condition()
        self.locks = {}   # resource -> [Request]
        self.sessions = {}
        self.tables = {}  # the test's counter tables: name -> int
        self.next_spid = 51

    def _others_block(self, req, upto):
        for r in upto:
            if r.owner != req.owner and not compatible(r.mode, req.mode):
                return True
        return False

    def _grantable(self, req):
        queue_ = self.locks.get(req.res, [])
        granted = [r for r in queue_ if r.granted]
        if self._others_block(req, granted):
            return False
        # Queue order: no earlier waiter that conflicts, unless the owner
        # already holds the resource (a conversion goes first).
        if any(r.granted and r.owner == req.owner for r in queue_):
            return True
        for r in queue_:
            if r is req:
                break
            if not r.granted and r.owner != req.owner and not compatible(r.mode, req.mode):
                return False
            if not r.granted and r.owner != req.owner:
                return False  # strict FIFO for anyone who arrived earlier
        return True

    def _regrant(self, res):
        for r in list(self.locks.get(res, [])):
            if not r.granted and r.outcome is None and self._grantable(r):
                r.granted = True
        self.cv.notify_all()

    def _blockers(self, req):
        """Sessions a waiting request waits for: incompatible holders and
        anyone queued before it."""
        out = set()
        for r in self.locks.get(req.res, []):
            if r is req:
                break
            if r.owner[0] != req.owner[0] and (not r.granted or not compatible(r.mode, req.mode)):
                out.add(r.owner[0])
        for r in self.locks.get(req.res, []):
            if r.granted and r.owner[0] != req.owner[0] and not compatible(r.mode, req.mode):
                out.add(r.owner[0])
        return out

    def _deadlocked(self, req):
        """Whether req's session waits, through others' waits, for itself."""
        start = req.sess.spid
        waits_of = {}
        for rs in self.locks.values():
            for r in rs:
                if not r.granted and r.outcome is None:
                    waits_of.setdefault(r.sess.spid, []).append(r)
        seen, stack = set(), [start]
        first = True
        while stack:
            s = stack.pop()
            if s == start and not first:
                return True
            if s in seen and not first:
                continue
            seen.add(s)
            first = False
            for w in waits_of.get(s, []):
                stack.extend(self._blockers(w))
        return False

    def acquire(self, sess, res, mode, owner, timeout_ms):
        """0 granted, 1 granted after a wait, -1 timed out, -2 canceled, -3
        deadlock victim. Waits on the condition; sess.attn interrupts."""
        with self.cv:
            req = Request(sess, owner, res, mode)
            self.locks.setdefault(res, []).append(req)
            if self._grantable(req):
                req.granted = True
                return 0
            if timeout_ms == 0:
                self._drop(req)
                return -1
            deadline = None if timeout_ms < 0 else time.monotonic() + timeout_ms / 1000.0
            sess.waiting = req
            try:
                while True:
                    if req.granted:
                        return 1
                    if sess.killed:
                        self._drop(req)
                        return -2
                    if sess.attn.is_set():
                        self._drop(req)
                        return None  # interrupted by an attention
                    if self._deadlocked(req):
                        self._drop(req)
                        return -3
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        self._drop(req)
                        return -1
                    self.cv.wait(0.05 if left is None else min(left, 0.05))
            finally:
                sess.waiting = None

    def _drop(self, req):
        rs = self.locks.get(req.res, [])
        if req in rs:
            rs.remove(req)
        if not rs:
            self.locks.pop(req.res, None)
        self._regrant(req.res)

    def release(self, sess, res, owner):
        with self.cv:
            held = [r for r in self.locks.get(res, []) if r.granted and r.owner == owner]
            if not held:
                return False
            self._drop(held[-1])
            return True

    def release_owner(self, owner_pred):
        with self.cv:
            for res in list(self.locks):
                for r in list(self.locks.get(res, [])):
                    if r.granted and owner_pred(r.owner):
                        self._drop(r)

    def mode_of(self, res, owner):
        with self.cv:
            best = None
            for r in self.locks.get(res, []):
                if r.granted and r.owner == owner and (best is None or
                                                       STRENGTH[r.mode] > STRENGTH[best]):
                    best = r.mode
            return best or "NoLock"

    def test(self, res, mode, owner):
        with self.cv:
            for r in self.locks.get(res, []):
                if r.granted and r.owner != owner and not compatible(r.mode, mode):
                    return 0
            return 1

    def rows(self):
        """(session, resource, mode, status) for every request."""
        with self.cv:
            return [(r.sess.spid, r.res, r.mode, "GRANT" if r.granted else "WAIT", r.owner[1])
                    for rs in self.locks.values() for r in rs]


LM = LockManager()
OPTS = None


# ---- encoding helpers -----------------------------------------------------
def ucs2(s):
    return s.encode("utf-16-le")


def b_varchar(s):
    u = ucs2(s)
    return bytes([len(u) // 2]) + u


def us_varchar(s):
    u = ucs2(s)
    return struct.pack("<H", len(u) // 2) + u


class Reader:
    def __init__(self, data):
        self.d, self.o = data, 0

    def take(self, n):
        if self.o + n > len(self.d):
            raise ValueError("truncated message")
        v = self.d[self.o:self.o + n]
        self.o += n
        return v

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def left(self):
        return len(self.d) - self.o


# ---- one session ----------------------------------------------------------
class Session:
    def __init__(self, sock, addr):
        self.sock, self.addr = sock, addr
        self.spid = 0
        self.tds = 0x74000004
        self.packet_size = 4096
        self.app = ""
        self.host = ""
        self.user = ""
        self.db = "sqllock_test"  # applock resources are the database's
        self.sw = {"count": "1", "inproc": "0", "errors": "0", "attn": "bare", "norc": "0"}
        self.trancount = 0
        self.xact = 0
        self.lock_timeout = -1
        self.killed = False
        self.attn = threading.Event()
        self.attn_answered = 0
        self.waiting = None
        self.requests = 0
        self.since = time.time()
        self.inbox = queue.Queue()
        self.wlock = threading.Lock()
        self.prepared = {}
        self.next_handle = 1

    # -- output
    def v72(self):
        return self.tds >= 0x72000000

    def send(self, ptype, payload):
        """One message, split into packets of the negotiated size."""
        size = max(512, self.packet_size) - 8
        chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
        with self.wlock:
            try:
                for i, c in enumerate(chunks):
                    status = 1 if i == len(chunks) - 1 else 0
                    hdr = struct.pack(">BBHHBB", ptype, status, len(c) + 8, self.spid, (i + 1) & 255, 0)
                    self.sock.sendall(hdr + c)
            except OSError:
                pass

    def done(self, token, status, count=0):
        rc = struct.pack("<Q", count) if self.v72() else struct.pack("<I", count)
        return bytes([token]) + struct.pack("<HH", status, 0xC1) + rc

    def msg(self, token, number, text, severity, proc=""):
        line = struct.pack("<I", 1) if self.v72() else struct.pack("<H", 1)
        body = struct.pack("<IBB", number, 1, severity) + us_varchar(text) + \
            b_varchar("sqllock-emulator") + b_varchar(proc) + line
        return bytes([token]) + struct.pack("<H", len(body)) + body

    def envchange(self, kind, new, old=b""):
        body = bytes([kind]) + new + old
        return bytes([T_ENVCHANGE]) + struct.pack("<H", len(body)) + body

    def usertype(self):
        return struct.pack("<I", 0) if self.v72() else struct.pack("<H", 0)

    def result(self, cols, rows):
        """COLMETADATA + ROWs; cols are (name, "int"|"str")."""
        out = bytearray([T_COLMETADATA]) + struct.pack("<H", len(cols))
        for name, kind in cols:
            out += self.usertype() + struct.pack("<H", 0x0001 if kind == "str" else 0x0001)
            if kind == "int":
                out += bytes([0x26, 4])
            else:
                out += bytes([0xE7]) + struct.pack("<H", 8000) + COLLATION
            out += b_varchar(name)
        for row in rows:
            out.append(T_ROW)
            for (name, kind), v in zip(cols, row):
                if kind == "int":
                    out += bytes([0]) if v is None else bytes([4]) + struct.pack("<i", v)
                else:
                    out += struct.pack("<H", 0xFFFF) if v is None else \
                        struct.pack("<H", len(ucs2(v))) + ucs2(v)
        return bytes(out)

    # -- input
    def read_message(self):
        """(type, payload) of the next message, or None at EOF."""
        buf, ptype = bytearray(), None
        while True:
            hdr = self._recv(8)
            if hdr is None:
                return None
            t, status, length = hdr[0], hdr[1], struct.unpack(">H", hdr[2:4])[0]
            body = self._recv(length - 8) if length > 8 else b""
            if body is None:
                return None
            ptype = t
            buf += body
            if status & 1:
                return ptype, bytes(buf)

    def _recv(self, n):
        out = bytearray()
        while len(out) < n:
            try:
                c = self.sock.recv(n - len(out))
            except OSError:
                return None
            if not c:
                return None
            out += c
        return bytes(out)


def log(*a):
    if OPTS and OPTS.log:
        with open(OPTS.log, "a") as f:
            print(time.strftime("%H:%M:%S"), *a, file=f)


# ---- login ----------------------------------------------------------------
def prelogin_reply(s):
    opts = [(0, bytes([16, 0, 0x07, 0xD0, 0, 0])), (1, bytes([2])), (2, b"\0"), (3, b""), (4, b"\0")]
    head_len = 5 * len(opts) + 1
    head, data = bytearray(), bytearray()
    for tok, val in opts:
        head += struct.pack(">BHH", tok, head_len + len(data), len(val))
        data += val
    head.append(0xFF)
    s.send(PKT_REPLY, bytes(head + data))


def login_string(data, off, nchars):
    return data[off:off + 2 * nchars].decode("utf-16-le", "replace")


def unscramble(b):
    out = bytearray()
    for x in b:
        x ^= 0xA5
        out.append(((x & 0x0F) << 4) | (x >> 4))
    return out.decode("utf-16-le", "replace")


def login(s, data):
    s.tds = struct.unpack("<I", data[4:8])[0]
    psize = struct.unpack("<I", data[8:12])[0]
    s.packet_size = psize if 512 <= psize <= 32767 else 4096
    flags3 = data[27]
    fields = [struct.unpack("<HH", data[36 + 4 * i:40 + 4 * i]) for i in range(9)]
    s.host = login_string(data, *fields[0])
    s.user = login_string(data, *fields[1])
    off, n = fields[2]
    password = unscramble(data[off:off + 2 * n])
    s.app = login_string(data, *fields[3])
    db = login_string(data, *fields[8]) or "sqllock_test"
    parts = db.split("~")
    s.db = parts[0]
    for p in parts[1:]:
        k, _, v = p.partition("=")
        if k in s.sw:
            s.sw[k] = v
    if OPTS.user and (s.user != OPTS.user or password != OPTS.password):
        s.spid = 0
        s.send(PKT_REPLY, s.msg(T_ERROR, 18456, "Login failed for user '%s'." % s.user, 14) +
               s.done(T_DONE, DONE_ERROR))
        return False
    with LM.cv:
        s.spid = LM.next_spid
        LM.next_spid += 1
        LM.sessions[s.spid] = s
    out = bytearray()
    out += s.envchange(1, b_varchar(db), b_varchar("master"))
    out += s.msg(T_INFO, 5701, "Changed database context to '%s'." % db, 0)
    out += s.envchange(7, bytes([5]) + COLLATION, b"\0")
    out += s.envchange(2, b_varchar("us_english"), b"\0")
    ver = struct.pack(">I", s.tds)
    ack = bytes([1]) + ver + b_varchar(PROG_NAME) + bytes([16, 0, 0x07, 0xD0])
    out += bytes([T_LOGINACK]) + struct.pack("<H", len(ack)) + ack
    out += s.envchange(4, b_varchar(str(s.packet_size)), b_varchar("4096"))
    if s.tds >= 0x74000000 and flags3 & 0x10:
        out += bytes([T_FEATUREEXTACK, 0xFF])
    out += s.done(T_DONE, 0)
    s.send(PKT_REPLY, bytes(out))
    log("login spid", s.spid, "app", s.app, "tds %08x" % s.tds, "switches", s.sw)
    return True


# ---- parameters of an RPC -------------------------------------------------
def read_type_and_value(s, r):
    t = r.u8()
    if t in (0x26, 0x68, 0x6D, 0x6E, 0x6F):  # INTN BITN FLTN MONEYN DATETIMN
        r.u8()
        n = r.u8()
        raw = r.take(n)
        if n == 0:
            return None
        if t == 0x26:
            return int.from_bytes(raw, "little", signed=True)
        if t == 0x68:
            return raw[0] != 0
        return raw
    if t in (0x30, 0x34, 0x38, 0x7F, 0x32):  # INT1 INT2 INT4 INT8 BIT
        size = {0x30: 1, 0x34: 2, 0x38: 4, 0x7F: 8, 0x32: 1}[t]
        return int.from_bytes(r.take(size), "little", signed=t != 0x30)
    if t in (0xE7, 0xA7, 0xEF, 0xAF, 0xA5, 0xAD):  # NVARCHAR VARCHAR NCHAR CHAR VARBINARY BINARY
        maxlen = r.u16()
        if t not in (0xA5, 0xAD):
            r.take(5)
        if maxlen == 0xFFFF:  # PLP
            total = struct.unpack("<Q", r.take(8))[0]
            if total == 0xFFFFFFFFFFFFFFFF:
                return None
            raw = bytearray()
            while True:
                n = r.u32()
                if n == 0:
                    break
                raw += r.take(n)
        else:
            n = r.u16()
            if n == 0xFFFF:
                return None
            raw = r.take(n)
        if t in (0xE7, 0xEF):
            return bytes(raw).decode("utf-16-le", "replace")
        if t in (0xA7, 0xAF):
            return bytes(raw).decode("cp1252", "replace")
        return bytes(raw)
    if t in (0x63, 0x23, 0x22):  # NTEXT TEXT IMAGE
        r.u32()
        if t != 0x22:
            r.take(5)
        n = r.u32()
        if n == 0xFFFFFFFF:
            return None
        raw = r.take(n)
        return raw.decode("utf-16-le" if t == 0x63 else "cp1252", "replace") if t != 0x22 else raw
    raise ValueError("parameter type 0x%02x not supported by the emulator" % t)


def skip_all_headers(s, r):
    if s.v72() and r.left() >= 4:
        total = struct.unpack("<I", r.d[r.o:r.o + 4])[0]
        r.take(total)


PROC_IDS = {10: "sp_executesql", 11: "sp_prepare", 12: "sp_execute", 13: "sp_prepexec",
            15: "sp_unprepare"}


def parse_rpcs(s, data):
    r = Reader(data)
    skip_all_headers(s, r)
    calls = []
    while r.left() > 0:
        n = r.u16()
        name = PROC_IDS.get(r.u16(), "?") if n == 0xFFFF else r.take(2 * n).decode("utf-16-le")
        r.u16()  # option flags
        params = []
        while r.left() > 0 and r.d[r.o] not in (0x80, 0xFF, 0xFE):
            pname = r.take(2 * r.u8()).decode("utf-16-le")
            status = r.u8()
            params.append((pname, status, read_type_and_value(s, r)))
        calls.append((name.lower().split(".")[-1], params))
        if r.left() > 0:
            r.u8()  # batch separator
    return calls


# ---- statements -------------------------------------------------------------
class Reply:
    """What one request answers: the token bytes, and whether an error
    ended it."""

    def __init__(self):
        self.b = bytearray()


def lock_error(s, e, proc=""):
    return s.msg(T_ERROR, e.number, e.text, e.severity, proc)


def getapplock(s, args):
    res, mode, owner, timeout = (args.get(k) for k in ("resource", "lockmode", "lockowner", "locktimeout"))
    if owner is None:
        owner = "Transaction"
    if res is None or mode not in MODES or owner.lower() not in ("session", "transaction"):
        raise LockError(1220, "Parameter validation failed for sp_getapplock: resource %r, mode %r, owner %r"
                        % (res, mode, owner))
    res = (s.db, res[:255])
    if owner.lower() == "transaction":
        if s.trancount == 0:
            raise LockError(1224, "You attempted to acquire a transactional application lock "
                                  "without an active transaction.")
        own = (s.spid, "Transaction", s.xact)
    else:
        own = (s.spid, "Session", 0)
    if timeout is None:
        timeout = s.lock_timeout
    return LM.acquire(s, res, mode, own, timeout)


def releaseapplock(s, args):
    res, owner = args.get("resource"), args.get("lockowner") or "Transaction"
    if res is None or owner.lower() not in ("session", "transaction"):
        raise LockError(1220, "Parameter validation failed for sp_releaseapplock")
    own = (s.spid, "Session", 0) if owner.lower() == "session" else (s.spid, "Transaction", s.xact)
    if not LM.release(s, (s.db, res[:255]), own):
        raise LockError(1223, "Cannot release the application lock (Database Principal: 'public', "
                              "Resource: '%s') because it is not currently held." % res[:255])
    return 0


def owner_key(s, owner):
    owner = (owner or "Transaction").lower()
    return (s.spid, "Session", 0) if owner == "session" else (s.spid, "Transaction", s.xact)


def end_transaction(s, commit):
    if s.trancount:
        xact = s.xact
        LM.release_owner(lambda o: o[0] == s.spid and o[1] == "Transaction" and o[2] == xact)
    s.trancount = 0


def begin_transaction(s):
    with LM.cv:
        LM.next_spid += 0
        s.xact = int(time.monotonic() * 1e6) ^ (s.spid << 48)
    s.trancount = 1


def end_session(s):
    """A session's locks, queued requests and temporary tables end with it."""
    with LM.cv:
        LM.sessions.pop(s.spid, None)
        for key in [k for k in LM.tables if isinstance(k, tuple) and k[0] == s.spid]:
            del LM.tables[key]
        for res in list(LM.locks):
            for r in list(LM.locks.get(res, [])):
                if r.sess is s:
                    LM._drop(r)
        LM.cv.notify_all()


def kill(s, spid):
    if spid == s.spid:
        raise LockError(6104, "Cannot use KILL to kill your own process.")
    with LM.cv:
        victim = LM.sessions.get(spid)
        if victim is None:
            raise LockError(6106, "Process ID %d is not an active process ID." % spid)
        victim.killed = True
    end_session(victim)  # before KILL returns: its locks are free at once
    try:
        victim.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


PARAM = re.compile(r"@p(\d+)", re.I)


def substitute(sql, params):
    """The statement's @Pn placeholders and literals as Python values."""
    def val(tok):
        tok = tok.strip()
        m = PARAM.fullmatch(tok)
        if m:
            return params[int(m.group(1)) - 1]
        if tok.upper() == "NULL":
            return None
        if re.fullmatch(r"N?'(?:[^']|'')*'", tok):
            return tok[tok.index("'") + 1:-1].replace("''", "'")
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        raise LockError(102, "Incorrect syntax near '%s'." % tok[:40])
    return val


def split_args(text):
    out, depth, cur, q = [], 0, "", False
    for ch in text:
        if ch == "'" :
            q = not q
        if ch == "," and not q and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def run_sql(s, sql, params):
    """One statement: returns token bytes (a result set and DONE(IN)PROC
    status left to the caller) as (tokens, rowcount)."""
    st = sql.strip().rstrip(";").strip()
    val = substitute(st, params)
    u = st.upper()
    m = re.fullmatch(r"SELECT\s+@@SPID", st, re.I)
    if m:
        return s.result([("", "int")], [(s.spid,)]), 1
    m = re.fullmatch(r"SELECT\s+(-?\d+)", st)
    if m:
        return s.result([("", "int")], [(int(m.group(1)),)]), 1
    if re.fullmatch(r"SELECT\s+@@TRANCOUNT", st, re.I):
        return s.result([("", "int")], [(s.trancount,)]), 1
    m = re.fullmatch(r"SELECT\s+APPLOCK_MODE\s*\((.*)\)", st, re.I | re.S)
    if m:
        a = [val(x) for x in split_args(m.group(1))]
        return s.result([("", "str")], [(LM.mode_of((s.db, (a[1] or "")[:255]), owner_key(s, a[2])),)]), 1
    m = re.fullmatch(r"SELECT\s+APPLOCK_TEST\s*\((.*)\)", st, re.I | re.S)
    if m:
        a = [val(x) for x in split_args(m.group(1))]
        return s.result([("", "int")], [(LM.test((s.db, (a[1] or "")[:255]), a[2], owner_key(s, a[3])),)]), 1
    m = re.fullmatch(r"KILL\s+(\S+)", st, re.I)
    if m:
        kill(s, int(val(m.group(1))))
        return b"", None
    m = re.fullmatch(r"SET\s+LOCK_TIMEOUT\s+(\S+)", st, re.I)
    if m:
        s.lock_timeout = int(val(m.group(1)))
        return b"", None
    if re.fullmatch(r"BEGIN\s+TRAN(SACTION)?", st, re.I):
        if s.trancount == 0:
            begin_transaction(s)
        else:
            s.trancount += 1
        return b"", None
    m = re.fullmatch(r"(IF\s+@@TRANCOUNT\s*>\s*0\s+)?(COMMIT|ROLLBACK)(\s+TRAN(SACTION)?)?(\s+BEGIN\s+TRANSACTION)?",
                     st, re.I)
    if m:
        if m.group(2).upper() == "COMMIT" and s.trancount > 1:
            s.trancount -= 1
        else:
            end_transaction(s, m.group(2).upper() == "COMMIT")
        if m.group(5):
            begin_transaction(s)
        return b"", None
    # The views the tests read (sys.dm_exec_sessions, sys.dm_tran_locks).
    m = re.fullmatch(r"SELECT\s+session_id\s+FROM\s+sys\.dm_exec_sessions\s+WHERE\s+program_name\s*=\s*(\S+)",
                     st, re.I)
    if m:
        app = val(m.group(1))
        with LM.cv:
            ids = sorted(x.spid for x in LM.sessions.values() if x.app == app)
        return s.result([("session_id", "int")], [(i,) for i in ids]), len(ids)
    m = re.fullmatch(r"SELECT\s+count\(\*\)\s+FROM\s+sys\.dm_tran_locks\s+WHERE\s+request_session_id\s*=\s*(\S+)"
                     r"\s+AND\s+request_status\s*=\s*'(GRANT|WAIT)'", st, re.I)
    if m:
        spid, status = int(val(m.group(1))), m.group(2).upper()
        n = sum(1 for r in LM.rows() if r[0] == spid and r[3] == status)
        return s.result([("", "int")], [(n,)]), 1
    # sqllock status/list: SQL Server shows an applock's resource as
    # "<principal id>:[<first 32 characters>]:(<hash of the whole>)".
    m = re.fullmatch(r"SELECT\s+l\.request_session_id,.*FROM\s+sys\.dm_tran_locks\s+l\s+JOIN\s+"
                     r"sys\.dm_exec_sessions\s+s\s+.*", st, re.I | re.S)
    if m:
        abbrev = {"IntentShared": "IS", "Shared": "S", "Update": "U", "IntentExclusive": "IX",
                  "Exclusive": "X"}
        with LM.cv:
            sess = dict(LM.sessions)
        rows = []
        for spid, (db, res), mode, status, _owner in LM.rows():
            x = sess.get(spid)
            if db != s.db or x is None:
                continue
            desc = "0:[%s]:(%08x)" % (res[:32], zlib.crc32(res.encode("utf-16-le")))
            rows.append((spid, desc, abbrev[mode], status, x.host, x.app,
                         time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(x.since))))
        rows.sort(key=lambda r: (r[1], r[3], r[0]))
        cols = [("request_session_id", "int"), ("resource_description", "str"),
                ("request_mode", "str"), ("request_status", "str"), ("host_name", "str"),
                ("program_name", "str"), ("login_time", "str")]
        return s.result(cols, rows), len(rows)
    m = re.fullmatch(r"SELECT\s+requests\s+FROM\s+sqllock_emulator\.sessions\s+WHERE\s+session_id\s*=\s*(\S+)",
                     st, re.I)
    if m:
        with LM.cv:
            x = LM.sessions.get(int(val(m.group(1))))
        s.requests -= 1  # this question is not counted
        return s.result([("requests", "int")], [(x.requests if x else None,)]), 1
    # The tests' own tables of one int column (#name: the session's own).
    m = re.fullmatch(r"CREATE\s+TABLE\s+(#?\w+)\s*\(\s*\w+\s+int\s*\)", st, re.I)
    if m:
        key = table_key(s, m.group(1))
        with LM.cv:
            if key in LM.tables:
                raise LockError(2714, "There is already an object named '%s' in the database."
                                % m.group(1))
            LM.tables[key] = None
        return b"", None
    m = re.fullmatch(r"INSERT\s+INTO\s+(#?\w+)\s+VALUES\s*\((\S+)\)", st, re.I) or \
        re.fullmatch(r"UPDATE\s+(#?\w+)\s+SET\s+\w+\s*=\s*(\S+)", st, re.I)
    if m:
        set_table(s, m.group(1), int(val(m.group(2))))
        return b"", 1
    m = re.fullmatch(r"SELECT\s+\w+\s+FROM\s+(#?\w+)", st, re.I)
    if m:
        return s.result([("n", "int")], [(table(s, m.group(1)),)]), 1
    m = re.fullmatch(r"DROP\s+TABLE\s+(#?\w+)", st, re.I)
    if m:
        table(s, m.group(1))
        with LM.cv:
            del LM.tables[table_key(s, m.group(1))]
        return b"", None
    m = re.fullmatch(r"SELECT\s+count\(\*\)\s+FROM\s+sys\.tables\s+WHERE\s+name\s*=\s*(\S+)", st, re.I)
    if m:
        with LM.cv:
            n = 1 if val(m.group(1)) in LM.tables else 0
        return s.result([("", "int")], [(n,)]), 1
    raise LockError(102, "The emulator does not know this statement: %s" % st[:80], 15)


def table_key(s, name):
    return (s.spid, name) if name.startswith("#") else name


def table(s, name):
    with LM.cv:
        if table_key(s, name) not in LM.tables:
            raise LockError(208, "Invalid object name '%s'." % name)
        return LM.tables[table_key(s, name)]


def set_table(s, name, v):
    table(s, name)
    with LM.cv:
        LM.tables[table_key(s, name)] = v


# ---- requests ---------------------------------------------------------------
class Interrupted(Exception):
    pass


def proc_args(names, params):
    """sp_getapplock's arguments by name (@Resource = ...) or position."""
    args = {}
    for i, (pname, _status, v) in enumerate(params):
        key = pname.lstrip("@").lower() if pname else (names[i] if i < len(names) else "?")
        args[key] = v
    return args


def rpc_call(s, name, params):
    """Token bytes for one procedure call up to its DONEPROC, and the
    DONEPROC's status."""
    sw = s.sw
    cnt = DONE_COUNT if sw["count"] == "1" else 0
    inproc = s.done(T_DONEINPROC, DONE_MORE) if sw["inproc"] == "1" else b""
    if name in ("sp_getapplock", "sp_releaseapplock"):
        names = ["resource", "lockmode", "lockowner", "locktimeout", "dbprincipal"] \
            if name == "sp_getapplock" else ["resource", "lockowner", "dbprincipal"]
        args = proc_args(names, params)
        err = b""
        try:
            rc = getapplock(s, args) if name == "sp_getapplock" else releaseapplock(s, args)
        except LockError as e:
            if sw["errors"] == "2":  # the error instead of the return code
                return lock_error(s, e, name) + inproc, DONE_ERROR | cnt
            return lock_error(s, e, name) + inproc + struct.pack("<Bi", T_RETURNSTATUS, -999), \
                DONE_ERROR | cnt
        if rc is None:
            raise Interrupted()
        if sw["errors"] in ("1", "2") and rc == -1:
            err = s.msg(T_ERROR, 1222, "Lock request time out period exceeded.", 16, name)
        if sw["errors"] in ("1", "2") and rc == -3:
            err = s.msg(T_ERROR, 1205, "Transaction (Process ID %d) was deadlocked on lock "
                                       "resources with another process and has been chosen as the "
                                       "deadlock victim. Rerun the transaction." % s.spid, 13, name)
        if err and sw["errors"] == "2":
            return err + inproc, DONE_ERROR | cnt
        if sw["norc"] == "1" and name == "sp_getapplock":
            return inproc, cnt
        return err + inproc + struct.pack("<Bi", T_RETURNSTATUS, rc), (DONE_ERROR if err else 0) | cnt
    if name in ("sp_executesql", "sp_prepexec", "sp_execute", "sp_prepare", "sp_unprepare"):
        return prepared_call(s, name, params), cnt
    raise LockError(2812, "Could not find stored procedure '%s'." % name)


def prepared_call(s, name, params):
    out = bytearray()
    handle_out = None
    if name == "sp_unprepare":
        s.prepared.pop(params[0][2], None)
        return struct.pack("<Bi", T_RETURNSTATUS, 0)
    if name in ("sp_prepexec", "sp_prepare"):
        sql = params[2][2]
        handle_out = s.next_handle
        s.next_handle += 1
        s.prepared[handle_out] = sql
        rest = params[3:]
    elif name == "sp_execute":
        sql = s.prepared.get(params[0][2])
        if sql is None:
            raise LockError(8179, "Could not find prepared statement with handle %r." % params[0][2])
        rest = params[1:]
    else:
        sql = params[0][2]
        rest = params[2:]
    if name != "sp_prepare":
        tokens, rows = run_sql(s, sql, [p[2] for p in rest])
        out += tokens
        out += s.done(T_DONEINPROC, (DONE_COUNT if rows is not None else 0) | DONE_MORE, rows or 0)
    out += struct.pack("<Bi", T_RETURNSTATUS, 0)
    if handle_out is not None:
        body = struct.pack("<H", 0) + b_varchar(params[0][0] or "@handle") + bytes([1]) + \
            s.usertype() + struct.pack("<H", 0x0009) + bytes([0x26, 4, 4]) + struct.pack("<i", handle_out)
        out += bytes([T_RETURNVALUE]) + body
    return bytes(out)


def batch(s, data):
    r = Reader(data)
    skip_all_headers(s, r)
    text = r.take(r.left()).decode("utf-16-le", "replace")
    out = bytearray()
    stmts = [x for x in re.split(r";\s*|\n", text) if x.strip()] or [""]
    for i, st in enumerate(stmts):
        more = DONE_MORE if i < len(stmts) - 1 else 0
        try:
            tokens, rows = run_sql(s, st, [])
        except LockError as e:
            out += lock_error(s, e) + s.done(T_DONE, DONE_ERROR | more)
            continue
        out += tokens + s.done(T_DONE, (DONE_COUNT if rows is not None else 0) | more, rows or 0)
    return bytes(out)


def transaction_manager(s, data):
    r = Reader(data)
    skip_all_headers(s, r)
    kind = r.u16()
    out = bytearray()
    old = struct.pack("<Q", s.xact & 0xFFFFFFFFFFFFFFFF)
    if kind == 5:  # begin
        begin_transaction(s)
        out += s.envchange(8, bytes([8]) + struct.pack("<Q", s.xact & 0xFFFFFFFFFFFFFFFF), b"\0")
    elif kind in (7, 8):  # commit, rollback
        r.take(r.u8() * 2)
        again = r.u8() & 1 if r.left() else 0
        had = s.trancount > 0
        end_transaction(s, kind == 7)
        if had:
            out += s.envchange(9 if kind == 7 else 10, b"\0", bytes([8]) + old)
        if again:
            begin_transaction(s)
            out += s.envchange(8, bytes([8]) + struct.pack("<Q", s.xact & 0xFFFFFFFFFFFFFFFF), b"\0")
    else:
        out += s.msg(T_ERROR, 7400, "The emulator does not know transaction request %d." % kind, 16)
        out += s.done(T_DONE, DONE_ERROR)
        return bytes(out)
    out += s.done(T_DONE, 0)
    return bytes(out)


def handle(s, ptype, data):
    """Answers one request; an ATTENTION that interrupts it is answered
    here, and marked so that its own message is not answered twice."""
    try:
        if ptype == PKT_BATCH:
            reply = batch(s, data)
        elif ptype == PKT_RPC:
            reply = bytearray()
            calls = parse_rpcs(s, data)
            for i, (name, params) in enumerate(calls):
                try:
                    part, status = rpc_call(s, name, params)
                except LockError as e:
                    part, status = lock_error(s, e, name), DONE_ERROR
                more = DONE_MORE if i < len(calls) - 1 else 0
                reply += part + s.done(T_DONEPROC, status | more)
            reply = bytes(reply)
        elif ptype == PKT_TM:
            reply = transaction_manager(s, data)
        else:
            reply = s.msg(T_ERROR, 4002, "Unexpected packet type %d." % ptype, 16) + s.done(T_DONE, DONE_ERROR)
    except Interrupted:
        if s.sw["attn"] == "split":
            s.send(PKT_REPLY, s.done(T_DONEPROC, DONE_ERROR))
        s.send(PKT_REPLY, s.done(T_DONE, DONE_ATTN))
        s.attn.clear()
        s.attn_answered += 1
        return
    except (ValueError, IndexError, struct.error) as e:
        reply = s.msg(T_ERROR, 4002, "The emulator could not read the request: %s" % e, 16) + \
            s.done(T_DONE, DONE_ERROR)
    s.send(PKT_REPLY, reply)


def reader(s):
    """Reads messages; an ATTENTION is flagged at once (a waiting request
    must see it) and queued to be answered in order."""
    while True:
        m = s.read_message()
        if m is None:
            s.inbox.put(None)
            return
        if m[0] == PKT_ATTN:
            s.attn.set()
            with LM.cv:
                LM.cv.notify_all()
        s.inbox.put(m)


def serve(sock, addr):
    s = Session(sock, addr)
    try:
        m = s.read_message()
        if m and m[0] == PKT_PRELOGIN:
            prelogin_reply(s)
            m = s.read_message()
        if not m or m[0] != PKT_LOGIN7 or not login(s, m[1]):
            return
        threading.Thread(target=reader, args=(s,), daemon=True).start()
        while not s.killed:
            m = s.inbox.get()
            if m is None or s.killed:
                break
            ptype, data = m
            s.requests += 1  # a round trip, attentions too
            if ptype == PKT_ATTN:
                if s.attn_answered:
                    s.attn_answered -= 1
                else:
                    s.attn.clear()
                    s.send(PKT_REPLY, s.done(T_DONE, DONE_ATTN))
                continue
            handle(s, ptype, data)
    finally:
        end_session(s)
        try:
            sock.close()
        except OSError:
            pass
        log("end spid", s.spid)


def main():
    global OPTS
    ap = argparse.ArgumentParser(description="TDS emulation of SQL Server's application locks")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--password", default="")
    ap.add_argument("--ready-file", default="")
    ap.add_argument("--log", default="")
    OPTS = ap.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((OPTS.host, OPTS.port))
    srv.listen(256)
    print("listening on %s:%d" % (OPTS.host, OPTS.port), flush=True)
    if OPTS.ready_file:
        with open(OPTS.ready_file, "w") as f:
            f.write("%d\n" % OPTS.port)
    while True:
        c, addr = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(c, addr), daemon=True).start()


if __name__ == "__main__":
    main()
