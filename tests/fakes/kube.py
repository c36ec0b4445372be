#!/usr/bin/env python3
"""kube.py: a fake Kubernetes API server for stable-egressd tests.

Python 3 standard library only (plus the `openssl` command for certificates).
It behaves like a real API server in everything a client can observe for the
resources stable-egressd uses: Nodes, Pods, coordination.k8s.io/v1 Leases,
core/v1 and events.k8s.io/v1 Events, Namespaces, and enough discovery for
kubectl 1.20 and newer.

Command line
------------
    python3 tests/fakes/kube.py --dir DIR [--nodes N] [--candidate-nodes N]
        [--node-bytes B] [--bookmark-interval S] [--history-size N]

DIR receives ca.crt, server.crt/.key (the fake's own), `kubeconfig` (CA data,
https://127.0.0.1:PORT, a bearer `token`, current-context set), `token`,
`api-url`, `admin-url` and, last and atomically, `ready` (JSON: api, admin,
pid). The server runs until SIGTERM or SIGINT and then exits 0.
`--nodes N` pre-creates N plain nodes node-00000..., `--candidate-nodes N`
N nodes candidate-00000... labelled tuist.dev/stable-egress-candidate=server;
`--node-bytes B` pads each pre-created node's status.images so its JSON is
about B bytes. `--bookmark-interval` (default 1 s) spaces watch BOOKMARKs;
`--history-size` (default 1000) is how many changes are kept for watches
that resume from a resourceVersion, exact-RV lists and continue tokens.

Every default node address is in 127.0.0.0/8, so a prober pointed at a fake
node never sends traffic off the machine.

Deliberate limits: no server-side apply (415), no protobuf (JSON only),
Pods are written only through the admin API, namespaces exist as soon as
they are named.  RBAC is off until rules are loaded (`set_rbac`, POST
/rbac): then every token is the one service account named there and any
resource request its rules do not grant gets 403 Forbidden with the API
server's Status (rbac.py).

Importable: `from kube import FakeKube`; `FakeKube(dir).start()`, `.stop()`
and one method per admin endpoint below (create_node, patch_node, ...).

Admin API (plain HTTP on 127.0.0.1, JSON bodies, base URL in DIR/admin-url)
-----------------------------------------------------------------------------
Changes made here go through the same code path as API writes (validation,
resourceVersion bump, watch events, label history). An API validation
failure comes back with the API's status code and Status body.

  POST   /nodes                {"name", "labels", "providerID", "internalIP",
                                "externalIP", "ready" ("True", "False" or
                                "Unknown"), "unschedulable", "finalizers",
                                "taints"}
                               -> 201 Node. An omitted providerID becomes
                               hcloud://<n>, an omitted internalIP 127.1.x.y;
                               null leaves them unset.
  PATCH  /nodes/{name}         same fields, all optional; "labels" merges
                               (null deletes a key); "deleting": true sets
                               deletionTimestamp (like a DELETE with
                               finalizers; a node without finalizers gets
                               example.com/fake-hold so that it stays
                               visible); "heartbeat": true refreshes
                               lastHeartbeatTime like a kubelet status update.
                               ready/unschedulable also maintain the
                               node.kubernetes.io/{not-ready,unreachable,
                               unschedulable} taints as the control plane does.
                               internalIP/externalIP may be lists (several
                               addresses of the type, in order).
  DELETE /nodes/{name}         like an API DELETE (finalizers respected)
  GET    /nodes, /nodes/{name} current objects
  POST   /pods                 {"namespace" (default "default"), "name",
                                "nodeName", "labels", "ready": bool,
                                "phase" (default "Running"), "podIP"}
  PATCH  /pods/{ns}/{name}     same fields, partial; labels merge as above;
                               "deleting": true sets deletionTimestamp (a
                               graceful delete the kubelet has not
                               finished: the pod stays, still Ready)
  DELETE /pods/{ns}/{name}
  GET    /pods
  POST   /leases               a Lease object (metadata.namespace defaults to
                               "default"); replaces any existing one -> 200
  PUT    /leases/{ns}/{name}   a Lease object or just its "spec"
  DELETE /leases/{ns}/{name}
  GET    /leases               current Leases
  GET    /events               created Events in events.k8s.io/v1 form
                               (?api=core for the core/v1 form)
  GET    /label-history?key=K&value=V[&since_rv=R]
                               -> [{"time", "rv", "nodes": [names carrying
                               K=V after that write]}], one entry per write
                               to any node, oldest first
  GET    /requests[?path=SUBSTRING]
                               -> [{"seq", "time", "method", "path", "query",
                               "status", "authorized", "content_type", "body"
                               (writes only, first 64 KiB), "truncated" (body
                               cut), "fault", "watch", "user_agent"}]
  DELETE /requests             clears the request log
  POST   /faults               any of:
         {"close_watches": true | "clean"}  end every open watch now (true:
                               drop the connection; "clean": end the chunked
                               body normally)
         {"gone_next_watch": N} next N watch requests get 200 + ERROR 410
         {"fail": {"count": N, "path": "regex searched in path?query",
                   "method": "PATCH",
                   "mode": "500|503|429|404|410|garbage|truncated|slow",
                   "retry_after": 1, "delay": 5}}
                               next N matching API requests fail that way:
                               429 = plain text + Retry-After (API Priority
                               and Fairness), 500/503 = Status JSON (503 with
                               Retry-After), 404 = plain "404 page not
                               found" (a group not served), garbage = 200
                               with a non-JSON body, truncated = the real answer cut short
                               under a longer Content-Length, then close (a
                               watch: a chunk cut mid-event, then close),
                               slow = sleep `delay` s, then answer normally
         {"stall_watches": true|false}  watches send nothing (not even
                               bookmarks or their end) until cleared, then
                               go on where they were
         {"partial_watches": true|false}  every watch (open or new) sends
                               the start of an event and then one more
                               byte of it every 0.5 s, never a newline,
                               until cleared (then it is dropped)
         {"split_chunks": true|false}   write every watch chunk in small
                               pieces, so events straddle reads
         {"expire_continue": true}      outstanding continue tokens -> 410
         {"compact": true}     every resourceVersion older than the current
                               one is too old (watch 410, exact list 410,
                               continue 410)
  DELETE /faults               clears fail rules, stalls, splits, pending 410s
  GET    /faults
  POST   /token/rotate         {"grace": seconds (default 0), "token":
                               optional new value} -> {"token"}; the new
                               token is written to DIR/token and the
                               kubeconfig atomically; older tokens stay valid
                               for `grace` seconds (0: revoked at once)
  POST   /token/revoke         every token is refused from now on (open
                               watches go on, as on a real server)
  POST   /config               {"bookmark_interval": seconds}
  GET    /config
  POST   /rbac                 {"objects": [RBAC objects as stored: Role,
                                ClusterRole, RoleBinding,
                                ClusterRoleBinding], "serviceAccount":
                                {"namespace", "name"}}: enforce them from
                               now on (403 Forbidden, logged with its
                               status like every request)
  DELETE /rbac                 everything allowed again
  GET    /state                counters: rv, oldest watchable rv, objects,
                               open watches, token count, ...
"""

import argparse
import base64
import collections
import copy
import datetime
import http.server
import json
import os
import random
import re
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rbac  # noqa: E402  (a sibling module, stdlib only)

SERVER_VERSION = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.4",
    "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b",
    "gitTreeState": "clean", "buildDate": "2024-12-10T18:38:09Z",
    "goVersion": "go1.22.9", "compiler": "gc", "platform": "linux/amd64",
}
KUBELET_VERSION = SERVER_VERSION["gitVersion"]
CANDIDATE_LABEL = ("tuist.dev/stable-egress-candidate", "server")
# The API server refuses request bodies above 3 MiB.
MAX_BODY = 3 * 1024 * 1024
# Request bodies kept in the request log are cut here.
LOG_BODY_MAX = 64 * 1024
# client-go and the API server cap a JSON patch at this many operations.
MAX_JSON_PATCH_OPS = 10000


# ---------------------------------------------------------------- errors

class ApiError(Exception):
    """An API failure answered as a metav1.Status."""

    def __init__(self, code, reason, message, details=None, headers=None,
                 list_meta=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.list_meta = list_meta or {}

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": self.list_meta,
              "status": "Failure", "message": self.message,
              "reason": self.reason}
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def expired(message):
    return ApiError(410, "Expired", message)


class FieldError:
    """One entry of an Invalid error, formatted like field.Error."""

    def __init__(self, field, kind, value=None, detail=""):
        self.field = field
        self.kind = kind          # Invalid, Required, Unsupported, Forbidden
        self.value = value
        self.detail = detail

    CAUSES = {"Invalid": "FieldValueInvalid", "Required": "FieldValueRequired",
              "Unsupported": "FieldValueNotSupported",
              "Forbidden": "FieldValueForbidden"}

    def body(self):
        if self.kind == "Required":
            return "Required value" + (": " + self.detail if self.detail
                                       else "")
        if self.kind == "Forbidden":
            return "Forbidden: " + self.detail
        label = {"Invalid": "Invalid value",
                 "Unsupported": "Unsupported value"}[self.kind]
        return "%s: %s%s" % (label, go_value(self.value),
                             ": " + self.detail if self.detail else "")

    def cause(self):
        return {"reason": self.CAUSES[self.kind], "message": self.body(),
                "field": self.field}


def go_value(v):
    """Render a value the way Go's %#v does inside field errors."""
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def invalid(kind, name, errors):
    """422 Invalid; details.kind is the Kind here, not the resource."""
    msgs = ["%s: %s" % (e.field, e.body()) for e in errors]
    text = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    details = {"name": name, "kind": kind.kind, "causes":
               [e.cause() for e in errors]}
    if kind.group:
        details = {"name": name, "group": kind.group, "kind": kind.kind,
                   "causes": details["causes"]}
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s'
                    % (kind.qualified_kind, name, text), details)


def list_options_invalid(errors):
    msgs = ["%s: %s" % (e.field, e.body()) for e in errors]
    text = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    return ApiError(422, "Invalid",
                    'ListOptions.meta.k8s.io "" is invalid: ' + text,
                    {"group": "meta.k8s.io", "kind": "ListOptions",
                     "causes": [e.cause() for e in errors]})


# ----------------------------------------------------------------- time

def now_time():
    """metav1.Time: second precision, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


MICRO_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})"
                      r"(Z|[+-]\d\d:\d\d)\Z")
TIME_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?"
                     r"(Z|[+-]\d\d:\d\d)\Z")


def _to_datetime(m, frac_us):
    y, mo, d, h, mi, s = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
    tz = m.group(8)
    off = datetime.timezone.utc
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        off = datetime.timezone(sign * datetime.timedelta(
            hours=int(tz[1:3]), minutes=int(tz[4:6])))
    return datetime.datetime(y, mo, d, h, mi, s, frac_us, off)


def parse_micro(value):
    """Normalise a MicroTime like the API server's fixed-layout parser
    ("2006-01-02T15:04:05.000000Z07:00"); None when it would not parse."""
    m = MICRO_RE.match(value)
    if not m:
        return None
    try:
        dt = _to_datetime(m, int(m.group(7)))
    except ValueError:
        return None
    return dt.astimezone(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value):
    """Normalise an RFC 3339 metav1.Time (fraction dropped); None if bad."""
    m = TIME_RE.match(value)
    if not m:
        return None
    try:
        dt = _to_datetime(m, 0)
    except ValueError:
        return None
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def age(timestamp):
    """kubectl's short human duration for the Age column."""
    t = parse_time(timestamp or "")
    if t is None:
        return "<unknown>"
    secs = int(time.time() - datetime.datetime.strptime(
        t, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp())
    secs = max(secs, 0)
    if secs < 120:
        return "%ds" % secs
    if secs < 600:
        return "%dm%ds" % (secs // 60, secs % 60) if secs % 60 else \
            "%dm" % (secs // 60)
    if secs < 3 * 3600:
        return "%dm" % (secs // 60)
    if secs < 8 * 3600:
        return "%dh%dm" % (secs // 3600, secs % 3600 // 60)
    if secs < 48 * 3600:
        return "%dh" % (secs // 3600)
    return "%dd" % (secs // 86400)


# ------------------------------------------------------ name validation

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + r")*"
QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = r"(" + QUALIFIED_NAME + r")?"


def regex_error(msg, fmt, *examples):
    s = msg + " (e.g. " + " or ".join("'%s', " % e for e in examples)
    return s + "regex used for validation is '" + fmt + "')"


SUBDOMAIN_MSG = regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric "
    "character", DNS1123_SUBDOMAIN, "example.com")
QUALIFIED_MSG = regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character", QUALIFIED_NAME,
    "MyName", "my.name", "123-abc")
LABEL_VALUE_MSG = regex_error(
    "a valid label must be an empty string or consist of alphanumeric "
    "characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character", LABEL_VALUE, "MyValue", "my_value", "12345")


def subdomain_errors(value):
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not re.fullmatch(DNS1123_SUBDOMAIN, value):
        errs.append(SUBDOMAIN_MSG)
    return errs


def qualified_name_errors(value):
    """IsQualifiedName: label and annotation keys."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name " + QUALIFIED_MSG + " with an optional DNS "
                "subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs = []
    name = parts[-1]
    if len(parts) == 2:
        if not parts[0]:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + e for e in subdomain_errors(parts[0])]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not re.fullmatch(QUALIFIED_NAME, name):
        errs.append("name part " + QUALIFIED_MSG)
    return errs


def label_value_errors(value):
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.fullmatch(LABEL_VALUE, value):
        errs.append(LABEL_VALUE_MSG)
    return errs


def validate_meta(meta):
    """ValidateObjectMeta for the parts clients write."""
    errs = []
    name = meta.get("name", "")
    if not name:
        errs.append(FieldError("metadata.name", "Required",
                               detail="name or generateName is required"))
    else:
        errs += [FieldError("metadata.name", "Invalid", name, e)
                 for e in subdomain_errors(name)]
    for k, v in (meta.get("labels") or {}).items():
        errs += [FieldError("metadata.labels", "Invalid", k, e)
                 for e in qualified_name_errors(k)]
        errs += [FieldError("metadata.labels", "Invalid", v, e)
                 for e in label_value_errors(v)]
    for k in (meta.get("annotations") or {}):
        errs += [FieldError("metadata.annotations", "Invalid", k, e)
                 for e in qualified_name_errors(k.lower())]
    return errs


def decode_error(kind, detail):
    return bad_request('%s in version "%s" cannot be handled as a %s: %s'
                       % (kind.kind, kind.version, kind.kind, detail))


def _is_int(v, bits):
    return isinstance(v, int) and not isinstance(v, bool) and \
        -2 ** (bits - 1) <= v < 2 ** (bits - 1)


# What the Go JSON decoder accepts for each field type (times are strings
# here and their layout is checked separately).
GO_TYPES = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int32": lambda v: _is_int(v, 32),
    "int64": lambda v: _is_int(v, 64),
    "object": lambda v: isinstance(v, dict),
    "map[string]string": lambda v: isinstance(v, dict) and all(
        isinstance(x, str) for x in v.values()),
    "[]string": lambda v: isinstance(v, list) and all(
        isinstance(x, str) for x in v),
    "micro": lambda v: isinstance(v, str),
    "time": lambda v: isinstance(v, str),
}


def check_types(kind, obj, spec):
    """Reject JSON values of the wrong Go type, as the decoder would.

    spec maps a dotted path to a type name: str, int32, int64, bool,
    map[string]string, []string, micro, time, object."""
    for path, want in spec.items():
        cur = obj
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            continue
        if not GO_TYPES[want](cur):
            raise decode_error(kind, "json: cannot unmarshal %s into Go "
                               "struct field %s.%s of type %s"
                               % (json_type(cur), kind.kind, path, want))
        if want == "micro" and parse_micro(cur) is None:
            layout = "2006-01-02T15:04:05.000000Z07:00"
            raise decode_error(kind, 'parsing time "%s" as "%s": cannot '
                               'parse "%s" as "%s"'
                               % (cur, layout, cur, layout))
        if want == "time" and parse_time(cur) is None:
            raise decode_error(kind, 'parsing time "%s" as '
                               '"2006-01-02T15:04:05Z07:00": cannot parse'
                               % cur)


def json_type(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


# -------------------------------------------------------------- selectors

class LabelSelector:
    """apimachinery labels.Parse: =, ==, !=, in, notin, exists, !, gt, lt."""

    SPECIAL = "=!(),<>"

    def __init__(self, text):
        self.reqs = []
        self.tokens = self._lex(text)
        self.pos = 0
        if self.tokens:
            self._parse()

    @classmethod
    def _lex(cls, text):
        toks, i = [], 0
        while i < len(text):
            c = text[i]
            if c.isspace():
                i += 1
            elif c in cls.SPECIAL:
                two = text[i:i + 2]
                if two in ("==", "!="):
                    toks.append(two)
                    i += 2
                else:
                    toks.append(c)
                    i += 1
            else:
                j = i
                while j < len(text) and not text[j].isspace() \
                        and text[j] not in cls.SPECIAL:
                    j += 1
                toks.append(("id", text[i:j]))
                i = j
        return toks

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self):
        tok = self._peek()
        self.pos += 1
        return tok

    def _ident(self, what):
        tok = self._next()
        if not isinstance(tok, tuple) or tok[1] in ("in", "notin"):
            raise bad_request("unable to parse requirement: found '%s', "
                              "expected: %s" % (self._show(tok), what))
        return tok[1]

    @staticmethod
    def _show(tok):
        if tok is None:
            return ""
        return tok[1] if isinstance(tok, tuple) else tok

    def _parse(self):
        while True:
            self._requirement()
            tok = self._next()
            if tok is None:
                return
            if tok != ",":
                raise bad_request("found '%s', expected: ',' or 'end of "
                                  "string'" % self._show(tok))

    def _requirement(self):
        if self._peek() == "!":
            self._next()
            key = self._ident("identifier")
            self._add(key, "!", [])
            return
        key = self._ident("identifier")
        tok = self._peek()
        if tok is None or tok == ",":
            self._add(key, "exists", [])
            return
        self._next()
        if tok in ("=", "==", "!="):
            nxt = self._peek()
            value = ""
            if isinstance(nxt, tuple):
                value = self._next()[1]
            elif nxt not in (None, ","):
                raise bad_request("unable to parse requirement: found '%s', "
                                  "expected: identifier" % self._show(nxt))
            self._add(key, "!=" if tok == "!=" else "=", [value])
        elif tok in (">", "<"):
            value = self._ident("identifier")
            if not re.fullmatch(r"-?\d+", value):
                raise bad_request("unable to parse requirement: for 'Gt', "
                                  "'Lt' operators, the value must be an "
                                  "integer")
            self._add(key, tok, [value])
        elif isinstance(tok, tuple) and tok[1] in ("in", "notin"):
            self._add(key, tok[1], self._set())
        else:
            raise bad_request("unable to parse requirement: found '%s', "
                              "expected: in, notin, =, ==, !=, gt, lt"
                              % self._show(tok))

    def _set(self):
        if self._next() != "(":
            raise bad_request("unable to parse requirement: found '%s', "
                              "expected: '('" % self._show(self._peek()))
        values = []
        if self._peek() == ")":
            self._next()
            return values
        while True:
            tok = self._peek()
            if isinstance(tok, tuple):
                values.append(self._next()[1])
                tok = self._peek()
            else:
                values.append("")
            self._next()
            if tok == ")":
                return values
            if tok != ",":
                raise bad_request("unable to parse requirement: found '%s', "
                                  "expected: ',', ')' or identifier"
                                  % self._show(tok))

    def _add(self, key, op, values):
        for e in qualified_name_errors(key):
            raise bad_request('unable to parse requirement: key: Invalid '
                              'value: "%s": %s' % (key, e))
        if op not in (">", "<"):
            for v in values:
                for e in label_value_errors(v):
                    raise bad_request('unable to parse requirement: '
                                      'values[0][%s]: Invalid value: "%s": %s'
                                      % (key, v, e))
        if op in ("in", "notin") and not values:
            raise bad_request("unable to parse requirement: for 'in', "
                              "'notin' operators, values set can't be empty")
        self.reqs.append((key, op, values))

    def matches(self, labels):
        labels = labels or {}
        for key, op, values in self.reqs:
            have = key in labels
            val = labels.get(key)
            if op == "exists" and not have:
                return False
            if op == "!" and have:
                return False
            if op == "=" and (not have or val != values[0]):
                return False
            if op == "!=" and have and val == values[0]:
                return False
            if op == "in" and (not have or val not in values):
                return False
            if op == "notin" and have and val in values:
                return False
            if op in (">", "<"):
                try:
                    n = int(val) if have else None
                except ValueError:
                    n = None
                limit = int(values[0])
                if n is None or (op == ">" and not n > limit) or \
                        (op == "<" and not n < limit):
                    return False
        return True


def parse_field_selector(text, supported):
    """fields.ParseSelector; returns [(field, op, value)]."""
    reqs = []
    if not text:
        return reqs
    terms, cur, i = [], "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
            continue
        if text[i] == ",":
            terms.append(cur)
            cur = ""
        else:
            cur += text[i]
        i += 1
    terms.append(cur)
    for term in terms:
        m = re.match(r"((?:[^\\=!]|\\.)*)(!=|==|=)(.*)\Z", term)
        if not m:
            raise bad_request("invalid selector: '%s'; can't understand '%s'"
                              % (text, term))
        field, op, value = m.group(1).strip(), m.group(2), m.group(3)
        value = re.sub(r"\\(.)", r"\1", value)
        if field not in supported:
            raise bad_request("field label not supported: " + field)
        reqs.append((field, "!=" if op == "!=" else "=", value))
    return reqs


class Selector:
    """A label selector and a field selector for one Kind."""

    def __init__(self, kind, query):
        self.labels = LabelSelector(query.get("labelSelector", ""))
        self.fields = parse_field_selector(query.get("fieldSelector", ""),
                                           kind.field_names)
        self.kind = kind
        self.empty = not self.labels.reqs and not self.fields

    def matches(self, data):
        if not self.labels.matches(data["metadata"].get("labels")):
            return False
        if self.fields:
            have = self.kind.fields(data)
            for field, op, value in self.fields:
                if (have.get(field, "") == value) != (op == "="):
                    return False
        return True


# ---------------------------------------------------------------- patches

def merge_patch(target, patch):
    """RFC 7386: objects merge recursively, null deletes, others replace."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# Lists that a strategic merge patch merges instead of replacing, by the
# Go struct tags of the built-in types (patchMergeKey / patchStrategy).
SMP_MERGE_KEYS = {"conditions": "type", "addresses": "type",
                  "containers": "name", "ownerReferences": "uid"}
SMP_PRIMITIVE_MERGE = {"finalizers"}


def strategic_merge_patch(target, patch):
    """Strategic merge patch for the built-in fields clients touch here;
    directives ($setElementOrder, $retainKeys) are accepted and dropped."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    deletes = {}
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            deletes[k.split("/", 1)[1]] = v
    for k, v in patch.items():
        if k.startswith("$"):
            continue
        if v is None:
            result.pop(k, None)
        elif k in SMP_MERGE_KEYS and isinstance(v, list) and \
                isinstance(result.get(k), list):
            result[k] = _smp_merge_list(result[k], v, SMP_MERGE_KEYS[k])
        elif k in SMP_PRIMITIVE_MERGE and isinstance(v, list) and \
                isinstance(result.get(k), list):
            result[k] = result[k] + [x for x in v if x not in result[k]]
        else:
            result[k] = strategic_merge_patch(result.get(k), v)
    for k, gone in deletes.items():
        if isinstance(result.get(k), list):
            result[k] = [x for x in result[k] if x not in gone]
    return result


def _smp_merge_list(current, patch, key):
    out = list(current)
    for item in patch:
        if not isinstance(item, dict):
            continue
        idx = next((i for i, c in enumerate(out) if isinstance(c, dict)
                    and c.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
        elif idx is None:
            out.append(copy.deepcopy(item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


class JsonPatchError(Exception):
    """An RFC 6902 failure; the text follows evanphx/json-patch."""


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise JsonPatchError("JSON pointer must be empty or start with a "
                             '"/": ' + path)
    return [p.replace("~1", "/").replace("~0", "~")
            for p in path[1:].split("/")]


def _container(doc, parts, path, op):
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise JsonPatchError('%s operation does not apply: doc is missing '
                                 'path: "%s": missing value' % (op, path))
    return cur


def _get(doc, path, op):
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _container(doc, parts, path, op)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise JsonPatchError('%s operation does not apply: doc is missing key: '
                         '%s: missing value' % (op, path))


def _remove(doc, path, op):
    parts = _pointer(path)
    parent = _container(doc, parts, path, op)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise JsonPatchError("unable to remove nonexistent key: %s: missing value"
                         % last)


def _add(doc, path, value, op, replace=False):
    parts = _pointer(path)
    if not parts:
        return value
    parent = _container(doc, parts, path, op)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise JsonPatchError('replace operation does not apply: doc is '
                                 'missing key: %s: missing value' % path)
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace
                                                             else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise JsonPatchError("Unable to access invalid index: %s: invalid "
                                 "index referenced" % last)
    else:
        raise JsonPatchError('%s operation does not apply: doc is missing '
                             'path: "%s": missing value' % (op, path))
    return doc


def json_equal(a, b):
    """JSON equality: unlike Python's ==, true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(json_equal, a, b))
    return a == b


def json_patch(doc, ops):
    """RFC 6902 on a deep copy of doc."""
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise JsonPatchError("invalid operation")
        kind = op.get("op")
        path = op.get("path")
        if not isinstance(path, str):
            raise JsonPatchError("%s operation missing path" % kind)
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")), kind)
        elif kind == "remove":
            _remove(doc, path, kind)
        elif kind == "replace":
            _get(doc, path, kind)
            doc = _add(doc, path, copy.deepcopy(op.get("value")), kind, True)
        elif kind in ("move", "copy"):
            src = op.get("from", "")
            value = _remove(doc, src, kind) if kind == "move" else \
                copy.deepcopy(_get(doc, src, kind))
            doc = _add(doc, path, value, kind)
        elif kind == "test":
            try:
                have = _get(doc, path, kind)
            except JsonPatchError:
                have = None
            if not json_equal(have, op.get("value")):
                raise JsonPatchError("testing value %s failed: test failed"
                                     % path)
        else:
            raise JsonPatchError("Unexpected kind: %s" % kind)
    return doc


# ------------------------------------------------------------------ kinds

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch",
             "update", "watch"]
META_ORDER = ("name", "generateName", "namespace", "uid", "resourceVersion",
              "generation", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "labels", "annotations",
              "ownerReferences", "finalizers")
# JSON types of the metadata fields, checked on every write.
META_TYPES = {"metadata.name": "str", "metadata.generateName": "str",
              "metadata.namespace": "str", "metadata.resourceVersion": "str",
              "metadata.labels": "map[string]string",
              "metadata.annotations": "map[string]string",
              "metadata.finalizers": "[]string"}


class Kind:
    """One API resource: where it lives, how it is shown and checked."""

    def __init__(self, plural, kind, group, version, namespaced, storage,
                 short_names=(), verbs=ALL_VERBS, fields=None,
                 field_names=(), columns=(), row=None, types=None,
                 validate=None, to_view=None, from_view=None,
                 create_on_update=False, unconditional_update=True,
                 return_deleted=False, categories=()):
        self.plural, self.kind, self.group, self.version = \
            plural, kind, group, version
        self.namespaced, self.storage = namespaced, storage
        self.short_names, self.verbs = list(short_names), list(verbs)
        self.categories = list(categories)
        base = ["metadata.name"] + (["metadata.namespace"] if namespaced
                                    else [])
        self.field_names = set(base) | set(field_names)
        self._fields = fields
        self.columns = list(columns)
        self.row = row
        self.types = dict(META_TYPES, **(types or {}))
        self.validate = validate or (lambda new, old: [])
        self.to_view = to_view or (lambda d: d)
        self.from_view = from_view or (lambda d: d)
        self.converts = to_view is not None
        self.create_on_update = create_on_update
        self.unconditional_update = unconditional_update
        self.return_deleted = return_deleted
        self.api_version = group + "/" + version if group else version
        self.qualified = plural + "." + group if group else plural
        self.qualified_kind = kind + "." + group if group else kind
        self.head = ('{"kind":"%s","apiVersion":"%s",'
                     % (kind, self.api_version)).encode()

    def fields(self, data):
        meta = data["metadata"]
        out = {"metadata.name": meta.get("name", ""),
               "metadata.namespace": meta.get("namespace", "")}
        if self._fields:
            out.update(self._fields(data))
        return out

    def item_bytes(self, obj):
        """JSON of a stored object as a list item (no kind/apiVersion)."""
        if self.converts:
            return dumps(self.to_view(obj.data))
        return obj.raw()

    def full_bytes(self, obj, data=None):
        """JSON with kind and apiVersion first, as a GET or watch shows."""
        raw = dumps(self.to_view(data)) if data is not None else \
            self.item_bytes(obj)
        return self.head + raw[1:]

    def details(self, name):
        return {"name": name, "group": self.group, "kind": self.plural} \
            if self.group else {"name": name, "kind": self.plural}

    def not_found(self, name):
        return ApiError(404, "NotFound", '%s "%s" not found'
                        % (self.qualified, name), self.details(name))

    def conflict(self, name, why="the object has been modified; please "
                 "apply your changes to the latest version and try again"):
        return ApiError(409, "Conflict", 'Operation cannot be fulfilled on '
                        '%s "%s": %s' % (self.qualified, name, why),
                        self.details(name))

    def discovery(self):
        res = {"name": self.plural, "singularName": self.kind.lower(),
               "namespaced": self.namespaced, "kind": self.kind,
               "verbs": self.verbs}
        if self.short_names:
            res["shortNames"] = self.short_names
        if self.categories:
            res["categories"] = self.categories
        return res


def dumps(data):
    return json.dumps(data, separators=(",", ":")).encode()


def ordered(data):
    """Key order of the Go structs: metadata first, metadata in field order.
    It makes output look real and no-op detection cheap."""
    meta = data.get("metadata") or {}
    m = {k: meta[k] for k in META_ORDER if k in meta}
    m.update((k, v) for k, v in meta.items() if k not in m)
    out = {"metadata": m}
    out.update((k, v) for k, v in data.items()
               if k not in ("metadata", "kind", "apiVersion"))
    return out


# Columns of the server-side tables kubectl prints (name, type, priority).
NAME_COL = ("Name", "string", 0, "name")
AGE_COL = ("Age", "string", 0, "")


def node_status_text(d):
    ready = next((c.get("status") for c in
                  d.get("status", {}).get("conditions", [])
                  if c.get("type") == "Ready"), "Unknown")
    text = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
    if d.get("spec", {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def node_address(d, kind):
    return next((a.get("address") for a in
                 d.get("status", {}).get("addresses", [])
                 if a.get("type") == kind), "<none>")


def node_row(d):
    roles = sorted(k.split("/", 1)[1] for k in d["metadata"].get("labels", {})
                   if k.startswith("node-role.kubernetes.io/"))
    info = d.get("status", {}).get("nodeInfo", {})
    return [d["metadata"]["name"], node_status_text(d),
            ",".join(roles) or "<none>",
            age(d["metadata"].get("creationTimestamp")),
            info.get("kubeletVersion", ""), node_address(d, "InternalIP"),
            node_address(d, "ExternalIP"), info.get("osImage", ""),
            info.get("kernelVersion", ""),
            info.get("containerRuntimeVersion", "")]


def pod_row(d):
    st = d.get("status", {})
    cs = st.get("containerStatuses", [])
    ready = sum(1 for c in cs if c.get("ready"))
    return [d["metadata"]["name"], "%d/%d" % (ready, len(
        d.get("spec", {}).get("containers", []))),
        "Terminating" if d["metadata"].get("deletionTimestamp")
        else st.get("phase", ""),
        sum(c.get("restartCount", 0) for c in cs),
        age(d["metadata"].get("creationTimestamp")),
        st.get("podIP") or "<none>", d.get("spec", {}).get("nodeName")
        or "<none>"]


def event_row(d):
    obj = d.get("involvedObject", {})
    last = d.get("lastTimestamp") or d.get("eventTime") or \
        d["metadata"].get("creationTimestamp")
    return [age(last), d.get("type", ""), d.get("reason", ""),
            "%s/%s" % (obj.get("kind", "").lower(), obj.get("name", "")),
            d.get("message", "")]


def node_fields(d):
    return {"spec.unschedulable":
            "true" if d.get("spec", {}).get("unschedulable") else "false"}


def pod_fields(d):
    spec, st = d.get("spec", {}), d.get("status", {})
    return {"spec.nodeName": spec.get("nodeName", ""),
            "spec.restartPolicy": spec.get("restartPolicy", ""),
            "spec.schedulerName": spec.get("schedulerName", ""),
            "spec.serviceAccountName": spec.get("serviceAccountName", ""),
            "status.phase": st.get("phase", ""),
            "status.podIP": st.get("podIP", ""),
            "status.hostIP": st.get("hostIP", "")}


def event_fields(d):
    obj = d.get("involvedObject", {})
    out = {"involvedObject." + k: str(obj.get(k, "")) for k in
           ("kind", "namespace", "name", "uid", "apiVersion",
            "resourceVersion", "fieldPath")}
    out.update({"reason": d.get("reason", ""), "type": d.get("type", ""),
                "reportingComponent": d.get("reportingComponent", ""),
                "source": d.get("source", {}).get("component", "")})
    # events.k8s.io/v1 names for the same fields.
    out.update({"regarding." + k[len("involvedObject."):]: v
                for k, v in list(out.items())
                if k.startswith("involvedObject.")})
    out["reportingController"] = out["reportingComponent"]
    out["deprecatedSource"] = out["source"]
    return out


def validate_node(new, old):
    errs = []
    spec = new.get("spec") or {}
    for i, t in enumerate(spec.get("taints") or []):
        path = "spec.taints[%d]" % i
        if not isinstance(t, dict):
            errs.append(FieldError(path, "Invalid", t, "must be an object"))
            continue
        errs += [FieldError(path + ".key", "Invalid", t.get("key", ""), e)
                 for e in qualified_name_errors(t.get("key", ""))]
        if t.get("effect") not in ("NoSchedule", "PreferNoSchedule",
                                   "NoExecute"):
            errs.append(FieldError(path + ".effect", "Unsupported",
                                   t.get("effect", ""),
                                   'supported values: "NoSchedule", '
                                   '"PreferNoSchedule", "NoExecute"'))
    if old is not None:
        before = (old.get("spec") or {}).get("providerID", "")
        if before and spec.get("providerID", "") != before:
            errs.append(FieldError(
                "spec.providerID", "Forbidden",
                detail='node updates may not change providerID except from '
                '"" to valid'))
    return errs


LEASE_SPEC_FIELDS = ("holderIdentity", "leaseDurationSeconds", "acquireTime",
                     "renewTime", "leaseTransitions")


def validate_lease(new, old):
    spec = new.get("spec") or {}
    errs = []
    d = spec.get("leaseDurationSeconds")
    if d is not None and d <= 0:
        errs.append(FieldError("spec.leaseDurationSeconds", "Invalid", d,
                               "must be greater than 0"))
    t = spec.get("leaseTransitions")
    if t is not None and t < 0:
        errs.append(FieldError("spec.leaseTransitions", "Invalid", t,
                               "must be greater than or equal to 0"))
    return errs


def validate_core_event(new, old):
    """legacyValidateEvent: core/v1 only checks namespaces and lengths."""
    errs = []
    obj = new.get("involvedObject") or {}
    ns = new["metadata"].get("namespace", "")
    if not obj.get("namespace"):
        if ns not in ("", "default"):
            errs.append(FieldError("involvedObject.namespace", "Invalid",
                                   obj.get("namespace", ""),
                                   "does not match event.namespace"))
    elif obj["namespace"] != ns:
        errs.append(FieldError("involvedObject.namespace", "Invalid",
                               obj["namespace"],
                               "does not match event.namespace"))
    for field in ("reportingInstance", "action", "reason"):
        if len(new.get(field) or "") > 128:
            errs.append(FieldError(field, "Invalid", "",
                                   "can have at most 128 characters"))
    return errs


def validate_events_v1(new, old):
    """validateEvent for events.k8s.io/v1 writes (stored core form)."""
    errs = []
    if not new.get("eventTime"):
        errs.append(FieldError("eventTime", "Required"))
    if new.get("type") not in ("Normal", "Warning"):
        errs.append(FieldError("type", "Invalid", "", "has invalid value: %s"
                               % (new.get("type") or "")))
    for field, show in (("firstTimestamp", "deprecatedFirstTimestamp"),
                        ("lastTimestamp", "deprecatedLastTimestamp")):
        if new.get(field):
            errs.append(FieldError(show, "Invalid", "", "needs to be unset"))
    if new.get("count"):
        errs.append(FieldError("deprecatedCount", "Invalid", "",
                               "needs to be unset"))
    if (new.get("source") or {}).get("component") or \
            (new.get("source") or {}).get("host"):
        errs.append(FieldError("deprecatedSource", "Invalid", "",
                               "needs to be unset"))
    obj = new.get("involvedObject") or {}
    ns = new["metadata"].get("namespace", "")
    if not obj.get("namespace"):
        if ns not in ("", "default", "kube-system"):
            errs.append(FieldError("regarding.namespace", "Invalid",
                                   obj.get("namespace", ""),
                                   "does not match event.namespace"))
    elif obj["namespace"] != ns:
        errs.append(FieldError("regarding.namespace", "Invalid",
                               obj["namespace"],
                               "does not match event.namespace"))
    rc = new.get("reportingComponent") or ""
    if not rc:
        errs.append(FieldError("reportingController", "Required"))
    else:
        errs += [FieldError("reportingController", "Invalid", rc, e)
                 for e in qualified_name_errors(rc)]
    for field, limit, show in (("reportingInstance", 128, None),
                               ("action", 128, None), ("reason", 128, None),
                               ("message", 1024, "note")):
        value = new.get(field) or ""
        if not value and show is None:
            errs.append(FieldError(field, "Required"))
        elif len(value) > limit:
            errs.append(FieldError(show or field, "Invalid", "",
                                   "can have at most %d characters" % limit))
    return errs


# events.k8s.io/v1 field <-> core/v1 field (one storage, two views).
EVENT_V1_MAP = [("regarding", "involvedObject"), ("related", "related"),
                ("note", "message"), ("deprecatedSource", "source"),
                ("deprecatedFirstTimestamp", "firstTimestamp"),
                ("deprecatedLastTimestamp", "lastTimestamp"),
                ("deprecatedCount", "count"),
                ("reportingController", "reportingComponent")]
EVENT_SAME = ("eventTime", "series", "reportingInstance", "action", "reason",
              "type")


def event_to_v1(core):
    # eventTime is never omitted (no omitempty in events.k8s.io/v1).
    out = {"metadata": core["metadata"], "eventTime": core.get("eventTime")}
    for f in EVENT_SAME[1:]:
        if core.get(f):
            out[f] = core[f]
    for v1, c in EVENT_V1_MAP:
        if core.get(c):
            out[v1] = core[c]
    return out


def event_from_v1(v1):
    core = {"metadata": v1.get("metadata") or {}}
    for f in EVENT_SAME:
        if f in v1:
            core[f] = v1[f]
    for v, c in EVENT_V1_MAP:
        if v in v1:
            core[c] = v1[v]
    return core


def core_event_defaults(d):
    """Fields core/v1 Events always carry (no omitempty in Go)."""
    d.setdefault("involvedObject", {})
    d.setdefault("source", {})
    for f in ("firstTimestamp", "lastTimestamp", "eventTime"):
        d.setdefault(f, None)
    d.setdefault("reportingComponent", "")
    d.setdefault("reportingInstance", "")
    return d


EVENT_TYPES = {"eventTime": "micro", "reason": "str", "message": "str",
               "type": "str", "action": "str", "reportingComponent": "str",
               "reportingInstance": "str", "count": "int32",
               "involvedObject": "object", "firstTimestamp": "time",
               "lastTimestamp": "time", "series.lastObservedTime": "micro",
               "series.count": "int32"}

NODES = Kind("nodes", "Node", "", "v1", False, "nodes", short_names=["no"],
             fields=node_fields, field_names=["spec.unschedulable"],
             columns=[NAME_COL, ("Status", "string", 0, ""),
                      ("Roles", "string", 0, ""), AGE_COL,
                      ("Version", "string", 0, ""),
                      ("Internal-IP", "string", 1, ""),
                      ("External-IP", "string", 1, ""),
                      ("OS-Image", "string", 1, ""),
                      ("Kernel-Version", "string", 1, ""),
                      ("Container-Runtime", "string", 1, "")],
             row=node_row, validate=validate_node,
             types={"spec.providerID": "str", "spec.unschedulable": "bool"})
PODS = Kind("pods", "Pod", "", "v1", True, "pods", short_names=["po"],
            categories=["all"], fields=pod_fields,
            field_names=list(pod_fields({}).keys()),
            columns=[NAME_COL, ("Ready", "string", 0, ""),
                     ("Status", "string", 0, ""),
                     ("Restarts", "string", 0, ""), AGE_COL,
                     ("IP", "string", 1, ""), ("Node", "string", 1, "")],
            row=pod_row, return_deleted=True)
NAMESPACES = Kind("namespaces", "Namespace", "", "v1", False, "namespaces",
                  short_names=["ns"], verbs=["get", "list", "watch"],
                  fields=lambda d: {"status.phase": "Active"},
                  field_names=["status.phase"],
                  columns=[NAME_COL, ("Status", "string", 0, ""), AGE_COL],
                  row=lambda d: [d["metadata"]["name"], "Active",
                                 age(d["metadata"]["creationTimestamp"])])
LEASES = Kind("leases", "Lease", "coordination.k8s.io", "v1", True, "leases",
              columns=[NAME_COL, ("Holder", "string", 0, ""), AGE_COL],
              row=lambda d: [d["metadata"]["name"],
                             (d.get("spec") or {}).get("holderIdentity", ""),
                             age(d["metadata"].get("creationTimestamp"))],
              types={"spec": "object", "spec.holderIdentity": "str",
                     "spec.leaseDurationSeconds": "int32",
                     "spec.acquireTime": "micro", "spec.renewTime": "micro",
                     "spec.leaseTransitions": "int32"},
              validate=validate_lease, create_on_update=True,
              unconditional_update=False)
EVENT_COLUMNS = [("Last Seen", "string", 0, ""), ("Type", "string", 0, ""),
                 ("Reason", "string", 0, ""), ("Object", "string", 0, ""),
                 ("Message", "string", 0, "")]
CORE_EVENTS = Kind("events", "Event", "", "v1", True, "events",
                   short_names=["ev"], fields=event_fields,
                   field_names=list(event_fields({"metadata": {}}).keys()),
                   columns=EVENT_COLUMNS, row=event_row,
                   validate=validate_core_event, types=EVENT_TYPES)
EVENTS_V1 = Kind("events", "Event", "events.k8s.io", "v1", True, "events",
                 short_names=["ev"], fields=event_fields,
                 field_names=list(event_fields({"metadata": {}}).keys()),
                 columns=EVENT_COLUMNS, row=event_row,
                 validate=validate_events_v1, types=EVENT_TYPES,
                 to_view=event_to_v1, from_view=event_from_v1)

# (group, version) -> {plural: Kind}
API_GROUPS = {("", "v1"): {k.plural: k for k in
                           (NODES, PODS, NAMESPACES, CORE_EVENTS)},
              ("coordination.k8s.io", "v1"): {"leases": LEASES},
              ("events.k8s.io", "v1"): {"events": EVENTS_V1}}
# Kinds that clients may write through the API (pods come from the admin
# API only, as if a kubelet and scheduler made them).
API_WRITABLE = {NODES, LEASES, CORE_EVENTS, EVENTS_V1}
# Namespaces every cluster has; others appear when referenced.
BASE_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")


# ------------------------------------------------------- object builders

def ready_conditions(ready, previous, now):
    """Node conditions for a Ready status, keeping times like the kubelet
    and the node lifecycle controller: lastTransitionTime moves only on a
    change, Unknown keeps lastHeartbeatTime and turns every condition
    Unknown."""
    prev = {c.get("type"): c for c in previous or []}
    pressure = [("MemoryPressure", "KubeletHasSufficientMemory",
                 "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure",
                 "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID",
                 "kubelet has sufficient PID available")]
    if ready == "True":
        rd = ("Ready", "True", "KubeletReady",
              "kubelet is posting ready status")
    elif ready == "False":
        rd = ("Ready", "False", "KubeletNotReady",
              "container runtime network not ready: NetworkReady=false "
              "reason:NetworkPluginNotReady message:Network plugin returns "
              "error: cni plugin not initialized")
    else:
        rd = ("Ready", "Unknown", "NodeStatusUnknown",
              "Kubelet stopped posting node status.")
    wanted = [(t, "Unknown", "NodeStatusUnknown",
               "Kubelet stopped posting node status.") if ready == "Unknown"
              else (t, "False", r, m) for t, r, m in pressure] + [rd]
    out = []
    for ctype, status, reason, message in wanted:
        old = prev.get(ctype)
        changed = old is None or old.get("status") != status
        beat = old.get("lastHeartbeatTime", now) if old and \
            ready == "Unknown" else now
        out.append({"type": ctype, "status": status,
                    "lastHeartbeatTime": beat,
                    "lastTransitionTime": now if changed else
                    old.get("lastTransitionTime", now),
                    "reason": reason, "message": message})
    return out


# Taints the control plane keeps in step with Ready and spec.unschedulable.
MANAGED_TAINTS = ("node.kubernetes.io/not-ready",
                  "node.kubernetes.io/unreachable",
                  "node.kubernetes.io/unschedulable")


def managed_taints(taints, ready, unschedulable, now):
    keep = [t for t in taints or [] if t.get("key") not in MANAGED_TAINTS]
    have = {(t.get("key"), t.get("effect")): t for t in taints or []}
    want = []
    if ready in ("False", "Unknown"):
        key = "node.kubernetes.io/" + ("not-ready" if ready == "False"
                                       else "unreachable")
        want += [(key, "NoSchedule"), (key, "NoExecute")]
    if unschedulable:
        want.append(("node.kubernetes.io/unschedulable", "NoSchedule"))
    for key, effect in want:
        taint = have.get((key, effect)) or {"key": key, "effect": effect}
        if effect == "NoExecute":
            taint.setdefault("timeAdded", now)
        keep.append(taint)
    return keep


def node_ready(data):
    return next((c.get("status") for c in
                 (data.get("status") or {}).get("conditions", [])
                 if c.get("type") == "Ready"), "Unknown")


DEFAULT_IMAGES = [
    {"names": ["quay.io/cilium/cilium@sha256:" + "1f" * 32,
               "quay.io/cilium/cilium:v1.16.5"], "sizeBytes": 196451028},
    {"names": ["registry.k8s.io/pause@sha256:" + "7a" * 32,
               "registry.k8s.io/pause:3.10"], "sizeBytes": 320368},
]


def padded_images(target_bytes, base_bytes):
    """An image list that brings a node to about target_bytes of JSON."""
    images = list(DEFAULT_IMAGES)
    size = base_bytes
    i = 0
    while size < target_bytes:
        img = {"names": ["registry.example.com/team/app-%04d@sha256:%064x"
                         % (i, i * 7919 + 1),
                         "registry.example.com/team/app-%04d:v1.%d.0"
                         % (i, i)], "sizeBytes": 10000000 + i * 4099}
        images.append(img)
        size += len(dumps(img)) + 1
        i += 1
    return images


def build_node(name, seq, fields, images=None):
    now = now_time()
    labels = {"beta.kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
              "kubernetes.io/os": "linux",
              "node.kubernetes.io/instance-type": "cpx31",
              "topology.kubernetes.io/region": "fsn1",
              "topology.kubernetes.io/zone": "fsn1-dc14",
              "instance.hetzner.cloud/provided-by": "cloud"}
    labels.update(fields.get("labels") or {})
    ready = fields.get("ready", "True")
    unsched = bool(fields.get("unschedulable", False))
    spec = {"podCIDR": "10.244.%d.0/24" % (seq % 256),
            "podCIDRs": ["10.244.%d.0/24" % (seq % 256)]}
    provider = fields.get("providerID", "hcloud://%d" % (40000000 + seq))
    if provider:
        spec["providerID"] = provider
    if unsched:
        spec["unschedulable"] = True
    taints = managed_taints(fields.get("taints"), ready, unsched, now)
    if taints:
        spec["taints"] = taints
    addresses = []
    internal = fields.get("internalIP", "127.1.%d.%d" % (seq // 250 % 250,
                                                          seq % 250 + 1))
    # Either may be a list: several addresses of that type, in order.
    for kind, val in (("InternalIP", internal),
                      ("ExternalIP", fields.get("externalIP"))):
        for v in val if isinstance(val, list) else [val] if val else []:
            addresses.append({"type": kind, "address": v})
    addresses.append({"type": "Hostname", "address": name})
    meta = {"name": name, "labels": {k: v for k, v in labels.items()
                                     if v is not None},
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach":
                "true"}}
    if fields.get("finalizers"):
        meta["finalizers"] = list(fields["finalizers"])
    resources = {"cpu": "4", "ephemeral-storage": "157197504Ki",
                 "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                 "memory": "7940928Ki", "pods": "110"}
    status = {
        "capacity": resources, "allocatable": dict(resources),
        "conditions": ready_conditions(ready, None, now),
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex,
            "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            "bootID": str(uuid.uuid4()),
            "kernelVersion": "6.1.0-28-amd64",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "containerd://1.7.24",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux", "architecture": "amd64"},
        "images": images if images is not None else DEFAULT_IMAGES,
    }
    return {"metadata": meta, "spec": spec, "status": status}


def apply_node_fields(data, fields):
    """Admin PATCH of a node: the changes a kubelet, the control plane or
    an operator would make, on a copy of the stored object."""
    d = copy.deepcopy(data)
    meta, spec, status = d["metadata"], d.setdefault("spec", {}), \
        d.setdefault("status", {})
    now = now_time()
    if "labels" in fields:
        meta["labels"] = merge_patch(meta.get("labels") or {},
                                     fields["labels"] or {})
    if "finalizers" in fields:
        meta["finalizers"] = list(fields["finalizers"] or [])
    if "providerID" in fields:
        if fields["providerID"]:
            spec["providerID"] = fields["providerID"]
        else:
            spec.pop("providerID", None)
    for key, kind in (("internalIP", "InternalIP"),
                      ("externalIP", "ExternalIP")):
        if key in fields:
            addrs = [a for a in status.get("addresses", [])
                     if a.get("type") != kind]
            # A list: several addresses of that type, in that order.
            vals = fields[key] if isinstance(fields[key], list) else \
                [fields[key]] if fields[key] else []
            at = 0 if kind == "InternalIP" else len(
                [a for a in addrs if a.get("type") == "InternalIP"])
            for i, v in enumerate(vals):
                addrs.insert(at + i, {"type": kind, "address": v})
            status["addresses"] = addrs
    ready = fields.get("ready", node_ready(d))
    if "ready" in fields or fields.get("heartbeat"):
        status["conditions"] = ready_conditions(
            ready, status.get("conditions"), now)
    if "unschedulable" in fields:
        if fields["unschedulable"]:
            spec["unschedulable"] = True
        else:
            spec.pop("unschedulable", None)
    if "taints" in fields:
        spec["taints"] = list(fields["taints"] or [])
    taints = managed_taints(spec.get("taints"), ready,
                            spec.get("unschedulable"), now)
    if taints:
        spec["taints"] = taints
    else:
        spec.pop("taints", None)
    return d


def build_pod(fields, host_ip):
    now = now_time()
    ready = bool(fields.get("ready", True))
    phase = fields.get("phase", "Running")
    image = "ghcr.io/tuist/stable-egress-host-configurer:v1.0.0"
    state = {"running": {"startedAt": now}} if phase == "Running" else \
        {"waiting": {"reason": "ContainerCreating"}}
    meta = {"name": fields["name"],
            "namespace": fields.get("namespace") or "default",
            "labels": dict(fields.get("labels") or {})}
    spec = {"containers": [{"name": "main", "image": image,
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                            "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "serviceAccount": "default", "schedulerName": "default-scheduler",
            "enableServiceLinks": True, "priority": 0}
    if fields.get("nodeName"):
        spec["nodeName"] = fields["nodeName"]
    status = {"phase": phase, "conditions": pod_conditions(ready, None, now),
              "startTime": now,
              "containerStatuses": [{"name": "main", "state": state,
                                     "lastState": {}, "ready": ready,
                                     "restartCount": 0, "image": image,
                                     "imageID": image + "@sha256:" +
                                     "3c" * 32, "started": ready}]}
    if host_ip:
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
    pod_ip = fields.get("podIP")
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return {"metadata": meta, "spec": spec, "status": status}


def pod_conditions(ready, previous, now):
    prev = {c.get("type"): c for c in previous or []}
    out = []
    for ctype, status in (("Initialized", "True"),
                          ("Ready", "True" if ready else "False"),
                          ("ContainersReady", "True" if ready else "False"),
                          ("PodScheduled", "True")):
        old = prev.get(ctype)
        cond = {"type": ctype, "status": status, "lastProbeTime": None,
                "lastTransitionTime": now if old is None or
                old.get("status") != status else old.get("lastTransitionTime")}
        if status == "False":
            cond["reason"] = "ContainersNotReady"
            cond["message"] = "containers with unready status: [main]"
        out.append(cond)
    return out


def apply_pod_fields(data, fields):
    d = copy.deepcopy(data)
    meta, spec, status = d["metadata"], d["spec"], d["status"]
    now = now_time()
    if "labels" in fields:
        meta["labels"] = merge_patch(meta.get("labels") or {},
                                     fields["labels"] or {})
    if "nodeName" in fields:
        spec["nodeName"] = fields["nodeName"]
    if "phase" in fields:
        status["phase"] = fields["phase"]
    if "podIP" in fields:
        status["podIP"] = fields["podIP"]
        status["podIPs"] = [{"ip": fields["podIP"]}]
    if fields.get("deleting") and not meta.get("deletionTimestamp"):
        # A graceful delete: the pod stays, terminating, for its grace
        # period (the kubelet has not confirmed yet); Ready is untouched.
        # A finalizer stands in for the kubelet: DELETE then removes it.
        meta["deletionTimestamp"] = now
        meta["deletionGracePeriodSeconds"] = 30
        meta["finalizers"] = meta.get("finalizers") or [
            "example.com/fake-hold"]
    if "ready" in fields:
        ready = bool(fields["ready"])
        status["conditions"] = pod_conditions(ready, status.get("conditions"),
                                              now)
        for cs in status.get("containerStatuses", []):
            cs["ready"] = ready
            cs["started"] = ready
    return d


# ------------------------------------------------------------------ store

Change = collections.namedtuple("Change", "rv storage key old new")


class Obj:
    """A stored object: data is never changed in place once stored, so its
    JSON can be cached and shared by lists, watches and snapshots."""

    __slots__ = ("data", "_raw")

    def __init__(self, data):
        self.data = data
        self._raw = None

    def raw(self):
        if self._raw is None:
            self._raw = dumps(self.data)
        return self._raw


class Store:
    """Objects, the global resourceVersion and a bounded change history.

    The history serves watches that resume from an RV, exact-RV lists and
    continue tokens (a page is read at its token's RV by undoing later
    changes, as etcd reads a past revision). Anything older than the
    history window or the compaction point is gone (410)."""

    def __init__(self, history_size, start_rv=1000):
        self.cond = threading.Condition()
        self.rv = start_rv
        self.objects = collections.defaultdict(dict)
        self.history = collections.deque()
        self.history_size = history_size
        self.evicted_rv = start_rv
        self.compact_rv = 0
        self.continue_epoch = 0
        self.label_log = []

    def oldest(self):
        """The oldest RV a watch may resume from."""
        return max(self.evicted_rv, self.compact_rv)

    def commit(self, storage, key, data):
        """Store data (None deletes) at the next RV; caller holds cond."""
        self.rv += 1
        objs = self.objects[storage]
        old = objs.get(key)
        new = None
        if data is None:
            objs.pop(key, None)
        else:
            data["metadata"]["resourceVersion"] = str(self.rv)
            new = objs[key] = Obj(data)
        self.history.append(Change(self.rv, storage, key, old, new))
        while len(self.history) > self.history_size:
            self.evicted_rv = self.history.popleft().rv
        if storage == "nodes":
            self.label_log.append((time.time(), self.rv, key[1],
                                   new.data["metadata"].get("labels") or {}
                                   if new else None))
        self.cond.notify_all()
        return new

    def changes_since(self, pos):
        """Changes after pos, oldest first; None if some were dropped."""
        if pos < self.evicted_rv:
            return None
        out = []
        for ch in reversed(self.history):
            if ch.rv <= pos:
                break
            out.append(ch)
        out.reverse()
        return out

    def state_at(self, storage, rv):
        """{key: Obj} as it was at rv (rv must be >= oldest())."""
        cur = dict(self.objects[storage])
        for ch in reversed(self.history):
            if ch.rv <= rv:
                break
            if ch.storage == storage:
                if ch.old is None:
                    cur.pop(ch.key, None)
                else:
                    cur[ch.key] = ch.old
        return cur


def stamped(data, rv):
    """A copy of data carrying resourceVersion rv (DELETED events)."""
    out = dict(data)
    out["metadata"] = dict(data["metadata"], resourceVersion=str(rv))
    return out


def encode_continue(rv, start, epoch):
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": start + "\x00",
             "e": epoch}
    return base64.urlsafe_b64encode(dumps(token)).decode().rstrip("=")


def decode_continue(token):
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError("unsupported version")
        return int(data["rv"]), data["start"], int(data.get("e", 0))
    except (ValueError, KeyError, TypeError) as e:
        raise bad_request("continue key is not valid: %s" % e)


def parse_bool(value):
    """Go's strconv.ParseBool, as the query parameter decoder uses."""
    if value is None or value == "":
        return False
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise bad_request('strconv.ParseBool: parsing "%s": invalid syntax'
                      % value)


def parse_rv(value):
    if not re.fullmatch(r"\d+", value):
        raise bad_request('invalid resource version: strconv.ParseUint: '
                          'parsing "%s": invalid syntax' % value)
    return int(value)


def too_large(rv, current):
    return ApiError(504, "Timeout", "Too large resource version: %d, "
                    "current: %d" % (rv, current),
                    {"causes": [{"reason": "ResourceVersionTooLarge",
                                 "message": "Too large resource version"}],
                     "retryAfterSeconds": 1})


def list_options_errors(rv, match, cont, query):
    """ValidateListOptions for a list (not a watch)."""
    def forbidden(detail):
        return FieldError("resourceVersionMatch", "Forbidden", detail=detail)
    errs = []
    if match:
        if not rv:
            errs.append(forbidden("resourceVersionMatch is forbidden unless "
                                  "resourceVersion is provided"))
        if cont:
            errs.append(forbidden("resourceVersionMatch is forbidden when "
                                  "continue is provided"))
        if match not in ("Exact", "NotOlderThan"):
            errs.append(FieldError(
                "resourceVersionMatch", "Unsupported", match,
                'supported values: "Exact", "NotOlderThan", ""'))
        if match == "Exact" and rv == "0":
            errs.append(forbidden('resourceVersionMatch "exact" is forbidden '
                                  'for resourceVersion "0"'))
    if "sendInitialEvents" in query:
        errs.append(FieldError("sendInitialEvents", "Forbidden",
                               detail="sendInitialEvents is forbidden for "
                               "list"))
    return errs


def sort_key(key):
    return key[0] + "/" + key[1] if key[0] else key[1]


# -------------------------------------------------------------------- api

class Api:
    """The API semantics (reads and writes) shared by the HTTPS API and the
    admin API, so both take exactly the same path."""

    def __init__(self, store):
        self.store = store
        self.namespaces = {ns: now_time() for ns in BASE_NAMESPACES}

    # reads

    def get(self, kind, ns, name):
        if kind is NAMESPACES:
            return self.namespace(name)
        with self.store.cond:
            obj = self.store.objects[kind.storage].get((ns, name))
        if obj is None:
            raise kind.not_found(name)
        return obj

    def namespace(self, name):
        """Namespaces exist once referenced, so tests may pick any name."""
        if subdomain_errors(name) or len(name) > 63:
            raise NAMESPACES.not_found(name)
        with self.store.cond:
            created = self.namespaces.setdefault(name, now_time())
        return Obj({
            "metadata": {"name": name, "uid": str(uuid.uuid5(
                uuid.NAMESPACE_DNS, name + ".ns")),
                "resourceVersion": "1", "creationTimestamp": created,
                "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}})

    def list(self, kind, ns, query):
        """(items as [Obj], list metadata) for a list request."""
        rv = query.get("resourceVersion", "")
        match = query.get("resourceVersionMatch", "")
        cont = query.get("continue", "")
        errs = list_options_errors(rv, match, cont, query)
        if errs:
            raise list_options_invalid(errs)
        limit = query.get("limit", "")
        if limit and not re.fullmatch(r"-?\d+", limit):
            raise bad_request('strconv.ParseInt: parsing "%s": invalid '
                              'syntax' % limit)
        limit = max(int(limit or 0), 0)
        sel = Selector(kind, query)
        if kind is NAMESPACES:
            with self.store.cond:
                names = set(self.namespaces) | {
                    k[0] for objs in self.store.objects.values()
                    for k in objs if k[0]}
                list_rv = self.store.rv
            items = [self.namespace(n) for n in sorted(names)]
            return [o for o in items if sel.matches(o.data)], \
                {"resourceVersion": str(list_rv)}
        store = self.store
        with store.cond:
            start = ""
            if cont:
                if rv not in ("", "0"):
                    raise bad_request("specifying resource version is not "
                                      "allowed when using continue")
                list_rv, start, epoch = decode_continue(cont)
                if epoch != store.continue_epoch or \
                        list_rv < store.oldest():
                    fresh = encode_continue(store.rv, start[:-1],
                                            store.continue_epoch)
                    raise ApiError(
                        410, "Expired", "The provided continue parameter is "
                        "too old to display a consistent list result. You "
                        "can start a new list without the continue "
                        "parameter, or use the continue token in this "
                        "response to retrieve the remainder of the results. "
                        "Continuing with the provided token results in an "
                        "inconsistent list - objects that were created, "
                        "modified, or deleted between the time the first "
                        "chunk was returned and now may show up in the list.",
                        list_meta={"continue": fresh})
                objs = store.state_at(kind.storage, list_rv)
            else:
                want = parse_rv(rv) if rv not in ("", "0") else None
                exact = match == "Exact" or (not match and limit and
                                             want is not None)
                if want is not None and want > store.rv:
                    raise too_large(want, store.rv)
                if exact:
                    if want < store.oldest():
                        raise expired("The resourceVersion for the provided "
                                      "list is too old.")
                    objs, list_rv = store.state_at(kind.storage, want), want
                else:
                    objs, list_rv = store.objects[kind.storage], store.rv
                if rv == "0" and match != "Exact":
                    # The watch cache serves RV=0 and ignores limit.
                    limit = 0
            keys = sorted((k for k in objs if not ns or k[0] == ns),
                          key=sort_key)
            epoch = store.continue_epoch
        items, meta = [], {"resourceVersion": str(list_rv)}
        i = 0
        if start:
            i = next((n for n, k in enumerate(keys)
                      if sort_key(k) >= start), len(keys))
        while i < len(keys):
            obj = objs[keys[i]]
            i += 1
            if sel.matches(obj.data):
                items.append(obj)
                if limit and len(items) >= limit:
                    break
        if limit and i < len(keys):
            meta["continue"] = encode_continue(list_rv, sort_key(keys[i - 1]),
                                               epoch)
            if sel.empty:
                meta["remainingItemCount"] = len(keys) - i
        return items, meta

    # writes

    def decode_body(self, kind, body):
        try:
            data = json.loads(body or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request("couldn't get version/kind; json parse error: "
                              "%s" % e)
        if not isinstance(data, dict):
            raise bad_request("couldn't get version/kind; json parse error: "
                              "json: cannot unmarshal %s into Go value of "
                              "type struct" % json_type(data))
        if data.get("apiVersion", kind.api_version) != kind.api_version:
            raise bad_request("the API version in the data (%s) does not "
                              "match the expected API version (%s)"
                              % (data.get("apiVersion"), kind.api_version))
        if data.get("kind", kind.kind) != kind.kind:
            raise bad_request('%s in version "%s" cannot be handled as a %s: '
                              'no kind "%s" is registered for version "%s"'
                              % (data.get("kind"), kind.version, kind.kind,
                                 data.get("kind"), kind.api_version))
        return data

    def _prepare(self, kind, ns, name, view, old, admin=False):
        """Turn a client's object into what is stored: server-owned fields
        set, unknown Lease fields dropped, times normalised, validated."""
        if not isinstance(view.get("metadata", {}), dict):
            raise decode_error(kind, "json: cannot unmarshal into Go struct "
                               "field .metadata of type v1.ObjectMeta")
        check_types(kind, view, kind.types)
        data = ordered(kind.from_view(copy.deepcopy(view)))
        meta = data["metadata"]
        meta["name"] = name
        if kind.namespaced:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        for f in ("resourceVersion", "managedFields", "selfLink"):
            meta.pop(f, None)
        owned = ("uid", "creationTimestamp", "deletionTimestamp",
                 "deletionGracePeriodSeconds")
        if old is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_time()
            if not admin:
                meta.pop("deletionTimestamp", None)
                meta.pop("deletionGracePeriodSeconds", None)
        else:
            om = old.data["metadata"]
            for f in owned:
                if admin and f in meta and f.startswith("deletion"):
                    continue
                if f in om:
                    meta[f] = om[f]
                else:
                    meta.pop(f, None)
        if kind is LEASES:
            spec = data.get("spec") or {}
            data["spec"] = {f: spec[f] for f in LEASE_SPEC_FIELDS
                            if spec.get(f) is not None}
            for f in ("acquireTime", "renewTime"):
                if f in data["spec"]:
                    data["spec"][f] = parse_micro(data["spec"][f])
        if kind.storage == "events":
            core_event_defaults(data)
            if data.get("eventTime"):
                data["eventTime"] = parse_micro(data["eventTime"])
        errs = validate_meta(meta)
        errs += kind.validate(data, old.data if old else None)
        if old is not None and old.data["metadata"].get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(
                old.data["metadata"].get("finalizers") or [])
            if added:
                errs.append(FieldError(
                    "metadata.finalizers", "Forbidden", detail="no new "
                    "finalizers can be added if the object is being deleted, "
                    "found new finalizers %s" % json.dumps(sorted(added))))
        if errs:
            raise invalid(kind, name, errs)
        return ordered(data)

    def _write(self, kind, key, data, old, dry_run):
        """Commit unless it changes nothing (then the RV stays and no watch
        event fires, as etcd skips identical writes). A deleting object
        whose finalizers are gone is removed right after."""
        if old is not None and stamped(data, old.data["metadata"]
                                       ["resourceVersion"]) == old.data:
            return old.data
        if dry_run:
            return data
        obj = self.store.commit(kind.storage, key, data)
        if kind.namespaced:
            self.namespaces.setdefault(key[0], now_time())
        meta = obj.data["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.store.commit(kind.storage, key, None)
        return obj.data

    def create(self, kind, ns, view, dry_run=False, admin=False):
        meta = view.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise decode_error(kind, "metadata must be an object")
        if kind.namespaced and meta.get("namespace", ns) != ns:
            raise bad_request("the namespace of the provided object does not "
                              "match the namespace sent on the request")
        name = meta.get("name") or ""
        if not name and isinstance(meta.get("generateName"), str) and \
                meta["generateName"]:
            name = meta["generateName"] + "".join(
                random.choice("bcdfghjklmnpqrstvwxz2456789")
                for _ in range(5))
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "Internal error occurred: "
                           "resourceVersion should not be set on objects to "
                           "be created",
                           {"causes": [{"message": "resourceVersion should "
                                        "not be set on objects to be "
                                        "created"}]})
        with self.store.cond:
            data = self._prepare(kind, ns, name, view, None, admin)
            if (ns, name) in self.store.objects[kind.storage]:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists'
                               % (kind.qualified, name), kind.details(name))
            return self._write(kind, (ns, name), data, None, dry_run)

    def update(self, kind, ns, name, view, dry_run=False, admin=False):
        """PUT: returns (code, data)."""
        meta = view.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise decode_error(kind, "metadata must be an object")
        if meta.get("name", name) != name:
            raise bad_request("the name of the object (%s) does not match "
                              "the name on the URL (%s)"
                              % (meta.get("name"), name))
        if kind.namespaced and meta.get("namespace", ns) != ns:
            raise bad_request("the namespace of the provided object does not "
                              "match the namespace sent on the request")
        with self.store.cond:
            old = self.store.objects[kind.storage].get((ns, name))
            if old is None:
                if not kind.create_on_update:
                    raise kind.not_found(name)
                meta.pop("resourceVersion", None)
                return 201, self.create(kind, ns, view, dry_run, admin)
            want = meta.get("resourceVersion") or ""
            if not want:
                if not kind.unconditional_update:
                    raise ApiError(
                        422, "Invalid", '%s "%s" is invalid: '
                        'metadata.resourceVersion: Invalid value: 0x0: must '
                        'be specified for an update' % (kind.qualified, name),
                        dict(kind.details(name), causes=[{
                            "reason": "FieldValueInvalid",
                            "message": "Invalid value: 0x0: must be "
                            "specified for an update",
                            "field": "metadata.resourceVersion"}]))
            elif want != old.data["metadata"]["resourceVersion"]:
                raise kind.conflict(name)
            data = self._prepare(kind, ns, name, view, old, admin)
            return 200, self._write(kind, (ns, name), data, old, dry_run)

    def patch(self, kind, ns, name, body, ctype, dry_run=False):
        with self.store.cond:
            old = self.store.objects[kind.storage].get((ns, name))
            if old is None:
                raise kind.not_found(name)
            current = dict({"kind": kind.kind, "apiVersion":
                            kind.api_version}, **kind.to_view(old.data))
            try:
                patch = json.loads(body or b"null")
            except (ValueError, UnicodeDecodeError) as e:
                raise bad_request("error decoding patch: %s" % e)
            if ctype == "application/json-patch+json":
                if not isinstance(patch, list):
                    raise bad_request("json: cannot unmarshal %s into Go "
                                      "value of type jsonpatch.Patch"
                                      % json_type(patch))
                if len(patch) > MAX_JSON_PATCH_OPS:
                    raise ApiError(413, "RequestEntityTooLarge",
                                   "Request entity too large: The allowed "
                                   "maximum operations in a JSON patch is "
                                   "%d, got %d" % (MAX_JSON_PATCH_OPS,
                                                   len(patch)))
                try:
                    patched = json_patch(current, patch)
                except JsonPatchError as e:
                    raise ApiError(422, "Invalid", "the server rejected our "
                                   "request due to an error in our request",
                                   {"causes": [{"reason":
                                                "UnexpectedServerResponse",
                                                "message": str(e)}]})
            else:
                if not isinstance(patch, dict):
                    raise bad_request("json: cannot unmarshal %s into Go "
                                      "value of type map[string]interface {}"
                                      % json_type(patch))
                fn = merge_patch if ctype == "application/merge-patch+json" \
                    else strategic_merge_patch
                patched = fn(current, patch)
            if not isinstance(patched, dict):
                raise bad_request("patched object is not a JSON object")
            meta = patched.get("metadata")
            if isinstance(meta, dict):
                want = meta.get("resourceVersion") or ""
                if want and want != old.data["metadata"]["resourceVersion"]:
                    raise kind.conflict(name)
                if meta.get("name", name) != name:
                    raise bad_request("the name of the object (%s) does not "
                                      "match the name on the URL (%s)"
                                      % (meta.get("name"), name))
            data = self._prepare(kind, ns, name, self.decode_body(
                kind, dumps(patched)), old)
            return self._write(kind, (ns, name), data, old, dry_run)

    def delete(self, kind, ns, name, body=b"", dry_run=False):
        """Returns (data, gone): gone is False while finalizers hold it."""
        opts = {}
        if body and body.strip():
            try:
                opts = json.loads(body)
            except ValueError as e:
                raise bad_request("error decoding DeleteOptions: %s" % e)
        pre = (opts or {}).get("preconditions") or {}
        with self.store.cond:
            old = self.store.objects[kind.storage].get((ns, name))
            if old is None:
                raise kind.not_found(name)
            meta = old.data["metadata"]
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise kind.conflict(name, "Precondition failed: UID in "
                                    "precondition: %s, UID in object meta: %s"
                                    % (pre["uid"], meta.get("uid")))
            if pre.get("resourceVersion") and \
                    pre["resourceVersion"] != meta["resourceVersion"]:
                raise kind.conflict(
                    name, "the ResourceVersion in the precondition (%s) does "
                    "not match the ResourceVersion in record (%s). The object "
                    "might have been modified" % (pre["resourceVersion"],
                                                  meta["resourceVersion"]))
            if dry_run:
                return old.data, not meta.get("finalizers")
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return old.data, False
                data = copy.deepcopy(old.data)
                data["metadata"]["deletionTimestamp"] = now_time()
                data["metadata"]["deletionGracePeriodSeconds"] = 0
                data = ordered(data)
                return self.store.commit(kind.storage, (ns, name),
                                         data).data, False
            self.store.commit(kind.storage, (ns, name), None)
            return old.data, True


# -------------------------------------------------------------- discovery

def discovery_doc(path, host):
    """Static discovery documents; None when path is not one of them."""
    if path == "/version":
        return SERVER_VERSION
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}
    groups = [g for g, _ in API_GROUPS if g]
    entry = {g: {"name": g, "versions": [{"groupVersion": g + "/v1",
                                          "version": "v1"}],
                 "preferredVersion": {"groupVersion": g + "/v1",
                                      "version": "v1"}} for g in groups}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1",
                "groups": [entry[g] for g in groups]}
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] == "apis" and parts[1] in entry:
        return dict({"kind": "APIGroup", "apiVersion": "v1"},
                    **entry[parts[1]])
    gv = None
    if parts == ["api", "v1"]:
        gv = ("", "v1")
    elif len(parts) == 3 and parts[0] == "apis":
        gv = (parts[1], parts[2])
    if gv in API_GROUPS:
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": gv[0] + "/" + gv[1] if gv[0] else gv[1],
                "resources": [k.discovery()
                              for k in API_GROUPS[gv].values()]}
    return None


def _pb_string(field, text):
    """One protobuf length-delimited field (lengths here stay < 128)."""
    data = text.encode()
    return bytes([field << 3 | 2, len(data)]) + data


def openapi_v2(accept):
    """A valid OpenAPI v2 document without definitions. kubectl validates
    create/replace against it before sending; a kind that the document does
    not describe is skipped, so every object passes, as with a server whose
    schema allows it. kubectl 1.20 only reads the protobuf form (a 404 makes
    it fail validation); newer ones take protobuf or JSON."""
    info = {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]}
    for part in accept.split(","):
        mime = part.split(";")[0].strip()
        if "proto-openapi" in mime:
            # gnostic openapi_v2.Document: swagger = 1, info = 2 (Info:
            # title = 1, version = 2).
            body = _pb_string(1, "Kubernetes") + \
                _pb_string(2, info["version"])
            doc = _pb_string(1, "2.0") + bytes([2 << 3 | 2, len(body)]) + body
            # The old "...v2@v1.0+protobuf" name is no valid media type, so
            # servers answer it as an octet stream.
            return Response(200, doc, "application/octet-stream"
                            if "@" in mime else mime)
    return Response(200, {"swagger": "2.0", "info": info, "paths": {},
                          "definitions": {}})


def table(kind, rows_data, list_meta, include, version):
    """A meta.k8s.io Table as the server prints for kubectl get."""
    cols = [{"name": n, "type": t, "format": f, "description": n,
             "priority": p} for n, t, p, f in kind.columns]
    rows = []
    for data in rows_data:
        row = {"cells": kind.row(data)}
        if include == "Object":
            row["object"] = json.loads(kind.full_bytes(None, data))
        elif include != "None":
            m = {k: data["metadata"][k] for k in data["metadata"]
                 if k != "managedFields"}
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion":
                             "meta.k8s.io/" + version, "metadata": m}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/" + version,
            "metadata": list_meta, "columnDefinitions": cols, "rows": rows}


def wants_table(accept):
    """The Table version kubectl asked for first in Accept, else None."""
    for part in (accept or "").split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:]
                      if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
        if part.split(";")[0].strip() in ("application/json", "*/*"):
            return None
    return None


# ------------------------------------------------------------------- http

class Response:
    def __init__(self, code, body, ctype="application/json", headers=None):
        self.code = code
        self.body = body if isinstance(body, bytes) else dumps(body)
        self.ctype = ctype
        self.headers = headers or {}


def status_response(err):
    headers = dict(err.headers)
    return Response(err.code, err.status(), headers=headers)


def not_found_response():
    return status_response(ApiError(
        404, "NotFound", "the server could not find the requested resource",
        {"causes": [{"reason": "UnexpectedServerResponse",
                     "message": "404 page not found"}]}))


def method_not_allowed():
    return status_response(ApiError(
        405, "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        {}))


class QuietServer(http.server.ThreadingHTTPServer):
    """Threading server whose per-connection threads never block stop()
    and whose dropped connections are not worth a traceback."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, handler, fake, ssl_ctx=None):
        self.fake = fake
        self.ssl_ctx = ssl_ctx
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.ssl_ctx is not None:
            # The handshake happens in the connection's own thread, so a
            # slow or broken client cannot stall accept().
            sock = self.ssl_ctx.wrap_socket(sock, server_side=True,
                                            do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (OSError, ssl.SSLError, ValueError)):
            super().handle_error(request, client_address)


class BaseHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 90

    def log_message(self, fmt, *args):
        pass

    def send_response(self, code, message=None):
        # Like Go's net/http: Date, no Server header.
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
                if len(body) > MAX_BODY:
                    raise ApiError(413, "RequestEntityTooLarge",
                                   "Request entity too large: limit is %d"
                                   % MAX_BODY)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge",
                           "Request entity too large: limit is %d" % MAX_BODY)
        return self.rfile.read(length) if length else b""

    def send(self, resp, length=None):
        self.send_response(resp.code)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(
            len(resp.body) if length is None else length))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(resp.body)


class ApiHandler(BaseHandler):
    """The HTTPS Kubernetes API."""

    def setup(self):
        self.request.settimeout(10)
        self.request.do_handshake()
        super().setup()
        self.closing = None
        self.server.fake.track(self.connection, True)

    def finish(self):
        self.server.fake.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self):
        self.handle_api()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def handle_api(self):
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(
            url.query, keep_blank_values=True).items()}
        ctype = self.headers.get("Content-Type", "")
        entry = {"time": time.time(), "method": self.command,
                 "path": url.path, "query": url.query, "status": None,
                 "authorized": False, "content_type": ctype, "body": None,
                 "truncated": False, "fault": None, "watch": False,
                 "user_agent": self.headers.get("User-Agent", "")}
        try:
            body = self.read_body()
        except (ApiError, ValueError) as e:
            err = e if isinstance(e, ApiError) else bad_request(str(e))
            self.close_connection = True
            return self.finish_api(entry, status_response(err))
        if self.command in ("POST", "PUT", "PATCH", "DELETE") and body:
            entry["body"] = body[:LOG_BODY_MAX].decode("utf-8", "replace")
            entry["truncated"] = len(body) > LOG_BODY_MAX
        entry["authorized"] = fake.authorized(
            self.headers.get("Authorization", ""))
        if not entry["authorized"]:
            return self.finish_api(entry, status_response(ApiError(
                401, "Unauthorized", "Unauthorized")))
        target = url.path + ("?" + url.query if url.query else "")
        fault = fake.take_fault(self.command, target)
        self.truncate = bool(fault) and fault["mode"] == "truncated"
        if fault:
            entry["fault"] = fault["mode"]
            if fault["mode"] == "slow":
                fake.stopped.wait(float(fault.get("delay", 5)))
            elif fault["mode"] != "truncated":
                return self.finish_api(entry, fault_response(fault))
        try:
            resp = self.route(url.path, query, body, ctype, entry)
        except ApiError as e:
            resp = status_response(e)
        except Exception as e:  # a bug in the fake: say so, keep serving
            resp = status_response(ApiError(
                500, "InternalError", "Internal error occurred: fake: %r"
                % e))
            print("kube.py: %s %s: %r" % (self.command, self.path, e),
                  file=sys.stderr)
        if resp is None:
            return None       # a watch, already answered and logged
        if fault and fault["mode"] == "truncated":
            entry["status"] = resp.code
            fake.log_request(entry)
            self.close_connection = True
            cut = Response(resp.code, resp.body[:len(resp.body) // 2],
                           resp.ctype, resp.headers)
            self.send(cut, length=len(resp.body))
            self.drop()
            return None
        return self.finish_api(entry, resp)

    def finish_api(self, entry, resp):
        entry["status"] = resp.code
        self.server.fake.log_request(entry)
        self.send(resp)

    def drop(self):
        """Cut the TCP connection under TLS, as a failing peer would."""
        self.close_connection = True
        try:
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
        except OSError:
            pass

    # routing

    def route(self, path, query, body, ctype, entry):
        fake = self.server.fake
        if path in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/openapi/v2":
            return openapi_v2(self.headers.get("Accept", ""))
        if path.startswith("/openapi/"):
            return Response(404, b"404 page not found\n",
                            "text/plain; charset=utf-8")
        if self.command == "GET":
            doc = discovery_doc(path.rstrip("/") or "/",
                                "127.0.0.1:%d" % fake.api_port)
            if doc is not None:
                return Response(200, doc)
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            gv, rest = ("", "v1"), parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            gv, rest = (parts[1], parts[2]), parts[3:]
        else:
            return Response(404, b"404 page not found\n",
                            "text/plain; charset=utf-8")
        kinds = API_GROUPS.get(gv)
        if kinds is None or not rest:
            return not_found_response()
        ns = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        if len(rest) > 2 or rest[0] not in kinds:
            return not_found_response()
        kind = kinds[rest[0]]
        name = rest[1] if len(rest) == 2 else ""
        if ns and not kind.namespaced:
            return not_found_response()
        if name and kind.namespaced and not ns:
            return not_found_response()
        authz = fake.authz
        if authz is not None:
            verb = rbac.request_verb(self.command, name, query)
            if not authz.allowed(verb, gv[0], kind.plural, ns, name):
                return Response(403, authz.status(verb, gv[0], kind.plural,
                                                  ns, name))
        return self.dispatch(kind, ns, name, query, body, ctype, entry)

    def dispatch(self, kind, ns, name, query, body, ctype, entry):
        api = self.server.fake.api
        method = self.command
        dry_run = query.get("dryRun") == "All"
        version = wants_table(self.headers.get("Accept"))
        if method == "GET":
            if name:
                obj = api.get(kind, ns, name)
                if version:
                    return Response(200, table(
                        kind, [obj.data], {"resourceVersion": obj.data[
                            "metadata"]["resourceVersion"]},
                        query.get("includeObject", "Metadata"), version))
                return Response(200, kind.full_bytes(obj))
            if parse_bool(query.get("watch")):
                entry["watch"] = True
                self.serve_watch(kind, ns, query, entry, version)
                return None
            items, meta = api.list(kind, ns, query)
            if version:
                return Response(200, table(
                    kind, [o.data for o in items], meta,
                    query.get("includeObject", "Metadata"), version))
            head = dumps({"kind": kind.kind + "List", "apiVersion":
                          kind.api_version, "metadata": meta})
            return Response(200, head[:-1] + b',"items":[' + b",".join(
                kind.item_bytes(o) for o in items) + b"]}")
        if kind not in API_WRITABLE:
            return method_not_allowed()
        if method in ("POST", "PUT") and \
                ctype.split(";")[0].strip() != "application/json":
            return status_response(unsupported_media(ctype, ["application/"
                                                             "json"]))
        if method == "POST" and not name:
            if kind.namespaced and not ns:
                return not_found_response()
            data = api.create(kind, ns, api.decode_body(kind, body), dry_run)
            return Response(201, kind.full_bytes(None, data))
        if not name:
            return method_not_allowed()
        if method == "PUT":
            code, data = api.update(kind, ns, name,
                                    api.decode_body(kind, body), dry_run)
            return Response(code, kind.full_bytes(None, data))
        if method == "PATCH":
            pt = ctype.split(";")[0].strip()
            types = ["application/json-patch+json",
                     "application/merge-patch+json",
                     "application/strategic-merge-patch+json"]
            if pt not in types:
                return status_response(unsupported_media(ctype, types))
            data = api.patch(kind, ns, name, body, pt, dry_run)
            return Response(200, kind.full_bytes(None, data))
        if method == "DELETE":
            data, gone = api.delete(kind, ns, name, body, dry_run)
            if gone and not kind.return_deleted:
                return Response(200, {
                    "kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Success", "details": dict(
                        kind.details(name), uid=data["metadata"]["uid"])})
            return Response(200, kind.full_bytes(None, data))
        return method_not_allowed()

    # watch

    def serve_watch(self, kind, ns, query, entry, table_version):
        fake, store = self.server.fake, self.server.fake.store
        rv = query.get("resourceVersion", "")
        match = query.get("resourceVersionMatch", "")
        initial = query.get("sendInitialEvents")
        errs = []
        if initial is not None and match != "NotOlderThan":
            errs.append(FieldError("resourceVersionMatch", "Forbidden",
                                   detail="sendInitialEvents requires "
                                   "setting resourceVersionMatch to "
                                   "NotOlderThan"))
        if match and initial is None:
            errs.append(FieldError("resourceVersionMatch", "Forbidden",
                                   detail="resourceVersionMatch is forbidden "
                                   "for watch unless sendInitialEvents is "
                                   "provided"))
        if errs:
            raise list_options_invalid(errs)
        initial = parse_bool(initial) if initial is not None else None
        bookmarks = parse_bool(query.get("allowWatchBookmarks"))
        timeout = query.get("timeoutSeconds", "")
        if timeout and not re.fullmatch(r"\d+", timeout):
            raise bad_request('strconv.ParseInt: parsing "%s": invalid '
                              'syntax' % timeout)
        # Without timeoutSeconds the server picks min-request-timeout
        # (1800 s) up to twice that.
        timeout = int(timeout) if timeout else random.randint(1800, 3600)
        sel = Selector(kind, query)
        want = parse_rv(rv) if rv not in ("", "0") else None
        with store.cond:
            error = None
            if fake.take_gone_watch():
                error = "too old resource version: %s (%d)" % (
                    rv or "0", store.rv)
            elif want is not None and want < store.oldest() and not initial:
                error = "too old resource version: %d (%d)" % (
                    want, store.oldest() + 1)
            if initial is False:
                first, pos = [], store.rv if want is None else want
            elif want is None or initial:
                first = [store.objects[kind.storage][k] for k in sorted(
                    store.objects[kind.storage], key=sort_key)
                    if not ns or k[0] == ns]
                first = [o for o in first if sel.matches(o.data)]
                pos = store.rv
            else:
                first, pos = [], want
        entry["status"] = 200
        fake.log_request(entry)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        enc = WatchEncoder(kind, table_version, query)
        if self.truncate:
            # A chunk announced in full but cut mid-event, then the
            # connection drops.
            self.wfile.write(b'400\r\n{"type":"ADDED","object":{"kind":"')
            return self.drop()
        if error:
            st = expired(error).status()
            self.write_chunk(b'{"type":"ERROR","object":' + dumps(st) +
                             b"}\n")
            return self.end_chunks()
        batch = [enc.event("ADDED", o) for o in first]
        if initial:
            batch.append(enc.bookmark(pos, initial_end=True))
        for i in range(0, len(batch), 256):
            if not self.write_chunk(b"".join(batch[i:i + 256])):
                return None
        # A close request belongs to the watch it was made for, not to
        # the next one on the same keep-alive connection.
        self.closing = None
        fake.watch_opened(self)
        try:
            self.watch_loop(kind, ns, sel, enc, pos, bookmarks, timeout)
        finally:
            fake.watch_closed(self)
        return None

    def watch_loop(self, kind, ns, sel, enc, pos, bookmarks, timeout):
        fake, store = self.server.fake, self.server.fake.store
        deadline = time.monotonic() + timeout
        next_bm = time.monotonic() + fake.bookmark_interval
        while True:
            if fake.partial_watches:
                return self.trickle()
            changes = []
            with store.cond:
                while True:
                    now = time.monotonic()
                    if self.peer_gone():
                        self.closing = "gone"
                    if fake.stopped.is_set() or self.closing or \
                            fake.partial_watches:
                        break
                    if fake.stall_watches:
                        store.cond.wait(0.2)
                        continue
                    changes = store.changes_since(pos)
                    if changes is None or changes or now >= deadline or \
                            (bookmarks and now >= next_bm):
                        break
                    wake = min(deadline, next_bm) if bookmarks else deadline
                    # Wake at least every second to notice a client that
                    # went away, so open-watch counts stay true.
                    store.cond.wait(min(wake - now, 1.0))
                current = store.rv
            if self.closing in ("drop", "gone"):
                return self.drop()
            if fake.stopped.is_set() or self.closing or changes is None:
                # A watcher that fell behind the history is ended, as the
                # watch cache ends one that does not drain fast enough.
                return self.end_chunks()
            batch = []
            for ch in changes:
                if ch.storage != kind.storage or (ns and ch.key[0] != ns):
                    continue
                old_m = ch.old is not None and sel.matches(ch.old.data)
                new_m = ch.new is not None and sel.matches(ch.new.data)
                if new_m:
                    batch.append(enc.event("MODIFIED" if old_m else "ADDED",
                                           ch.new))
                elif old_m:
                    batch.append(enc.event("DELETED", ch.old,
                                           stamped(ch.old.data, ch.rv)))
            pos = current
            now = time.monotonic()
            ending = now >= deadline
            if bookmarks and (now >= next_bm or ending):
                batch.append(enc.bookmark(pos))
                next_bm = now + fake.bookmark_interval
            if batch and not self.write_chunk(b"".join(batch)):
                return None
            if ending:
                return self.end_chunks()

    def trickle(self):
        """partial_watches: half an event, then a byte every 0.5 s of a
        line that never ends, while the client stays and the fault is
        on; then the connection is dropped (the stream is spoilt)."""
        fake = self.server.fake
        if not self.write_chunk(b'{"type":"MODIFIED","object":{"kind":"Node",'
                                b'"metadata":{"name":"'):
            return None
        while fake.partial_watches and not fake.stopped.is_set() and \
                not self.closing and not self.peer_gone():
            time.sleep(0.5)
            if not self.write_chunk(b"x"):
                return None
        return self.drop()

    def peer_gone(self):
        """True once the client closed its side: a watch client sends
        nothing, so a read hang-up means it left."""
        try:
            p = select.poll()
            p.register(self.connection.fileno(),
                       select.POLLRDHUP | select.POLLHUP | select.POLLERR)
            return bool(p.poll(0))
        except (OSError, ValueError):
            return True

    def write_chunk(self, data):
        try:
            if self.server.fake.split_chunks and len(data) > 2:
                # Pieces cut mid-event, flushed apart, so that a client's
                # read returns part of an event.
                cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
                for a, b in zip(cuts, cuts[1:]):
                    self.wfile.write(b"%X\r\n%s\r\n" % (b - a, data[a:b]))
                    time.sleep(0.005)
            else:
                self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
            return True
        except (OSError, ValueError):
            self.close_connection = True
            return False

    def end_chunks(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, ValueError):
            self.close_connection = True


class WatchEncoder:
    """Watch event lines for one request (plain objects or Table rows)."""

    def __init__(self, kind, table_version, query):
        self.kind = kind
        self.table_version = table_version
        self.include = query.get("includeObject", "Metadata")

    def event(self, etype, obj, data=None):
        if self.table_version:
            t = table(self.kind, [data or obj.data],
                      {"resourceVersion": (data or obj.data)["metadata"]
                       ["resourceVersion"]}, self.include, self.table_version)
            body = dumps(t)
        else:
            body = self.kind.full_bytes(obj, data)
        return b'{"type":"%s","object":%s}\n' % (etype.encode(), body)

    def bookmark(self, rv, initial_end=False):
        meta = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return b'{"type":"BOOKMARK","object":' + self.kind.head + \
            b'"metadata":' + dumps(meta) + b"}}\n"


def unsupported_media(ctype, accepted):
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - "
                    "accepted media types include: " + ", ".join(accepted),
                    {})


def fault_response(fault):
    mode = fault["mode"]
    retry = str(fault.get("retry_after", 1))
    if mode == "429":
        # API Priority and Fairness answers in plain text.
        return Response(429, b"Too many requests, please try again later.\n",
                        "text/plain; charset=utf-8",
                        {"Retry-After": retry,
                         "X-Content-Type-Options": "nosniff"})
    if mode == "503":
        return Response(503, ApiError(
            503, "ServiceUnavailable", "The server is currently unable to "
            "handle the request (fault injected)",
            {"retryAfterSeconds": int(retry)}).status(),
            headers={"Retry-After": retry})
    if mode == "410":
        # What an expired continue token or a compacted resourceVersion
        # gets from the API server.
        return Response(410, ApiError(
            410, "Expired", "The provided continue parameter is too old to "
            "display a consistent list result (fault injected)").status())
    if mode == "404":
        # What the API server answers for an API group it does not serve.
        return Response(404, b"404 page not found\n",
                        "text/plain; charset=utf-8")
    if mode == "garbage":
        return Response(200, b"<html><body>502 Bad Gateway</body></html>\n"
                        b"\x00\xff not json {", "application/json")
    return Response(500, ApiError(
        500, "InternalError", "Internal error occurred: fault injected",
        {"causes": [{"message": "fault injected"}]}).status())


# ------------------------------------------------------------------ admin

class AdminError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class AdminHandler(BaseHandler):
    """Plain-HTTP JSON admin API; see the module docstring."""

    def do_GET(self):
        self.handle_admin()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def handle_admin(self):
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(
            url.query, keep_blank_values=True).items()}
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        try:
            raw = self.read_body()
            body = json.loads(raw) if raw.strip() else {}
            code, result = fake.admin(self.command, parts, query, body)
            resp = Response(code, result)
        except ApiError as e:
            resp = status_response(e)
        except AdminError as e:
            resp = Response(e.code, {"error": str(e)})
        except (ValueError, TypeError, KeyError) as e:
            resp = Response(400, {"error": "bad request: %r" % e})
        self.send(resp)


# ------------------------------------------------------------- the fake

def atomic_write(path, text, mode=0o644):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def make_certs(directory):
    """A CA and a server certificate for 127.0.0.1/localhost (EC P-256:
    quick to generate, accepted by Go, curl and Python)."""
    def run(*args):
        subprocess.run(("openssl",) + args, cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "3650", "-subj", "/CN=fake-kube-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=kube-apiserver")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
                "DNS:kubernetes.default\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey",
        "ca.key", "-set_serial", "0x" + secrets.token_hex(8), "-days", "3650",
        "-out", "server.crt", "-extfile", "server.ext")
    for f in ("server.csr", "server.ext"):
        os.unlink(os.path.join(directory, f))


def view(kind, data):
    """A private copy of stored data as the API shows it, so that callers
    can never change what is stored."""
    return json.loads(kind.full_bytes(None, data))


class FakeKube:
    """The fake API server: FakeKube(dir).start() ... .stop()."""

    def __init__(self, directory, nodes=0, candidate_nodes=0, node_bytes=0,
                 bookmark_interval=1.0, history_size=1000):
        self.dir = os.path.abspath(directory)
        self.n_nodes, self.n_candidates = nodes, candidate_nodes
        self.node_bytes = node_bytes
        self.bookmark_interval = float(bookmark_interval)
        self.store = Store(history_size)
        self.api = Api(self.store)
        self.stopped = threading.Event()
        self.lock = threading.Lock()   # faults, tokens, log, connections
        self.fail_rules = []
        self.gone_watches = 0
        self.stall_watches = False
        self.split_chunks = False
        self.partial_watches = False
        self.requests = collections.deque(maxlen=100000)
        self.seq = 0
        self.conns = set()
        self.watches = set()
        self.tokens = {}
        self.token = None
        self.node_seq = 0
        self.servers = []
        self.api_port = self.admin_port = 0
        self.authz = None    # rbac.Authorizer once rules are loaded

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # life cycle

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        # A ready file left by an earlier run must not announce this one.
        if os.path.exists(os.path.join(self.dir, "ready")):
            os.unlink(os.path.join(self.dir, "ready"))
        make_certs(self.dir)
        self.ca_path = os.path.join(self.dir, "ca.crt")
        self.kubeconfig_path = os.path.join(self.dir, "kubeconfig")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(os.path.join(self.dir, "server.crt"),
                            os.path.join(self.dir, "server.key"))
        # HTTP/1.1 only: one connection per watch, as the design wants.
        ctx.set_alpn_protocols(["http/1.1"])
        self.precreate()
        api = QuietServer(("127.0.0.1", 0), ApiHandler, self, ctx)
        admin = QuietServer(("127.0.0.1", 0), AdminHandler, self)
        self.servers = [api, admin]
        self.api_port = api.server_address[1]
        self.admin_port = admin.server_address[1]
        self.api_url = "https://127.0.0.1:%d" % self.api_port
        self.admin_url = "http://127.0.0.1:%d" % self.admin_port
        for srv in self.servers:
            threading.Thread(target=srv.serve_forever, kwargs={
                "poll_interval": 0.1}, daemon=True).start()
        self.set_token(secrets.token_hex(24))
        atomic_write(os.path.join(self.dir, "api-url"), self.api_url + "\n")
        atomic_write(os.path.join(self.dir, "admin-url"),
                     self.admin_url + "\n")
        atomic_write(os.path.join(self.dir, "ready"), json.dumps(
            {"api": self.api_url, "admin": self.admin_url,
             "pid": os.getpid()}) + "\n")
        return self

    def stop(self):
        self.stopped.set()
        with self.store.cond:
            self.store.cond.notify_all()
        for srv in self.servers:
            srv.shutdown()
            srv.server_close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                socket.socket.shutdown(c, socket.SHUT_RDWR)
            except OSError:
                pass
        self.servers = []

    def precreate(self):
        """--nodes / --candidate-nodes, sharing one padded image list."""
        images = None
        if self.node_bytes:
            base = len(dumps(build_node("node-00000", 0, {})))
            base -= len(dumps(DEFAULT_IMAGES))
            images = padded_images(self.node_bytes, base)
        for prefix, count, labels in (
                ("node", self.n_nodes, {}),
                ("candidate", self.n_candidates,
                 {CANDIDATE_LABEL[0]: CANDIDATE_LABEL[1]})):
            for i in range(count):
                self.create_node({"name": "%s-%05d" % (prefix, i),
                                  "labels": labels}, images)

    # connections and watches

    def track(self, conn, add):
        with self.lock:
            (self.conns.add if add else self.conns.discard)(conn)

    def watch_opened(self, handler):
        with self.lock:
            self.watches.add(handler)

    def watch_closed(self, handler):
        with self.lock:
            self.watches.discard(handler)

    def close_watches(self, mode="drop"):
        with self.lock:
            watches = list(self.watches)
        for w in watches:
            w.closing = mode
            if mode == "drop":
                w.drop()
        with self.store.cond:
            self.store.cond.notify_all()
        return len(watches)

    # authentication

    def set_token(self, token, grace=0.0):
        """Make token current; older tokens expire after grace seconds."""
        with self.lock:
            now = time.monotonic()
            for t, exp in list(self.tokens.items()):
                if grace <= 0:
                    del self.tokens[t]
                elif exp is None or exp > now + grace:
                    self.tokens[t] = now + grace
            self.tokens[token] = None
            self.token = token
        atomic_write(os.path.join(self.dir, "token"), token + "\n", 0o600)
        atomic_write(self.kubeconfig_path, self.kubeconfig(token), 0o600)

    def kubeconfig(self, token):
        with open(self.ca_path, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        return ("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n"
                "  cluster:\n    server: %s\n"
                "    certificate-authority-data: %s\n"
                "contexts:\n- name: fake\n  context:\n    cluster: fake\n"
                "    user: fake\n    namespace: default\n"
                "current-context: fake\npreferences: {}\nusers:\n"
                "- name: fake\n  user:\n    token: \"%s\"\n"
                % (self.api_url, ca, token))

    def rotate_token(self, grace=0.0, token=None):
        token = token or secrets.token_hex(24)
        self.set_token(token, float(grace))
        return token

    def revoke_token(self):
        with self.lock:
            self.tokens.clear()

    def authorized(self, header):
        parts = header.split(" ", 2)
        if len(parts) < 2 or parts[0].lower() != "bearer":
            return False
        token = parts[1].strip()
        with self.lock:
            if token not in self.tokens:
                return False
            exp = self.tokens[token]
            if exp is not None and exp <= time.monotonic():
                del self.tokens[token]
                return False
            return True

    def set_rbac(self, objects, sa_namespace, sa_name):
        """Enforce the RBAC objects for that service account (None: off).
        Returns how many bindings name it."""
        if objects is None:
            self.authz = None
            return 0
        self.authz = rbac.Authorizer(objects, sa_namespace, sa_name)
        return len(self.authz.grants)

    # faults

    def add_fault(self, spec):
        with self.lock:
            if spec.get("fail"):
                rule = dict(spec["fail"])
                rule["mode"] = str(rule.get("mode", "500"))
                if rule["mode"] not in ("500", "503", "429", "404", "410",
                                        "garbage", "truncated", "slow"):
                    raise AdminError(400, "unknown mode " + rule["mode"])
                rule["count"] = int(rule.get("count", 1))
                self.fail_rules.append(rule)
            if "gone_next_watch" in spec:
                self.gone_watches += int(spec["gone_next_watch"])
            if "stall_watches" in spec:
                self.stall_watches = bool(spec["stall_watches"])
            if "split_chunks" in spec:
                self.split_chunks = bool(spec["split_chunks"])
            if "partial_watches" in spec:
                self.partial_watches = bool(spec["partial_watches"])
        if spec.get("close_watches"):
            self.close_watches("clean" if spec["close_watches"] == "clean"
                               else "drop")
        with self.store.cond:
            if spec.get("expire_continue"):
                self.store.continue_epoch += 1
            if spec.get("compact"):
                self.store.compact_rv = self.store.rv
            self.store.cond.notify_all()
        return self.faults()

    def clear_faults(self):
        with self.lock:
            self.fail_rules = []
            self.gone_watches = 0
            self.stall_watches = False
            self.split_chunks = False
        self.partial_watches = False
        with self.store.cond:
            self.store.cond.notify_all()
        return self.faults()

    def faults(self):
        with self.lock:
            return {"fail": [dict(r) for r in self.fail_rules],
                    "gone_next_watch": self.gone_watches,
                    "stall_watches": self.stall_watches,
                    "split_chunks": self.split_chunks,
                    "partial_watches": self.partial_watches}

    def take_fault(self, method, target):
        with self.lock:
            for rule in self.fail_rules:
                if rule.get("method") and rule["method"].upper() != method:
                    continue
                pat = rule.get("path")
                if pat:
                    try:
                        hit = re.search(pat, target) is not None
                    except re.error:
                        hit = pat in target
                    if not hit:
                        continue
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self.fail_rules.remove(rule)
                return dict(rule)
        return None

    def take_gone_watch(self):
        with self.lock:
            if self.gone_watches > 0:
                self.gone_watches -= 1
                return True
            return False

    # request log

    def log_request(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.requests.append(entry)

    def request_log(self, path=None):
        with self.lock:
            return [dict(e) for e in self.requests
                    if not path or path in e["path"]]

    def clear_requests(self):
        with self.lock:
            self.requests.clear()

    # state manipulation (admin API)

    def create_node(self, fields, images=None):
        with self.store.cond:
            self.node_seq += 1
            data = build_node(fields["name"], self.node_seq, fields, images)
            return view(NODES, self.api.create(NODES, "", data, admin=True))

    def patch_node(self, name, fields):
        with self.store.cond:
            old = self.api.get(NODES, "", name)
            data = apply_node_fields(old.data, fields)
            meta = data["metadata"]
            if fields.get("deleting") and not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_time()
                meta["deletionGracePeriodSeconds"] = 0
                # Only a finalizer keeps a deleting Node visible.
                meta["finalizers"] = meta.get("finalizers") or [
                    "example.com/fake-hold"]
            return view(NODES, self.api.update(NODES, "", name, data,
                                               admin=True)[1])

    def delete_node(self, name):
        return view(NODES, self.api.delete(NODES, "", name)[0])

    def create_pod(self, fields):
        if not fields.get("name"):
            raise AdminError(400, "name is required")
        with self.store.cond:
            host = None
            node = self.store.objects["nodes"].get(("", fields.get(
                "nodeName") or ""))
            if node is not None:
                host = node_address(node.data, "InternalIP")
            data = build_pod(fields, host if host != "<none>" else None)
            return view(PODS, self.api.create(
                PODS, data["metadata"]["namespace"], data, admin=True))

    def patch_pod(self, ns, name, fields):
        with self.store.cond:
            old = self.api.get(PODS, ns, name)
            data = apply_pod_fields(old.data, fields)
            return view(PODS, self.api.update(PODS, ns, name, data,
                                              admin=True)[1])

    def delete_pod(self, ns, name):
        return view(PODS, self.api.delete(PODS, ns, name)[0])

    def set_lease(self, ns, name, obj):
        """Create or replace a Lease as a foreign holder would."""
        if "spec" not in obj and "metadata" not in obj:
            obj = {"spec": obj}
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        ns = ns or meta.get("namespace") or "default"
        name = name or meta.get("name")
        meta.update(name=name, namespace=ns)
        with self.store.cond:
            old = self.store.objects["leases"].get((ns, name))
            meta.pop("resourceVersion", None)
            if old is None:
                return view(LEASES, self.api.create(LEASES, ns, obj))
            meta["resourceVersion"] = old.data["metadata"]["resourceVersion"]
            return view(LEASES, self.api.update(LEASES, ns, name, obj)[1])

    def delete_lease(self, ns, name):
        return view(LEASES, self.api.delete(LEASES, ns, name)[0])

    def leases(self):
        with self.store.cond:
            objs = list(self.store.objects["leases"].values())
        return [json.loads(LEASES.full_bytes(o)) for o in objs]

    def events(self, api="events.k8s.io"):
        kind = CORE_EVENTS if api == "core" else EVENTS_V1
        with self.store.cond:
            objs = sorted(self.store.objects["events"].values(),
                          key=lambda o: int(o.data["metadata"]
                                            ["resourceVersion"]))
        return [json.loads(kind.full_bytes(o)) for o in objs]

    def nodes(self):
        with self.store.cond:
            objs = list(self.store.objects["nodes"].values())
        return [json.loads(NODES.full_bytes(o)) for o in objs]

    def pods(self):
        with self.store.cond:
            objs = list(self.store.objects["pods"].values())
        return [json.loads(PODS.full_bytes(o)) for o in objs]

    def label_history(self, key, value, since_rv=0):
        """After every node write: which nodes carry key=value."""
        with self.store.cond:
            log = list(self.store.label_log)
        holders, out = set(), []
        for t, rv, name, labels in log:
            if labels is not None and labels.get(key) == value:
                holders.add(name)
            else:
                holders.discard(name)
            if rv > since_rv:
                out.append({"time": t, "rv": str(rv),
                            "nodes": sorted(holders)})
        return out

    def state(self):
        with self.store.cond:
            counts = {s: len(o) for s, o in self.store.objects.items()}
            rv, oldest = self.store.rv, self.store.oldest()
            compact = self.store.compact_rv
        with self.lock:
            watches, conns = len(self.watches), len(self.conns)
            tokens = len(self.tokens)
        return {"resourceVersion": str(rv), "oldestResourceVersion":
                str(oldest), "compactedResourceVersion": str(compact),
                "objects": counts, "watches": watches, "connections": conns,
                "tokens": tokens, "bookmark_interval": self.bookmark_interval,
                "api": self.api_url, "admin": self.admin_url}

    def set_config(self, bookmark_interval=None):
        if bookmark_interval is not None:
            self.bookmark_interval = float(bookmark_interval)
            with self.store.cond:
                self.store.cond.notify_all()
        return {"bookmark_interval": self.bookmark_interval}

    def admin(self, method, parts, query, body):
        """Route one admin request; returns (code, JSON value)."""
        head = parts[0] if parts else ""
        rest = parts[1:]
        if head == "nodes":
            if method == "POST" and not rest:
                return 201, self.create_node(body)
            if method == "GET" and not rest:
                return 200, self.nodes()
            if len(rest) == 1:
                if method == "GET":
                    return 200, json.loads(NODES.full_bytes(
                        self.api.get(NODES, "", rest[0])))
                if method == "PATCH":
                    return 200, self.patch_node(rest[0], body)
                if method == "DELETE":
                    return 200, self.delete_node(rest[0])
        elif head == "pods":
            if method == "POST" and not rest:
                return 201, self.create_pod(body)
            if method == "GET" and not rest:
                return 200, self.pods()
            if rest:
                ns, name = rest if len(rest) == 2 else ("default", rest[0])
                if method == "PATCH":
                    return 200, self.patch_pod(ns, name, body)
                if method == "DELETE":
                    return 200, self.delete_pod(ns, name)
        elif head == "leases":
            if method == "GET" and not rest:
                return 200, self.leases()
            if method == "POST" and not rest:
                return 200, self.set_lease(None, None, body)
            if len(rest) == 2 and method == "PUT":
                return 200, self.set_lease(rest[0], rest[1], body)
            if len(rest) == 2 and method == "DELETE":
                return 200, self.delete_lease(rest[0], rest[1])
        elif head == "events" and method == "GET":
            return 200, self.events(query.get("api", "events.k8s.io"))
        elif head == "label-history" and method == "GET":
            return 200, self.label_history(query["key"], query["value"],
                                           int(query.get("since_rv", 0)))
        elif head == "requests":
            if method == "GET":
                return 200, self.request_log(query.get("path"))
            if method == "DELETE":
                self.clear_requests()
                return 200, {}
        elif head == "faults":
            if method == "POST":
                return 200, self.add_fault(body)
            if method == "DELETE":
                return 200, self.clear_faults()
            if method == "GET":
                return 200, self.faults()
        elif head == "token" and method == "POST" and rest == ["rotate"]:
            return 200, {"token": self.rotate_token(body.get("grace", 0),
                                                    body.get("token"))}
        elif head == "token" and method == "POST" and rest == ["revoke"]:
            self.revoke_token()
            return 200, {}
        elif head == "config":
            if method == "POST":
                return 200, self.set_config(body.get("bookmark_interval"))
            return 200, self.set_config()
        elif head == "state" and method == "GET":
            return 200, self.state()
        elif head == "rbac" and method == "POST":
            sa = body.get("serviceAccount") or {}
            return 200, {"bindings": self.set_rbac(
                body.get("objects") or [], sa.get("namespace"),
                sa.get("name"))}
        elif head == "rbac" and method == "DELETE":
            return 200, {"bindings": self.set_rbac(None, None, None)}
        raise AdminError(404, "no such admin endpoint: %s /%s"
                         % (method, "/".join(parts)))


def main(argv=None):
    p = argparse.ArgumentParser(description="Fake Kubernetes API server.")
    p.add_argument("--dir", required=True)
    p.add_argument("--nodes", type=int, default=0)
    p.add_argument("--candidate-nodes", type=int, default=0)
    p.add_argument("--node-bytes", type=int, default=0)
    p.add_argument("--bookmark-interval", type=float, default=1.0)
    p.add_argument("--history-size", type=int, default=1000)
    args = p.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    fake = FakeKube(args.dir, args.nodes, args.candidate_nodes,
                    args.node_bytes, args.bookmark_interval,
                    args.history_size).start()
    while not stop.wait(1):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
