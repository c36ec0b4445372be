#!/usr/bin/env python3
"""A faithful fake of the Hetzner Cloud API (Floating IPs, servers, actions).

Python 3 standard library only. It serves the subset of https://api.hetzner.cloud/v1
that stable-egressd's hcloud worker speaks, with the rules of the live API that
matter to a client (as documented at docs.hetzner.cloud and observed): tokens and
their permissions, the per-project token bucket and its headers, asynchronous
actions that run for a while and lock what they touch, pagination, label
selectors, deprecated endpoints, and the error envelope. A fake that accepts
anything proves nothing, so it is strict wherever the real API is strict (and in
a few places stricter, listed under "Deliberately strict").

Command line
------------
    python3 tests/fakes/hcloud.py --dir DIR [--tls] [--action-seconds S]
                                  [--rate-limit N] [--port P] [--admin-port P]
                                  [--on-assign CMD] [--verbose]

Writes, each atomically (temporary file + rename), in this order:
    DIR/ca.pem      (with --tls) CA certificate that signed the server certificate
                    (IP SAN 127.0.0.1, DNS SAN localhost), made with the openssl CLI
    DIR/endpoint    API base URL including /v1, no trailing slash, no newline
    DIR/token       the read-write token: 64 characters, no newline
    DIR/admin-url   plain-HTTP admin base URL, e.g. http://127.0.0.1:PORT/__fake
    DIR/ready       written last (contains the pid); removed again on exit
Runs until SIGTERM or SIGINT, then exits 0.
With --on-assign, CMD (split like a shell word list) runs with three more
arguments, the Floating IP's address, its server id and that server's public
IPv4 (the last two empty when unassigned), once per Floating IP at start and
again whenever its server changes: within 20 ms of an action's end on the fake
clock, even when no request comes in, as Hetzner's network starts routing the
address to the new server when the action completes (`make drill` moves the
route of its provider router this way).

Library use
-----------
    from hcloud import FakeHcloud
    fake = FakeHcloud(action_seconds=0.2).start()   # also a context manager
    fake.endpoint, fake.token, fake.admin_url, fake.ca_file
    fake.script_actions(outcome="error"); fake.add_fault("reset", path="/assign")
    fake.stop()
Every admin endpoint below is a thin wrapper over a public method of the same
meaning: state, reset, add_server, patch_server, delete_server,
add_floating_ip, patch_floating_ip, delete_floating_ip, actions,
finish_action, script_actions, action_scripts, clear_action_scripts,
add_token, revoke_token, rate_limit, set_rate_limit, competitor,
set_competitor, add_fault, faults,
clear_faults, requests, clear_requests, clock, advance_clock,
set_clock_offset, knobs, set_knobs, deprecated_calls. Invalid input raises
AdminError (status, message). fake.internal_errors lists tracebacks of bugs
in the fake itself (each also answered 500 server_error).

Initial state (restored by POST /__fake/reset)
----------------------------------------------
Servers (status running, location fsn1 / network zone eu-central):
    node-a 2^40+1, node-b 2^40+2, node-c 2^40+3, node-round 10^15
    (ids above 2^32 catch int32 truncation; the round 10^15 catches clients
    that print ids through "%g" as 1e+15).
Floating IPs (home_location fsn1, unassigned):
    egress-v4   2^40+101  ipv4 203.0.113.10
    egress-v4-b 2^40+102  ipv4 203.0.113.11
    egress-v6   2^40+103  ipv6 2001:db8:1:2::/64
Actions: none. The first action created gets id 10^15 (knob next_action_id).
Tokens: one read-write token (fake.token / DIR/token). Rate limit: full bucket.

API (under /v1)
---------------
    GET  /floating_ips            name, label_selector, sort (id|created[:asc|:desc]),
                                  page, per_page; meta.pagination + Link header
    GET  /floating_ips/{id}
    PUT  /floating_ips/{id}       {"name"?, "description"?, "labels"?}
    POST /floating_ips/{id}/actions/assign    {"server": int}   -> 201 {"action"}
    POST /floating_ips/{id}/actions/unassign  (body ignored)    -> 201 {"action"}
    GET  /floating_ips/{id}/actions           history: sort, status, paging
    GET  /floating_ips/{id}/actions/{aid}     DEPRECATED (2026-04-30): answers and
                                  records a warning, or 410 with knob
                                  deprecated_action_endpoint="gone"
    GET  /floating_ips/actions    ?id=..&id=.. (no meta), or all FIP actions paged
    GET  /floating_ips/actions/{aid}
    GET  /servers                 name, label_selector, status, sort, paging
    GET  /servers/{id}            no "datacenter" key (removed 2026-07-01)
    GET  /actions?id=1&id=2       {"actions": [...]} only (no meta); unknown ids
                                  are left out; sort and status accepted
    GET  /actions                 without id: 410 deprecated_api_endpoint
    GET  /actions/{id}

Order of checks for every API request:
    1. token bucket: a valid token draws from the project bucket, a missing or
       unknown one from a per-client-address bucket; empty -> 429
    2. fault injection queue (may replace the rest, see Faults)
    3. missing/unknown token -> 401 unauthorized "unable to authenticate";
       forbidden token -> 403 forbidden
    4. route: unknown path -> 404 not_found, wrong method -> 405 method_not_allowed
    5. read-only token on anything but GET -> 401 token_readonly
    6. the endpoint's own checks.
Every response (errors, 429 and injected faults included, except those that
send no HTTP at all) carries RateLimit-Limit, RateLimit-Remaining,
RateLimit-Reset (unix seconds, on the fake clock, when the bucket is full
again) and X-Correlation-Id (32 hex characters).

Assign checks, in order: FIP exists (404 not_found); body is JSON (400
json_error; empty body counts as {}); body is an object with an integer
"server" (422 invalid_input with details.fields); server exists (422, code knob
unknown_server_code, default invalid_input); an action runs on the FIP or the
server (423 locked); FIP already on that server (422 floating_ip_assigned);
zone rule knob (422, code knob zone_rule_code). Unassign: FIP exists, locks,
not assigned (422, code knob unassigned_code, default service_error as the
live API answered in 2020 and 2026). Missing Content-Type is tolerated.

Actions run for the scripted or default time (knob action_seconds), measured on
the fake clock and evaluated lazily on every request: while running, progress
grows 0..99 and finished/error are null, the FIP and the target server are
locked (server.locked true, 423 for writes touching them); at the end the
action becomes success (only then FIP.server and both servers'
public_net.floating_ips change) or error {"code":"action_failed",...} with the
state untouched. "never" actions run until finished through the admin API.

Deliberately strict (the live API may be more lenient; a client must not rely on it):
    - "server" must be a JSON integer: 1e+15, 1.0, "42" and true are 422.
    - Path ids must be decimal digits: /actions/1e+15 is 400 invalid_input.
    - per_page above 50 is 400 invalid_input (not silently clamped).
    - GET /actions?id= answers without "meta".
    - PUT on a locked FIP is 423 (knob lock_updates).

Faults
------
A queue of rules; each API request (after the rate limit) takes the first rule
whose optional "method" equals the request method and whose optional "path"
is a substring of the request target (path and query). A rule fires "count"
times. Kinds:
    conflict 409 | server_error 500 | bad_gateway 502 | unavailable 503 |
    timeout 504          JSON error envelope
    bad_gateway_html 502, gateway_timeout_html 504    text/html, no envelope
    error                any "status" + "code" + "message" (+ "details"),
                         e.g. 403 maintenance, 422 service_error
    garbage              200 (or "status"), Content-Type application/json,
                         body not JSON ("body" overrides)
    truncated            the real response (for GET, or with "apply") or a stock
                         JSON body; Content-Length of the whole body, half of
                         it sent, then the connection is closed
    slow                 sleep "delay" seconds, then answer normally
    reset                TCP reset, nothing sent
    close                connection closed cleanly, nothing sent
    raw_garbage          bytes that are not HTTP, then close
With "apply": true the request is processed (an assign really starts) and only
the answer is replaced: the nasty case of a write whose answer is lost.

Admin API (plain HTTP on the admin-url; JSON in and out; errors are
{"error": "text"} with 400 for bad input, 404 for unknown things)
--------------------------------------------------------------------------
GET    /__fake/state          {"servers":[api shape], "floating_ips":[api shape],
                               "actions":[api shape], "tokens":[{"fingerprint","kind"}],
                               "rate_limit":{...}, "knobs":{...}, "faults":[...],
                               "action_scripts":[...], "deprecated_calls":N,
                               "clock":{"now","offset"}, "requests":N,
                               "internal_errors":[text]}
POST   /__fake/reset          {} -> {"ok":true}: initial state, faults, scripts,
                               knobs, clock, log, counters, extra tokens all reset
GET    /__fake/servers        {"servers":[...]}
POST   /__fake/servers        {"name", "id"?, "status"?="running", "location"?="fsn1",
                               "ipv4"?: "a.b.c.d"|null, "ipv6"?: "net/64"|null,
                               "labels"?, "private_ip"?, "protection"?}
                               -> 201 {"server":{...}}
GET|PATCH|DELETE /__fake/servers/{id}
                              PATCH takes the same keys as POST except id.
                              DELETE unassigns the FIPs it held -> {"ok":true}
GET    /__fake/floating_ips   {"floating_ips":[...]}
POST   /__fake/floating_ips   {"name", "id"?, "type"?="ipv4", "ip"?, "home_location"?="fsn1",
                               "server"?: id|null, "description"?, "labels"?,
                               "blocked"?, "protection"?, "dns_ptr"?}
                               -> 201 {"floating_ip":{...}}
GET|PATCH|DELETE /__fake/floating_ips/{id}
                              PATCH "server" moves it at once, without an action
GET    /__fake/actions        {"actions":[...]}
POST   /__fake/actions/{id}/finish
                              {"outcome":"success"|"error", "code"?, "message"?}
                              ends a running action now -> {"action":{...}}
GET|POST|DELETE /__fake/actions/next
                              script the next actions: POST {"outcome":
                              "success"|"error"|"never", "delay"?: s, "count"?=1,
                              "command"?: "assign_floating_ip"(default)|
                              "unassign_floating_ip"|"*", "code"?="action_failed",
                              "message"?, "id"?: action id} -> {"action_scripts":[...]}
GET|POST /__fake/tokens       POST {"kind":"rw"|"ro"|"forbidden", "token"?} ->
                              201 {"token", "kind", "fingerprint"}
POST   /__fake/tokens/revoke  {"token"} -> {"ok":true}
GET|POST /__fake/ratelimit    POST {"limit"?, "remaining"?, "scope"?:"project"|
                              "unauthenticated", "client"?="127.0.0.1"}
                              -> {"project":{"limit","remaining","reset"},
                                  "unauthenticated":{addr:{...}}}
GET|POST /__fake/competitor   POST {"rate": r} -> {"rate","spent","refused"}: a
                              competing client of the same project that wants r
                              requests per second (0 stops it) and takes each
                              token the moment it is there, so only the rest
                              of the refill is left to others; not in the
                              request log
GET|POST|DELETE /__fake/faults
                              POST {"kind", "count"?=1, "path"?, "method"?, "delay"?,
                              "apply"?, "status"?, "code"?, "message"?, "details"?,
                              "body"?} -> 201 {"fault":{...}}; GET {"faults":[...]}
GET|DELETE /__fake/requests   GET ?since=SEQ -> {"requests":[{"seq","method","path",
                              "query","status","remaining","limit","token","token_kind",
                              "body","correlation_id","fault","warning","user_agent",
                              "content_type","time_wall","time_mono","clock"}]};
                              "token" is a fingerprint: first 4 characters and the
                              length, e.g. "AbCd…(64)", never the token
GET|POST /__fake/clock        POST {"advance": s} or {"offset": s} ->
                              {"now": unix, "offset": s}. The fake clock drives
                              actions, the token bucket and all timestamps.
GET|POST /__fake/knobs        {"action_seconds", "deprecated_action_endpoint":
                              "warn"|"gone", "zone_rule": bool, "zone_rule_code",
                              "unknown_server_code", "unassigned_code",
                              "lock_updates": bool, "next_action_id", "log_limit"}
GET    /__fake/deprecated     {"count":N, "calls":[{"method","path","kind","time"}]}
"""

from __future__ import annotations

import argparse
import collections
import copy
import datetime
import ipaddress
import json
import math
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import string
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_PREFIX = "/v1"
ADMIN_PREFIX = "/__fake"
MAX_ID = 2**63 - 1

ANNOUNCE_ACTIONS_LIST = (
    "https://docs.hetzner.cloud/changelog"
    "#2025-01-30-listing-arbitrary-actions-in-the-actions-list-endpoint-is-removed"
)
ANNOUNCE_RESOURCE_ACTION = (
    "https://docs.hetzner.cloud/changelog#2026-04-30-deprecate-get-resource-action-endpoints"
)

# Real Hetzner locations (ids, coordinates and network zones as the API lists them).
LOCATIONS = {
    "fsn1": (1, "Falkenstein DC Park 1", "DE", "Falkenstein", 50.47612, 12.370071, "eu-central"),
    "nbg1": (2, "Nuremberg DC Park 1", "DE", "Nuremberg", 49.452102, 11.076665, "eu-central"),
    "hel1": (3, "Helsinki DC Park 1", "FI", "Helsinki", 60.169855, 24.938379, "eu-central"),
    "ash": (4, "Ashburn, VA", "US", "Ashburn, VA", 39.045821, -77.487073, "us-east"),
    "hil": (5, "Hillsboro, OR", "US", "Hillsboro, OR", 45.54222, -122.951924, "us-west"),
    "sin": (6, "Singapore", "SG", "Singapore", 1.283333, 103.833333, "ap-southeast"),
}

SERVER_STATUSES = (
    "running", "initializing", "starting", "stopping", "off",
    "deleting", "migrating", "rebuilding", "unknown",
)
ACTION_STATUSES = ("running", "success", "error")

# HTTP status of each documented error code; used when a knob or a fault names a code.
ERROR_STATUS = {
    "json_error": 400, "unauthorized": 401, "token_readonly": 401, "forbidden": 403,
    "maintenance": 403, "resource_limit_exceeded": 403, "not_found": 404,
    "method_not_allowed": 405, "uniqueness_error": 409, "conflict": 409,
    "deprecated_api_endpoint": 410, "resource_unavailable": 412, "invalid_input": 422,
    "service_error": 422, "unsupported_error": 422, "floating_ip_assigned": 422,
    "locked": 423, "protected": 423, "rate_limit_exceeded": 429, "server_error": 500,
    "unknown_error": 500, "bad_gateway": 502, "unavailable": 503,
    "robot_unavailable": 503, "timeout": 504,
}

# Fault kinds that answer with a JSON envelope: kind -> (status, code, message).
JSON_FAULTS = {
    "conflict": (409, "conflict", "resource has changed during the request, please retry"),
    "server_error": (500, "server_error", "internal server error"),
    "bad_gateway": (502, "bad_gateway", "bad gateway"),
    "unavailable": (503, "unavailable", "service unavailable"),
    "timeout": (504, "timeout", "request timed out"),
}
HTML_FAULTS = {
    "bad_gateway_html": (502, "Bad Gateway"),
    "gateway_timeout_html": (504, "Gateway Time-out"),
}
FAULT_KINDS = (
    set(JSON_FAULTS) | set(HTML_FAULTS)
    | {"error", "garbage", "truncated", "slow", "reset", "close", "raw_garbage"}
)

INITIAL_SERVERS = (
    # id, name, ipv4, ipv6 network, private ip
    (2**40 + 1, "node-a", "198.51.100.11", "2001:db8:a::/64", "10.0.0.11"),
    (2**40 + 2, "node-b", "198.51.100.12", "2001:db8:b::/64", "10.0.0.12"),
    (2**40 + 3, "node-c", "198.51.100.13", "2001:db8:c::/64", "10.0.0.13"),
    (10**15, "node-round", "198.51.100.14", "2001:db8:d::/64", "10.0.0.14"),
)
INITIAL_FLOATING_IPS = (
    # id, name, type, ip
    (2**40 + 101, "egress-v4", "ipv4", "203.0.113.10"),
    (2**40 + 102, "egress-v4-b", "ipv4", "203.0.113.11"),
    (2**40 + 103, "egress-v6", "ipv6", "2001:db8:1:2::/64"),
)
FIRST_ACTION_ID = 10**15
PRIVATE_NETWORK_ID = 2**40 + 900

DEFAULT_KNOBS = {
    "deprecated_action_endpoint": "warn",  # or "gone" (410)
    "zone_rule": False,
    "zone_rule_code": "invalid_input",
    "unknown_server_code": "invalid_input",
    "unassigned_code": "service_error",
    "lock_updates": True,
    "log_limit": 10000,
}

# Label keys and values as Hetzner validates them (Kubernetes-style).
_LABEL_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_LABEL_KEY_RE = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?/)?" + _LABEL_NAME + r"$")
_LABEL_VALUE_RE = re.compile(r"^(?:" + _LABEL_NAME + r")?$")
_DIGITS_RE = re.compile(r"^[0-9]+$")


def rfc3339(t):
    """Format a unix time the way the API does (second precision, +00:00)."""
    return datetime.datetime.fromtimestamp(
        int(t), datetime.timezone.utc).isoformat()


def random_token():
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(64))


def token_fingerprint(token):
    """First characters and the length: enough to tell tokens apart, never the secret."""
    if token is None:
        return None
    shown = token[: min(4, len(token) // 4)]
    return "%s…(%d)" % (shown, len(token))


class ApiError(Exception):
    """An answer in the API's error envelope."""

    def __init__(self, status, code, message, details=None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


class AdminError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def invalid_field(name, message, status=400):
    # Message format of the live API: "invalid input in field 'x': reason".
    return ApiError(status, "invalid_input", "invalid input in field '%s': %s" % (name, message),
                    {"fields": [{"name": name, "messages": [message]}]})


def coded_error(code, message, details=None):
    return ApiError(ERROR_STATUS.get(code, 422), code, message, details)


# --------------------------------------------------------------------------- helpers

class TokenBucket:
    """Hetzner's limiter: capacity `limit`, refilled by limit/3600 tokens per second."""

    def __init__(self, limit, now):
        self.limit = int(limit)
        self.tokens = float(limit)
        self.stamp = now

    def _refill(self, now):
        # A clock set backwards (knob) must not drain or overfill the bucket.
        if now > self.stamp:
            self.tokens = min(float(self.limit),
                              self.tokens + (now - self.stamp) * self.limit / 3600.0)
        self.stamp = now

    def take(self, now):
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def set(self, now, limit=None, remaining=None):
        self._refill(now)
        if limit is not None:
            if int(limit) < 1:
                raise ValueError("limit must be >= 1")
            self.limit = int(limit)
            self.tokens = min(self.tokens, float(self.limit))
        if remaining is not None:
            if not 0 <= float(remaining) <= self.limit:
                raise ValueError("remaining must be within 0..limit")
            self.tokens = float(remaining)

    def remaining(self, now):
        self._refill(now)
        return int(math.floor(self.tokens))

    def reset_at(self, now):
        self._refill(now)
        return int(math.ceil(now + (self.limit - self.tokens) * 3600.0 / self.limit))

    def view(self, now):
        return {"limit": self.limit, "remaining": self.remaining(now),
                "reset": self.reset_at(now)}


def _split_top_level(text):
    """Split a selector on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("unbalanced parenthesis")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise ValueError("unbalanced parenthesis")
    parts.append("".join(cur))
    return parts


def parse_label_selector(text):
    """Compile a label selector into a predicate over a labels dict.

    Grammar (Hetzner's, after Kubernetes): k=v, k==v, k!=v, k, !k, k in (a,b),
    k notin (a,b), comma = AND. Like Kubernetes, k!=v and notin also match
    objects without the key. Raises ValueError on anything else.
    """
    preds = []

    def key_ok(k):
        if not _LABEL_KEY_RE.match(k):
            raise ValueError("invalid label key %r" % k)
        return k

    def value_ok(v):
        if not _LABEL_VALUE_RE.match(v):
            raise ValueError("invalid label value %r" % v)
        return v

    for raw in _split_top_level(text):
        term = raw.strip()
        if not term:
            raise ValueError("empty requirement")
        m = re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", term)
        if m:
            key = key_ok(m.group(1))
            if not m.group(3).strip():
                raise ValueError("empty value set")
            values = frozenset(value_ok(v.strip()) for v in m.group(3).split(","))
            if m.group(2) == "in":
                preds.append(lambda l, k=key, vs=values: k in l and l[k] in vs)
            else:
                preds.append(lambda l, k=key, vs=values: k not in l or l[k] not in vs)
            continue
        if term.startswith("!"):
            key = key_ok(term[1:].strip())
            preds.append(lambda l, k=key: k not in l)
            continue
        m = re.fullmatch(r"([^=!\s]+)\s*(==|!=|=)\s*([^=!\s]*)", term)
        if m:
            key, op, value = key_ok(m.group(1)), m.group(2), value_ok(m.group(3))
            if op == "!=":
                preds.append(lambda l, k=key, v=value: l.get(k) != v)
            else:
                preds.append(lambda l, k=key, v=value: l.get(k) == v)
            continue
        key = key_ok(term)
        preds.append(lambda l, k=key: k in l)
    return lambda labels: all(p(labels) for p in preds)


def validate_labels(labels, field="labels"):
    if not isinstance(labels, dict):
        raise invalid_field(field, "must be an object", 422)
    for k, v in labels.items():
        if not isinstance(v, str) or not _LABEL_KEY_RE.match(k) or not _LABEL_VALUE_RE.match(v):
            raise invalid_field(field, "invalid label %r" % k, 422)
    return dict(labels)


def generate_tls_material(directory):
    """Make a CA and a server certificate for 127.0.0.1 with the openssl CLI.

    EC keys keep this fast (well under a second). Returns (ca, cert, key) paths.
    """
    ca_key = os.path.join(directory, "ca.key")
    ca_pem = os.path.join(directory, "ca.pem")
    key = os.path.join(directory, "server.key")
    csr = os.path.join(directory, "server.csr")
    cert = os.path.join(directory, "server.pem")
    ext = os.path.join(directory, "server.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(args):
        subprocess.run(["openssl"] + args, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    run(["req", "-x509", "-new"] + ec + [
        "-keyout", ca_key, "-out", ca_pem, "-days", "7", "-sha256",
        "-subj", "/CN=stable-egressd fake hcloud CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["req", "-new"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"])
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
    run(["x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
         "-set_serial", str(secrets.randbits(63)), "-days", "7", "-sha256",
         "-extfile", ext, "-out", cert])
    return ca_pem, cert, key


class _Request:
    """One API request as the fake sees it."""

    def __init__(self, method, target, headers, body, client):
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = split.path
        self.query = split.query
        self.params = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.client = client
        self.host = headers.get("Host")
        auth = headers.get("Authorization")
        self.token = None
        if auth is not None:
            scheme, _, rest = auth.partition(" ")
            # Anything but "Bearer <token>" is an unknown token, not a missing one.
            self.token = rest if scheme.lower() == "bearer" else auth
        self.correlation_id = secrets.token_hex(16)
        self.token_kind = None
        self.rate = (0, 0, 0)
        self.warning = None
        self.t_wall = time.time()
        self.t_mono = time.monotonic()
        self.clock = None


class _Reply:
    """What to send back. special: None, "truncated", "reset", "close" or "raw"."""

    def __init__(self, status, body=b"", content_type="application/json", special=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.special = special
        self.headers = []
        self.fault = None


def _reject_constant(name):
    # NaN and Infinity are not JSON; Python's parser would accept them.
    raise ValueError("not JSON: %s" % name)


def json_bytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def error_reply(err):
    return _Reply(err.status, json_bytes(
        {"error": {"code": err.code, "message": err.message, "details": err.details}}))


# --------------------------------------------------------------------------- the fake

class FakeHcloud:
    """The fake: state, rules and two HTTP servers (API and admin)."""

    def __init__(self, *, port=0, admin_port=0, tls=False, action_seconds=1.0,
                 rate_limit=3600, token=None, verbose=False):
        self._lock = threading.RLock()
        self._port = port
        self._admin_port = admin_port
        self._tls = tls
        self._default_action_seconds = float(action_seconds)
        self._default_rate_limit = int(rate_limit)
        self.token = token or random_token()
        self.verbose = verbose
        self._wall0 = time.time()
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._api_server = None
        self._admin_server = None
        self._threads = []
        self._tls_dir = None
        self.ca_file = None
        self.internal_errors = []
        self._reset_locked()

    # ---------------------------------------------------------------- lifecycle

    def start(self):
        ctx = None
        if self._tls:
            self._tls_dir = tempfile.mkdtemp(prefix="fake-hcloud-tls-")
            self.ca_file, cert, key = generate_tls_material(self._tls_dir)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(cert, key)
        self._api_server = _Server(("127.0.0.1", self._port), _ApiHandler, self, ctx)
        self._admin_server = _Server(("127.0.0.1", self._admin_port), _AdminHandler, self, None)
        for srv in (self._api_server, self._admin_server):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                 daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        for srv in (self._api_server, self._admin_server):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
                srv.close_connections()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if self._tls_dir:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._api_server.server_address[1]

    @property
    def endpoint(self):
        return "%s://127.0.0.1:%d%s" % ("https" if self._tls else "http", self.port, API_PREFIX)

    @property
    def admin_url(self):
        return "http://127.0.0.1:%d%s" % (self._admin_server.server_address[1], ADMIN_PREFIX)

    # ---------------------------------------------------------------- clock

    def now(self):
        """The fake clock: wall time at start + monotonic elapsed + offset knob."""
        return self._wall0 + (time.monotonic() - self._mono0) + self._offset

    def advance_clock(self, seconds):
        with self._lock:
            self._offset += float(seconds)
            return self.clock()

    def set_clock_offset(self, offset):
        with self._lock:
            self._offset = float(offset)
            return self.clock()

    def clock(self):
        return {"now": self.now(), "offset": self._offset}

    # ---------------------------------------------------------------- state

    def reset(self):
        with self._lock:
            self._reset_locked()

    def _reset_locked(self):
        self._offset = 0.0
        now = self.now()
        self._knobs = dict(DEFAULT_KNOBS)
        self._knobs["action_seconds"] = self._default_action_seconds
        self._knobs["next_action_id"] = FIRST_ACTION_ID
        self._tokens = {self.token: "rw"}
        self._project_bucket = TokenBucket(self._default_rate_limit, now)
        self._competitor_gen = getattr(self, "_competitor_gen", 0) + 1
        self._competitor = {"rate": 0.0, "spent": 0, "refused": 0}
        self._anon_buckets = {}
        self._anon_limit = self._default_rate_limit
        self._servers = {}
        self._fips = {}
        self._actions = {}
        self._scripts = []
        self._faults = []
        self._fault_seq = 0
        self._log = collections.deque(maxlen=self._knobs["log_limit"])
        self._log_seq = 0
        self._deprecated = []
        self._next_server_id = 2**40 + 11
        self._next_fip_id = 2**40 + 201
        self._next_primary_ip_id = 2**41 + 1
        self.internal_errors = []
        for i, (sid, name, v4, v6, priv) in enumerate(INITIAL_SERVERS):
            self._add_server_locked({
                "id": sid, "name": name, "ipv4": v4, "ipv6": v6, "private_ip": priv,
                "created": "2026-01-05T09:%02d:00+00:00" % i})
        for i, (fid, name, typ, ip) in enumerate(INITIAL_FLOATING_IPS):
            self._add_fip_locked({
                "id": fid, "name": name, "type": typ, "ip": ip,
                "labels": {"stable-egress": "true"},
                "created": "2026-01-05T10:%02d:00+00:00" % i})

    def state(self):
        with self._lock:
            now = self.now()
            self._settle(now)
            return {
                "servers": [self._server_json(s, now) for s in self._sorted_by_id(self._servers)],
                "floating_ips": [self._fip_json(f) for f in self._sorted_by_id(self._fips)],
                "actions": [self._action_json(a, now) for a in self._sorted_by_id(self._actions)],
                "tokens": [{"fingerprint": token_fingerprint(t), "kind": k}
                           for t, k in self._tokens.items()],
                "rate_limit": self._rate_view(now),
                "knobs": dict(self._knobs),
                "faults": copy.deepcopy(self._faults),
                "action_scripts": copy.deepcopy(self._scripts),
                "deprecated_calls": len(self._deprecated),
                "clock": self.clock(),
                "requests": len(self._log),
                "internal_errors": list(self.internal_errors),
            }

    @staticmethod
    def _sorted_by_id(d):
        return [d[k] for k in sorted(d)]

    def _take_id(self, attr, table, wanted):
        if wanted is not None:
            if type(wanted) is not int or not 1 <= wanted <= MAX_ID:
                raise AdminError(400, "id must be an integer in 1..2^63-1")
            if wanted in table:
                raise AdminError(400, "id %d already exists" % wanted)
            return wanted
        value = getattr(self, attr)
        while value in table:
            value += 1
        setattr(self, attr, value + 1)
        return value

    @staticmethod
    def _check_location(name):
        if name not in LOCATIONS:
            raise AdminError(400, "unknown location %r (known: %s)" % (name, ", ".join(LOCATIONS)))
        return name

    def _check_unique_name(self, table, name, own_id=None):
        if not isinstance(name, str) or not name:
            raise AdminError(400, "name must be a non-empty string")
        for obj in table.values():
            if obj["name"] == name and obj["id"] != own_id:
                raise AdminError(400, "name %r already used by id %d" % (name, obj["id"]))
        return name

    def _primary_ip(self, ip, v6):
        pid = self._next_primary_ip_id
        self._next_primary_ip_id += 1
        if v6:
            return {"id": pid, "ip": ip, "blocked": False, "dns_ptr": []}
        rev = ".".join(reversed(ip.split(".")))
        return {"id": pid, "ip": ip, "blocked": False,
                "dns_ptr": "static.%s.clients.your-server.de" % rev}

    # servers ----------------------------------------------------------------

    def add_server(self, **spec):
        with self._lock:
            return self._server_json(self._add_server_locked(spec), self.now())

    def _add_server_locked(self, spec):
        known = {"id", "name", "status", "location", "ipv4", "ipv6", "labels",
                 "private_ip", "protection", "created"}
        unknown = set(spec) - known
        if unknown:
            raise AdminError(400, "unknown server keys: %s" % ", ".join(sorted(unknown)))
        sid = self._take_id("_next_server_id", self._servers, spec.get("id"))
        n = sid % 250 + 1
        srv = {
            "id": sid,
            "name": self._check_unique_name(self._servers, spec.get("name")),
            "status": "running",
            "location": "fsn1",
            "ipv4": None,
            "ipv6": None,
            "labels": {},
            "private_net": [],
            "protection": {"delete": False, "rebuild": False},
            "created": spec.get("created") or rfc3339(self.now()),
        }
        defaults = {"ipv4": "198.51.100.%d" % n, "ipv6": "2001:db8:%x::/64" % (0x100 + n),
                    "private_ip": "10.0.1.%d" % n}
        merged = dict(defaults)
        merged.update(spec)
        self._apply_server_changes(srv, merged, creating=True)
        self._servers[sid] = srv
        return srv

    def _apply_server_changes(self, srv, changes, creating=False):
        allowed = {"name", "status", "location", "ipv4", "ipv6", "labels", "private_ip",
                   "protection"}
        if not creating:
            unknown = set(changes) - allowed
            if unknown:
                raise AdminError(400, "unknown server keys: %s" % ", ".join(sorted(unknown)))
        if "name" in changes and not creating:
            srv["name"] = self._check_unique_name(self._servers, changes["name"], srv["id"])
        if "status" in changes:
            if changes["status"] not in SERVER_STATUSES:
                raise AdminError(400, "status must be one of %s" % ", ".join(SERVER_STATUSES))
            srv["status"] = changes["status"]
        if "location" in changes:
            srv["location"] = self._check_location(changes["location"])
        if "ipv4" in changes:
            ip = changes["ipv4"]
            if ip is not None:
                try:
                    ipaddress.IPv4Address(ip)
                except ValueError:
                    raise AdminError(400, "ipv4 must be an IPv4 address or null")
            srv["ipv4"] = None if ip is None else self._primary_ip(ip, False)
        if "ipv6" in changes:
            net = changes["ipv6"]
            if net is not None:
                try:
                    ipaddress.IPv6Network(net)
                except ValueError:
                    raise AdminError(400, "ipv6 must be an IPv6 network like 2001:db8::/64 or null")
            srv["ipv6"] = None if net is None else self._primary_ip(net, True)
        if "labels" in changes:
            srv["labels"] = self._admin_labels(changes["labels"])
        if "private_ip" in changes:
            ip = changes["private_ip"]
            srv["private_net"] = [] if ip is None else [{
                "network": PRIVATE_NETWORK_ID, "ip": ip, "alias_ips": [],
                "mac_address": "86:00:00:%02x:%02x:%02x" % (
                    (srv["id"] >> 16) & 255, (srv["id"] >> 8) & 255, srv["id"] & 255)}]
        if "protection" in changes:
            p = changes["protection"]
            if not isinstance(p, dict):
                raise AdminError(400, "protection must be an object")
            srv["protection"] = {"delete": bool(p.get("delete", False)),
                                 "rebuild": bool(p.get("rebuild", False))}

    @staticmethod
    def _admin_labels(labels):
        try:
            return validate_labels(labels)
        except ApiError as e:
            raise AdminError(400, "labels: %s" % e.details["fields"][0]["messages"][0])

    def patch_server(self, server_id, **changes):
        with self._lock:
            srv = self._admin_get(self._servers, server_id, "server")
            self._apply_server_changes(srv, changes)
            return self._server_json(srv, self.now())

    def delete_server(self, server_id):
        with self._lock:
            self._admin_get(self._servers, server_id, "server")
            del self._servers[server_id]
            # The API unassigns a deleted server's Floating IPs.
            for fip in self._fips.values():
                if fip["server"] == server_id:
                    fip["server"] = None

    @staticmethod
    def _admin_get(table, obj_id, what):
        obj = table.get(obj_id)
        if obj is None:
            raise AdminError(404, "%s %s not found" % (what, obj_id))
        return obj

    # floating IPs -----------------------------------------------------------

    def add_floating_ip(self, **spec):
        with self._lock:
            return self._fip_json(self._add_fip_locked(spec))

    def _add_fip_locked(self, spec):
        known = {"id", "name", "type", "ip", "home_location", "server", "description",
                 "labels", "blocked", "protection", "dns_ptr", "created"}
        unknown = set(spec) - known
        if unknown:
            raise AdminError(400, "unknown floating ip keys: %s" % ", ".join(sorted(unknown)))
        fid = self._take_id("_next_fip_id", self._fips, spec.get("id"))
        typ = spec.get("type", "ipv4")
        if typ not in ("ipv4", "ipv6"):
            raise AdminError(400, "type must be ipv4 or ipv6")
        n = fid % 250 + 1
        default_ip = ("203.0.113.%d" % n) if typ == "ipv4" else ("2001:db8:2:%x::/64" % n)
        fip = {
            "id": fid,
            "name": self._check_unique_name(self._fips, spec.get("name")),
            "type": typ,
            "ip": None,
            "description": None,
            "server": None,
            "dns_ptr": [],
            "home_location": "fsn1",
            "blocked": False,
            "labels": {},
            "protection": {"delete": False},
            "created": spec.get("created") or rfc3339(self.now()),
        }
        changes = {k: v for k, v in spec.items() if k not in ("id", "name", "type", "created")}
        changes.setdefault("ip", default_ip)
        self._apply_fip_changes(fip, changes)
        if "dns_ptr" not in spec and typ == "ipv4":
            rev = ".".join(reversed(fip["ip"].split(".")))
            fip["dns_ptr"] = [{"ip": fip["ip"],
                               "dns_ptr": "static.%s.clients.your-server.de" % rev}]
        self._fips[fid] = fip
        return fip

    def _apply_fip_changes(self, fip, changes):
        allowed = {"name", "ip", "home_location", "server", "description", "labels",
                   "blocked", "protection", "dns_ptr"}
        unknown = set(changes) - allowed
        if unknown:
            raise AdminError(400, "unknown floating ip keys: %s" % ", ".join(sorted(unknown)))
        if "name" in changes:
            fip["name"] = self._check_unique_name(self._fips, changes["name"], fip["id"])
        if "ip" in changes:
            ip = changes["ip"]
            try:
                if fip["type"] == "ipv4":
                    ipaddress.IPv4Address(ip)
                else:
                    # An IPv6 Floating IP is a /64 network, as in the live API.
                    if ipaddress.IPv6Network(ip).prefixlen != 64 or "/" not in ip:
                        raise ValueError
            except (ValueError, TypeError):
                raise AdminError(400, "ip must be an IPv4 address (ipv4) or a /64 (ipv6)")
            fip["ip"] = ip
        if "home_location" in changes:
            fip["home_location"] = self._check_location(changes["home_location"])
        if "server" in changes:
            sid = changes["server"]
            if sid is not None and sid not in self._servers:
                raise AdminError(400, "server %s does not exist" % sid)
            fip["server"] = sid
        if "description" in changes:
            d = changes["description"]
            if d is not None and not isinstance(d, str):
                raise AdminError(400, "description must be a string or null")
            fip["description"] = d
        if "labels" in changes:
            fip["labels"] = self._admin_labels(changes["labels"])
        if "blocked" in changes:
            fip["blocked"] = bool(changes["blocked"])
        if "protection" in changes:
            p = changes["protection"]
            if not isinstance(p, dict):
                raise AdminError(400, "protection must be an object")
            fip["protection"] = {"delete": bool(p.get("delete", False))}
        if "dns_ptr" in changes:
            if not isinstance(changes["dns_ptr"], list):
                raise AdminError(400, "dns_ptr must be a list of {ip, dns_ptr}")
            fip["dns_ptr"] = copy.deepcopy(changes["dns_ptr"])

    def patch_floating_ip(self, fip_id, **changes):
        with self._lock:
            fip = self._admin_get(self._fips, fip_id, "floating ip")
            self._apply_fip_changes(fip, changes)
            return self._fip_json(fip)

    def delete_floating_ip(self, fip_id):
        with self._lock:
            self._admin_get(self._fips, fip_id, "floating ip")
            del self._fips[fip_id]

    # tokens, rate limit, knobs ---------------------------------------------

    def add_token(self, kind="rw", token=None):
        if kind not in ("rw", "ro", "forbidden"):
            raise AdminError(400, "kind must be rw, ro or forbidden")
        if token is not None and (not isinstance(token, str) or not token):
            raise AdminError(400, "token must be a non-empty string")
        with self._lock:
            token = token or random_token()
            self._tokens[token] = kind
            return token

    def revoke_token(self, token):
        with self._lock:
            if self._tokens.pop(token, None) is None:
                raise AdminError(404, "no such token")

    def set_rate_limit(self, limit=None, remaining=None, scope="project", client="127.0.0.1"):
        with self._lock:
            now = self.now()
            try:
                if scope == "project":
                    self._project_bucket.set(now, limit, remaining)
                elif scope == "unauthenticated":
                    if limit is not None:
                        self._anon_limit = int(limit)
                        for b in self._anon_buckets.values():
                            b.set(now, limit=limit)
                    self._anon_bucket(client, now).set(now, limit, remaining)
                else:
                    raise AdminError(400, "scope must be project or unauthenticated")
            except (TypeError, ValueError) as e:
                raise AdminError(400, "rate limit: %s" % e)
            return self._rate_view(now)

    def rate_limit(self):
        with self._lock:
            return self._rate_view(self.now())

    # A competing client of the same project (the cloud controller manager,
    # the CSI driver) that wants `rate` requests per second: its allowance
    # grows at that rate (at most one second of it saved up) and it takes a
    # project token the moment one is there and it has allowance left, so
    # whatever it does not want is all another client can get.  "refused"
    # counts the times it found the bucket empty while it had allowance.
    # It never appears in the request log.

    def set_competitor(self, rate=0.0):
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise AdminError(400, "competitor: rate must be a number")
        if not 0 <= rate <= 100:
            raise AdminError(400, "competitor: rate must be within 0..100 per second")
        with self._lock:
            self._competitor_gen += 1
            gen = self._competitor_gen
            self._competitor = {"rate": rate, "spent": 0, "refused": 0}
        if rate > 0:
            t = threading.Thread(target=self._compete, args=(gen, rate), daemon=True)
            t.start()
        return self.competitor()

    def competitor(self):
        with self._lock:
            return dict(self._competitor)

    def _compete(self, gen, rate):
        credit, waiting, last = 0.0, False, time.monotonic()
        while True:
            time.sleep(0.005)
            now = time.monotonic()
            credit = min(1.0 + rate, credit + (now - last) * rate)
            last = now
            with self._lock:
                if gen != self._competitor_gen:
                    return
                while credit >= 1.0:
                    if not self._project_bucket.take(self.now()):
                        if not waiting:
                            self._competitor["refused"] += 1
                        waiting = True
                        break
                    credit -= 1.0
                    waiting = False
                    self._competitor["spent"] += 1

    def _rate_view(self, now):
        return {"project": self._project_bucket.view(now),
                "unauthenticated": {ip: b.view(now) for ip, b in self._anon_buckets.items()}}

    def _anon_bucket(self, client, now):
        bucket = self._anon_buckets.get(client)
        if bucket is None:
            bucket = self._anon_buckets[client] = TokenBucket(self._anon_limit, now)
        return bucket

    def knobs(self):
        with self._lock:
            return dict(self._knobs)

    def set_knobs(self, **changes):
        checks = {
            "action_seconds": lambda v: isinstance(v, (int, float)) and v >= 0,
            "deprecated_action_endpoint": lambda v: v in ("warn", "gone"),
            "zone_rule": lambda v: isinstance(v, bool),
            "zone_rule_code": lambda v: isinstance(v, str) and v,
            "unknown_server_code": lambda v: isinstance(v, str) and v,
            "unassigned_code": lambda v: isinstance(v, str) and v,
            "lock_updates": lambda v: isinstance(v, bool),
            "next_action_id": lambda v: type(v) is int and 1 <= v <= MAX_ID,
            "log_limit": lambda v: type(v) is int and v >= 1,
        }
        with self._lock:
            for k, v in changes.items():
                if k not in checks:
                    raise AdminError(400, "unknown knob %r" % k)
                if not checks[k](v):
                    raise AdminError(400, "bad value for knob %r: %r" % (k, v))
            self._knobs.update(changes)
            if "log_limit" in changes:
                self._log = collections.deque(self._log, maxlen=changes["log_limit"])
            return dict(self._knobs)

    # actions -----------------------------------------------------------------

    def script_actions(self, outcome="success", delay=None, count=1,
                       command="assign_floating_ip", code="action_failed",
                       message=None, id=None):
        """Decide how the next `count` matching actions behave."""
        if outcome not in ("success", "error", "never"):
            raise AdminError(400, "outcome must be success, error or never")
        if command not in ("assign_floating_ip", "unassign_floating_ip", "*"):
            raise AdminError(400, "command must be assign_floating_ip, unassign_floating_ip or *")
        if delay is not None and (not isinstance(delay, (int, float)) or delay < 0):
            raise AdminError(400, "delay must be a number >= 0")
        if type(count) is not int or count < 1:
            raise AdminError(400, "count must be an integer >= 1")
        if id is not None and (type(id) is not int or not 1 <= id <= MAX_ID):
            raise AdminError(400, "id must be an integer in 1..2^63-1")
        with self._lock:
            self._scripts.append({
                "outcome": outcome, "delay": delay, "count": count, "command": command,
                "code": code, "message": message or "action failed", "id": id})
            return copy.deepcopy(self._scripts)

    def action_scripts(self):
        with self._lock:
            return copy.deepcopy(self._scripts)

    def clear_action_scripts(self):
        with self._lock:
            self._scripts = []

    def finish_action(self, action_id, outcome="success", code="action_failed", message=None):
        if outcome not in ("success", "error"):
            raise AdminError(400, "outcome must be success or error")
        with self._lock:
            now = self.now()
            self._settle(now)
            act = self._admin_get(self._actions, action_id, "action")
            if act["status"] != "running":
                raise AdminError(400, "action %d is not running" % action_id)
            self._complete(act, now, outcome,
                           {"code": code or "action_failed", "message": message or "action failed"})
            return self._action_json(act, now)

    def actions(self):
        with self._lock:
            now = self.now()
            self._settle(now)
            return [self._action_json(a, now) for a in self._sorted_by_id(self._actions)]

    def _new_action(self, command, resources, fip_id, target, now):
        script = None
        for s in self._scripts:
            if s["command"] in ("*", command):
                script = s
                break
        if script is not None:
            script["count"] -= 1
            if script["count"] <= 0:
                self._scripts.remove(script)
        outcome = script["outcome"] if script else "success"
        delay = script["delay"] if script and script["delay"] is not None \
            else float(self._knobs["action_seconds"])
        if script and script["id"] is not None and script["id"] not in self._actions:
            aid = script["id"]
        else:
            aid = self._knobs["next_action_id"]
            while aid in self._actions:
                aid += 1
            self._knobs["next_action_id"] = aid + 1
        act = {
            "id": aid, "command": command, "status": "running", "started": now,
            "finished": None, "progress": 0,
            "duration": None if outcome == "never" else float(delay),
            "outcome": "success" if outcome == "never" else outcome,
            "planned_error": {"code": script["code"], "message": script["message"]}
            if script else None,
            "error": None, "resources": resources, "fip": fip_id, "target": target,
        }
        self._actions[aid] = act
        return act

    def _settle(self, now):
        """Finish every action whose time has come, in the order they end."""
        due = [a for a in self._actions.values()
               if a["status"] == "running" and a["duration"] is not None
               and a["started"] + a["duration"] <= now]
        for act in sorted(due, key=lambda a: (a["started"] + a["duration"], a["id"])):
            self._complete(act, act["started"] + act["duration"], act["outcome"],
                           act["planned_error"])

    def _complete(self, act, at, outcome, error):
        fip = self._fips.get(act["fip"])
        if outcome == "success":
            if fip is None:
                outcome, error = "error", {"code": "action_failed",
                                           "message": "floating ip no longer exists"}
            elif act["target"] is not None and act["target"] not in self._servers:
                outcome, error = "error", {"code": "action_failed",
                                           "message": "server no longer exists"}
        if outcome == "success":
            # The only place where an assignment takes effect.
            fip["server"] = act["target"]
            act["error"] = None
        else:
            act["error"] = dict(error or {"code": "action_failed", "message": "action failed"})
        act["status"] = outcome
        act["finished"] = at
        act["progress"] = 100

    def _progress(self, act, now):
        if act["status"] != "running":
            return act["progress"]
        if not act["duration"]:
            return 0
        return max(0, min(99, int(100 * (now - act["started"]) / act["duration"])))

    def _is_locked(self, rtype, rid):
        return any(a["status"] == "running" and {"id": rid, "type": rtype} in a["resources"]
                   for a in self._actions.values())

    # faults ------------------------------------------------------------------

    def add_fault(self, kind, count=1, path=None, method=None, delay=0.0, apply=False,
                  status=None, code=None, message=None, details=None, body=None):
        if kind not in FAULT_KINDS:
            raise AdminError(400, "kind must be one of %s" % ", ".join(sorted(FAULT_KINDS)))
        if type(count) is not int or count < 1:
            raise AdminError(400, "count must be an integer >= 1")
        if not isinstance(delay, (int, float)) or delay < 0:
            raise AdminError(400, "delay must be a number >= 0")
        if kind == "error" and (type(status) is not int or not code):
            raise AdminError(400, "kind error needs status (int) and code")
        if status is not None and (type(status) is not int or not 100 <= status <= 599):
            raise AdminError(400, "status must be an HTTP status code")
        with self._lock:
            self._fault_seq += 1
            fault = {"id": self._fault_seq, "kind": kind, "count": count, "path": path,
                     "method": method.upper() if method else None, "delay": float(delay),
                     "apply": bool(apply), "status": status, "code": code,
                     "message": message, "details": details, "body": body}
            self._faults.append(fault)
            return copy.deepcopy(fault)

    def faults(self):
        with self._lock:
            return copy.deepcopy(self._faults)

    def clear_faults(self):
        with self._lock:
            self._faults = []

    def _take_fault(self, req):
        for fault in self._faults:
            if fault["method"] and fault["method"] != req.method:
                continue
            if fault["path"] and fault["path"] not in req.target:
                continue
            fault["count"] -= 1
            if fault["count"] <= 0:
                self._faults.remove(fault)
            return dict(fault)
        return None

    def _fault_reply(self, fault, req, real):
        kind = fault["kind"]
        if kind in JSON_FAULTS:
            status, code, message = JSON_FAULTS[kind]
            return error_reply(ApiError(fault["status"] or status, fault["code"] or code,
                                        fault["message"] or message, fault["details"]))
        if kind == "error":
            return error_reply(ApiError(fault["status"], fault["code"],
                                        fault["message"] or fault["code"], fault["details"]))
        if kind in HTML_FAULTS:
            status, reason = HTML_FAULTS[kind]
            status = fault["status"] or status
            body = fault["body"] or (
                "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
                "<center><h1>%d %s</h1></center>\r\n</body>\r\n</html>\r\n"
                % (status, reason, status, reason))
            return _Reply(status, body.encode(), "text/html")
        if kind == "garbage":
            body = fault["body"] or '{"floating_ip": {"id": <html>\x00 not json'
            return _Reply(fault["status"] or 200, body.encode("utf-8", "replace"))
        if kind == "truncated":
            if real is not None:
                reply = real
            else:
                reply = _Reply(fault["status"] or 200, json_bytes(
                    {"action": {"id": 0, "command": "unknown", "status": "running"}}))
            reply.special = "truncated"
            return reply
        if kind == "reset":
            return _Reply(None, special="reset")
        if kind == "close":
            return _Reply(None, special="close")
        if kind == "raw_garbage":
            return _Reply(None, (fault["body"] or "\x16\x03\x01garbage, not HTTP\r\n\r\n")
                          .encode("utf-8", "replace"), special="raw")
        raise AssertionError("unhandled fault kind %s" % kind)

    # request log ---------------------------------------------------------------

    def requests(self, since=0):
        with self._lock:
            return [dict(e) for e in self._log if e["seq"] > since]

    def clear_requests(self):
        with self._lock:
            self._log.clear()

    def deprecated_calls(self):
        with self._lock:
            return {"count": len(self._deprecated), "calls": list(self._deprecated)}

    def _record(self, req, reply):
        with self._lock:
            self._log_seq += 1
            body = req.body.decode("utf-8", "replace")
            self._log.append({
                "seq": self._log_seq,
                "method": req.method,
                "path": req.path,
                "query": req.query,
                "status": reply.status,
                "limit": req.rate[0],
                "remaining": req.rate[1],
                "token": token_fingerprint(req.token),
                "token_kind": req.token_kind,
                "body": body[:4096],
                "correlation_id": req.correlation_id,
                "fault": reply.fault,
                "warning": req.warning,
                "user_agent": req.headers.get("User-Agent"),
                "content_type": req.headers.get("Content-Type"),
                "time_wall": req.t_wall,
                "time_mono": req.t_mono,
                "clock": req.clock,
            })

    # ---------------------------------------------------------------- API pipeline

    def _admit(self, req):
        """Rate limit, then fault selection. Returns (reply or None, fault or None)."""
        with self._lock:
            now = self.now()
            req.clock = now
            self._settle(now)
            kind = self._tokens.get(req.token) if req.token is not None else None
            req.token_kind = kind if kind else ("unknown" if req.token is not None else None)
            # The bucket is per project; requests without a valid token cannot be
            # tied to one and are limited per client address instead.
            bucket = self._project_bucket if kind else self._anon_bucket(req.client, now)
            allowed = bucket.take(now)
            req.rate = (bucket.limit, bucket.remaining(now), bucket.reset_at(now))
            if not allowed:
                return error_reply(ApiError(
                    429, "rate_limit_exceeded",
                    "limit of %d requests per hour reached" % bucket.limit)), None
            return None, self._take_fault(req)

    def _respond(self, req, fault):
        with self._lock:
            kind = fault["kind"] if fault else None
            process = (fault is None or kind == "slow" or fault["apply"]
                       or (kind == "truncated" and req.method == "GET"))
            real = self._process(req) if process else None
            if fault is None or kind == "slow":
                return real
            return self._fault_reply(fault, req, real)

    def _process(self, req):
        try:
            now = self.now()
            self._settle(now)
            if req.token_kind in (None, "unknown"):
                raise ApiError(401, "unauthorized", "unable to authenticate")
            if req.token_kind == "forbidden":
                raise ApiError(403, "forbidden", "insufficient permissions for this request")
            handler, args = self._route(req)
            if req.token_kind == "ro" and req.method != "GET":
                raise ApiError(401, "token_readonly",
                               "the token you are using is read-only and cannot modify resources")
            status, obj, headers = handler(req, now, *args)
            reply = _Reply(status, json_bytes(obj))
            reply.headers.extend(headers)
            return reply
        except ApiError as e:
            return error_reply(e)

    _ROUTES = (
        (re.compile(r"^/floating_ips$"), {"GET": "_h_fip_list"}),
        (re.compile(r"^/floating_ips/actions$"), {"GET": "_h_fip_actions_list"}),
        (re.compile(r"^/floating_ips/actions/([^/]+)$"), {"GET": "_h_fip_action_get"}),
        (re.compile(r"^/floating_ips/([^/]+)$"), {"GET": "_h_fip_get", "PUT": "_h_fip_put"}),
        (re.compile(r"^/floating_ips/([^/]+)/actions$"), {"GET": "_h_fip_history"}),
        (re.compile(r"^/floating_ips/([^/]+)/actions/assign$"), {"POST": "_h_assign"}),
        (re.compile(r"^/floating_ips/([^/]+)/actions/unassign$"), {"POST": "_h_unassign"}),
        (re.compile(r"^/floating_ips/([^/]+)/actions/([^/]+)$"),
         {"GET": "_h_fip_action_deprecated"}),
        (re.compile(r"^/servers$"), {"GET": "_h_server_list"}),
        (re.compile(r"^/servers/([^/]+)$"), {"GET": "_h_server_get"}),
        (re.compile(r"^/actions$"), {"GET": "_h_actions_list"}),
        (re.compile(r"^/actions/([^/]+)$"), {"GET": "_h_action_get"}),
    )

    def _route(self, req):
        path = req.path
        if not path.startswith(API_PREFIX + "/"):
            raise ApiError(404, "not_found", "not found")
        rest = path[len(API_PREFIX):]
        for pattern, methods in self._ROUTES:
            m = pattern.match(rest)
            if m:
                name = methods.get(req.method)
                if name is None:
                    raise ApiError(405, "method_not_allowed", "method not allowed")
                return getattr(self, name), m.groups()
        raise ApiError(404, "not_found", "not found")

    # request parsing helpers ---------------------------------------------------

    @staticmethod
    def _path_id(text, field="id"):
        if not _DIGITS_RE.match(text) or not 1 <= int(text) <= MAX_ID:
            raise invalid_field(field, "must be an integer ID")
        return int(text)

    @staticmethod
    def _last_param(req, name):
        values = req.params.get(name)
        return values[-1] if values else None

    def _int_param(self, req, name, default, lo, hi):
        text = self._last_param(req, name)
        if text is None:
            return default
        if not _DIGITS_RE.match(text) or not lo <= int(text) <= hi:
            raise invalid_field(name, "must be an integer between %d and %d" % (lo, hi))
        return int(text)

    def _selector(self, req):
        text = self._last_param(req, "label_selector")
        if text is None:
            return lambda labels: True
        try:
            return parse_label_selector(text)
        except ValueError as e:
            raise invalid_field("label_selector", str(e))

    @staticmethod
    def _sort(req, items, keys):
        """Apply repeated sort=field[:asc|:desc] params; unknown fields are 400."""
        specs = []
        for value in req.params.get("sort", []):
            field, _, direction = value.partition(":")
            if field not in keys or direction not in ("", "asc", "desc"):
                raise invalid_field("sort", "invalid sort %r" % value)
            specs.append((field, direction == "desc"))
        items = sorted(items, key=lambda o: o["id"])
        for field, desc in reversed(specs):
            items.sort(key=keys[field], reverse=desc)
        return items

    def _status_filter(self, req, items, allowed, get):
        wanted = req.params.get("status", [])
        for w in wanted:
            if w not in allowed:
                raise invalid_field("status", "invalid status %r" % w)
        if not wanted:
            return items
        return [o for o in items if get(o) in wanted]

    def _paginate(self, req, items, key):
        page = self._int_param(req, "page", 1, 1, 2**31 - 1)
        per_page = self._int_param(req, "per_page", 25, 1, 50)
        total = len(items)
        last = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        meta = {"pagination": {
            "page": page, "per_page": per_page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last else None,
            "last_page": last, "total_entries": total}}
        base = "%s://%s%s" % ("https" if self._tls else "http",
                              req.host or "127.0.0.1:%d" % self.port, req.path)
        keep = [(k, v) for k, v in urllib.parse.parse_qsl(req.query, keep_blank_values=True)
                if k not in ("page", "per_page")]

        def url(p):
            return "%s?%s" % (base, urllib.parse.urlencode(
                keep + [("page", str(p)), ("per_page", str(per_page))]))

        links = []
        if page > 1:
            links.append('<%s>; rel="prev"' % url(min(page - 1, last)))
        if page < last:
            links.append('<%s>; rel="next"' % url(page + 1))
        links.append('<%s>; rel="last"' % url(last))
        return {key: chunk, "meta": meta}, [("Link", ", ".join(links))]

    @staticmethod
    def _json_object(req):
        """Parse a request body; empty means {} (the client sent nothing)."""
        if not req.body.strip():
            return {}
        try:
            data = json.loads(req.body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, "json_error", "Request body is not valid JSON")
        if not isinstance(data, dict):
            raise ApiError(422, "invalid_input", "request body must be a JSON object",
                           {"fields": []})
        return data

    def _fip_or_404(self, text):
        fid = self._path_id(text)
        fip = self._fips.get(fid)
        if fip is None:
            raise ApiError(404, "not_found", "Floating IP with ID %d not found" % fid)
        return fip

    def _check_unlocked(self, rtype, rid):
        if self._is_locked(rtype, rid):
            what = "floating ip" if rtype == "floating_ip" else rtype
            raise ApiError(423, "locked",
                           "cannot perform operation because %s is locked" % what)

    # JSON shapes ------------------------------------------------------------------

    @staticmethod
    def _location_json(name):
        lid, desc, country, city, lat, lon, zone = LOCATIONS[name]
        return {"id": lid, "name": name, "description": desc, "country": country,
                "city": city, "latitude": lat, "longitude": lon, "network_zone": zone}

    def _fip_json(self, f):
        return {
            "id": f["id"], "name": f["name"], "description": f["description"], "ip": f["ip"],
            "type": f["type"], "server": f["server"], "dns_ptr": copy.deepcopy(f["dns_ptr"]),
            "home_location": self._location_json(f["home_location"]),
            "blocked": f["blocked"], "labels": dict(f["labels"]),
            "protection": dict(f["protection"]), "created": f["created"],
        }

    def _server_json(self, s, now):
        held = sorted(f["id"] for f in self._fips.values() if f["server"] == s["id"])
        return {
            "id": s["id"], "name": s["name"], "status": s["status"], "created": s["created"],
            "public_net": {
                "ipv4": copy.deepcopy(s["ipv4"]), "ipv6": copy.deepcopy(s["ipv6"]),
                "floating_ips": held, "firewalls": [],
            },
            "private_net": copy.deepcopy(s["private_net"]),
            "server_type": {"id": 104, "name": "cx22", "description": "CX22", "cores": 2,
                            "memory": 4.0, "disk": 40, "storage_type": "local",
                            "cpu_type": "shared", "architecture": "x86"},
            "location": self._location_json(s["location"]),
            "image": None, "iso": None, "rescue_enabled": False,
            "locked": self._is_locked("server", s["id"]),
            "backup_window": None, "outgoing_traffic": 0, "ingoing_traffic": 0,
            "included_traffic": 21990232555520,
            "protection": dict(s["protection"]), "labels": dict(s["labels"]),
            "volumes": [], "load_balancers": [], "primary_disk_size": 40,
            "placement_group": None,
        }

    def _action_json(self, a, now):
        return {
            "id": a["id"], "command": a["command"], "status": a["status"],
            "progress": self._progress(a, now), "started": rfc3339(a["started"]),
            "finished": rfc3339(a["finished"]) if a["finished"] is not None else None,
            "resources": [dict(r) for r in a["resources"]],
            "error": dict(a["error"]) if a["error"] else None,
        }

    # handlers: floating IPs ---------------------------------------------------

    def _h_fip_list(self, req, now):
        items = list(self._fips.values())
        name = self._last_param(req, "name")
        if name is not None:
            items = [f for f in items if f["name"] == name]
        match = self._selector(req)
        items = [f for f in items if match(f["labels"])]
        items = self._sort(req, items, {"id": lambda f: f["id"],
                                        "created": lambda f: f["created"]})
        body, headers = self._paginate(req, [self._fip_json(f) for f in items], "floating_ips")
        return 200, body, headers

    def _h_fip_get(self, req, now, fid):
        return 200, {"floating_ip": self._fip_json(self._fip_or_404(fid))}, []

    def _h_fip_put(self, req, now, fid):
        fip = self._fip_or_404(fid)
        data = self._json_object(req)
        if self._knobs["lock_updates"]:
            self._check_unlocked("floating_ip", fip["id"])
        changes = {}
        if "name" in data:
            name = data["name"]
            if not isinstance(name, str) or not name:
                raise invalid_field("name", "must be a non-empty string", 422)
            if any(f["name"] == name and f["id"] != fip["id"] for f in self._fips.values()):
                raise ApiError(409, "uniqueness_error", "name is already used",
                               {"fields": [{"name": "name"}]})
            changes["name"] = name
        if "description" in data:
            if data["description"] is not None and not isinstance(data["description"], str):
                raise invalid_field("description", "must be a string", 422)
            changes["description"] = data["description"]
        if "labels" in data:
            changes["labels"] = validate_labels(data["labels"])
        fip.update(changes)
        return 200, {"floating_ip": self._fip_json(fip)}, []

    def _h_assign(self, req, now, fid):
        fip = self._fip_or_404(fid)
        data = self._json_object(req)
        sid = data.get("server")
        # bool is an int subclass in Python and 1e+15 parses as a float: both are
        # exactly the client bugs this check exists to catch.
        if "server" not in data:
            raise invalid_field("server", "is required", 422)
        if type(sid) is not int or not 1 <= sid <= MAX_ID:
            raise invalid_field("server", "must be an integer ID", 422)
        if sid not in self._servers:
            code = self._knobs["unknown_server_code"]
            details = ({"fields": [{"name": "server", "messages": ["server not found"]}]}
                       if code == "invalid_input" else None)
            raise coded_error(code, "server with ID %d not found" % sid, details)
        self._check_unlocked("floating_ip", fip["id"])
        self._check_unlocked("server", sid)
        if fip["server"] == sid:
            raise ApiError(422, "floating_ip_assigned", "The Floating IP is already assigned")
        if self._knobs["zone_rule"]:
            zone = LOCATIONS[fip["home_location"]][6]
            server_zone = LOCATIONS[self._servers[sid]["location"]][6]
            if zone != server_zone:
                code = self._knobs["zone_rule_code"]
                details = ({"fields": [{"name": "server", "messages": [
                    "server is not in network zone %s" % zone]}]}
                           if code == "invalid_input" else None)
                raise coded_error(code, "Floating IP and server must be in the same "
                                        "network zone", details)
        act = self._new_action("assign_floating_ip",
                               [{"id": sid, "type": "server"},
                                {"id": fip["id"], "type": "floating_ip"}],
                               fip["id"], sid, now)
        return 201, {"action": self._action_json(act, now)}, []

    def _h_unassign(self, req, now, fid):
        fip = self._fip_or_404(fid)
        self._check_unlocked("floating_ip", fip["id"])
        holder = fip["server"]
        if holder is None:
            raise coded_error(self._knobs["unassigned_code"],
                              "Floating IP with ID %d is not assigned to any resource" % fip["id"])
        self._check_unlocked("server", holder)
        act = self._new_action("unassign_floating_ip",
                               [{"id": holder, "type": "server"},
                                {"id": fip["id"], "type": "floating_ip"}],
                               fip["id"], None, now)
        return 201, {"action": self._action_json(act, now)}, []

    def _fip_actions(self):
        return [a for a in self._actions.values()
                if any(r["type"] == "floating_ip" for r in a["resources"])]

    def _action_list(self, req, now, pool, key="actions"):
        keys = {"id": lambda a: a["id"], "command": lambda a: a["command"],
                "status": lambda a: a["status"], "progress": lambda a: self._progress(a, now),
                "started": lambda a: a["started"],
                "finished": lambda a: a["finished"] if a["finished"] is not None else math.inf}
        ids = req.params.get("id")
        items = pool
        if ids is not None:
            wanted = {self._path_id(i, "id") for i in ids}
            items = [a for a in items if a["id"] in wanted]
        items = self._status_filter(req, items, ACTION_STATUSES, lambda a: a["status"])
        items = self._sort(req, items, keys)
        rendered = [self._action_json(a, now) for a in items]
        if ids is not None:
            # Only "actions" is documented for id lookups: do not hand out "meta".
            return 200, {key: rendered}, []
        body, headers = self._paginate(req, rendered, key)
        return 200, body, headers

    def _h_fip_actions_list(self, req, now):
        return self._action_list(req, now, self._fip_actions())

    def _h_fip_action_get(self, req, now, aid):
        aid = self._path_id(aid)
        act = self._actions.get(aid)
        if act is None or act not in self._fip_actions():
            raise ApiError(404, "not_found", "action with ID %d not found" % aid)
        return 200, {"action": self._action_json(act, now)}, []

    def _h_fip_history(self, req, now, fid):
        fip = self._fip_or_404(fid)
        pool = [a for a in self._actions.values()
                if {"id": fip["id"], "type": "floating_ip"} in a["resources"]]
        return self._action_list(req, now, pool)

    def _note_deprecated(self, req, kind):
        self._deprecated.append({"method": req.method, "path": req.path, "kind": kind,
                                 "time": req.t_wall})

    def _h_fip_action_deprecated(self, req, now, fid, aid):
        self._note_deprecated(req, "resource_action_get")
        if self._knobs["deprecated_action_endpoint"] == "gone":
            raise ApiError(410, "deprecated_api_endpoint",
                           "this endpoint is deprecated: use GET /floating_ips/actions/{id}",
                           {"announcement": ANNOUNCE_RESOURCE_ACTION})
        req.warning = ("deprecated endpoint GET /floating_ips/{id}/actions/{action_id} "
                       "(deprecated 2026-04-30): use GET /floating_ips/actions/{id}")
        if self.verbose:
            print("fake-hcloud: warning: %s" % req.warning, file=sys.stderr)
        fip = self._fip_or_404(fid)
        aid = self._path_id(aid, "action_id")
        act = self._actions.get(aid)
        if act is None or {"id": fip["id"], "type": "floating_ip"} not in act["resources"]:
            raise ApiError(404, "not_found", "action with ID %d not found" % aid)
        return 200, {"action": self._action_json(act, now)}, []

    # handlers: servers and actions ---------------------------------------------

    def _h_server_list(self, req, now):
        items = list(self._servers.values())
        name = self._last_param(req, "name")
        if name is not None:
            items = [s for s in items if s["name"] == name]
        match = self._selector(req)
        items = [s for s in items if match(s["labels"])]
        items = self._status_filter(req, items, SERVER_STATUSES, lambda s: s["status"])
        items = self._sort(req, items, {"id": lambda s: s["id"], "name": lambda s: s["name"],
                                        "created": lambda s: s["created"]})
        body, headers = self._paginate(req, [self._server_json(s, now) for s in items],
                                       "servers")
        return 200, body, headers

    def _h_server_get(self, req, now, sid):
        sid = self._path_id(sid)
        srv = self._servers.get(sid)
        if srv is None:
            raise ApiError(404, "not_found", "server with ID %d not found" % sid)
        return 200, {"server": self._server_json(srv, now)}, []

    def _h_actions_list(self, req, now):
        if not req.params.get("id"):
            self._note_deprecated(req, "actions_list_without_id")
            raise ApiError(410, "deprecated_api_endpoint",
                           "listing arbitrary actions was removed: pass one or more id",
                           {"announcement": ANNOUNCE_ACTIONS_LIST})
        return self._action_list(req, now, list(self._actions.values()))

    def _h_action_get(self, req, now, aid):
        aid = self._path_id(aid)
        act = self._actions.get(aid)
        if act is None:
            raise ApiError(404, "not_found", "action with ID %d not found" % aid)
        return 200, {"action": self._action_json(act, now)}, []


# --------------------------------------------------------------------------- HTTP

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, fake, ssl_context):
        self.fake = fake
        self.ssl_context = ssl_context
        self._conns = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, sock, add):
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def close_connections(self):
        # Keep-alive connections outlive serve_forever(); a stopped fake must
        # look down to clients, so cut them.
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for sock in conns:
            try:
                # The plain socket call: SSLSocket.shutdown() would also drop its
                # TLS state under the feet of the thread reading from it.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        # Clients that hang up or reset are normal here (tests do it on purpose).
        if self.fake.verbose:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-hcloud"
    # Idle keep-alive connections are dropped after this, as real servers do.
    timeout = 60

    def setup(self):
        self._tls_failed = False
        ctx = self.server.ssl_context
        if ctx is not None:
            # The handshake runs here, in the connection's thread, so a slow or
            # failing client never blocks accept().
            self.request.settimeout(10)
            try:
                self.request = ctx.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                self._tls_failed = True
                return
        self.server.track(self.request, True)
        super().setup()

    def handle(self):
        if not self._tls_failed:
            super().handle()

    def finish(self):
        if self._tls_failed:
            return
        try:
            super().finish()
        except OSError:
            pass
        self.server.track(self.request, False)
        if self.server.ssl_context is not None:
            try:
                self.request.close()
            except OSError:
                pass

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.fake.verbose:
            sys.stderr.write("fake-hcloud: %s %s\n" % (self.address_string(), fmt % args))

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(65537)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        n = int(length)
        if n < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(n)

    def _send(self, status, body, content_type, headers=(), declared_length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length",
                         str(len(body) if declared_length is None else declared_length))
        self.end_headers()
        self.wfile.write(body)

    def _reset(self):
        """Abort with a TCP RST: SO_LINGER 0 makes close() send RST, not FIN."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = lambda self: self._handle()


class _ApiHandler(_Handler):
    def _handle(self):
        fake = self.server.fake
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(400, b"bad request framing\n", "text/plain")
            return
        req = _Request(self.command, self.path, self.headers, body, self.client_address[0])
        try:
            reply, fault = fake._admit(req)
            if reply is None:
                if fault and fault["kind"] == "slow":
                    time.sleep(fault["delay"])  # outside the lock: others go on
                reply = fake._respond(req, fault)
                reply.fault = fault["kind"] if fault else None
        except Exception:  # a bug in the fake must be loud, not a hung client
            text = traceback.format_exc()
            fake.internal_errors.append(text)
            sys.stderr.write("fake-hcloud: internal error\n%s" % text)
            reply = error_reply(ApiError(500, "server_error", "fake internal error"))
        limit, remaining, reset = req.rate
        headers = [("RateLimit-Limit", str(limit)), ("RateLimit-Remaining", str(remaining)),
                   ("RateLimit-Reset", str(reset)), ("X-Correlation-Id", req.correlation_id)]
        headers.extend(reply.headers)
        # Log before answering, so a test that reads the log right after the
        # response always finds the entry.
        fake._record(req, reply)
        try:
            if reply.special == "reset":
                self._reset()
            elif reply.special == "close":
                self.close_connection = True
            elif reply.special == "raw":
                self.wfile.write(reply.body)
                self.close_connection = True
            elif reply.special == "truncated":
                half = reply.body[: max(1, len(reply.body) // 2)]
                self._send(reply.status, half, reply.content_type, headers,
                           declared_length=len(reply.body))
                self.close_connection = True
            else:
                self._send(reply.status, reply.body, reply.content_type, headers)
        except OSError:
            self.close_connection = True


class _AdminHandler(_Handler):
    def _handle(self):
        fake = self.server.fake
        try:
            body = self._read_body()
            split = urllib.parse.urlsplit(self.path)
            params = urllib.parse.parse_qs(split.query)
            data = json.loads(body.decode() or "{}") if body.strip() else {}
            if not isinstance(data, dict):
                raise AdminError(400, "body must be a JSON object")
            status, obj = self._dispatch(fake, self.command, split.path, params, data)
        except AdminError as e:
            status, obj = e.status, {"error": e.message}
        except (ValueError, TypeError) as e:
            status, obj = 400, {"error": "bad request: %s" % e}
        except Exception:
            text = traceback.format_exc()
            fake.internal_errors.append(text)
            status, obj = 500, {"error": text}
        self._send(status, json_bytes(obj), "application/json")

    @staticmethod
    def _id(text):
        if not _DIGITS_RE.match(text):
            raise AdminError(404, "bad id %r" % text)
        return int(text)

    def _dispatch(self, fake, method, path, params, data):
        if not path.startswith(ADMIN_PREFIX + "/"):
            raise AdminError(404, "unknown admin path")
        parts = path[len(ADMIN_PREFIX) + 1:].split("/")
        route = (method, parts[0], len(parts))

        if route == ("GET", "state", 1):
            return 200, fake.state()
        if route == ("POST", "reset", 1):
            fake.reset()
            return 200, {"ok": True}

        if parts[0] in ("servers", "floating_ips"):
            servers = parts[0] == "servers"
            key = "server" if servers else "floating_ip"
            if len(parts) == 1:
                if method == "GET":
                    st = fake.state()
                    return 200, {parts[0]: st[parts[0]]}
                if method == "POST":
                    add = fake.add_server if servers else fake.add_floating_ip
                    return 201, {key: add(**data)}
            elif len(parts) == 2:
                oid = self._id(parts[1])
                if method == "GET":
                    found = [o for o in fake.state()[parts[0]] if o["id"] == oid]
                    if not found:
                        raise AdminError(404, "%s %d not found" % (key, oid))
                    return 200, {key: found[0]}
                if method == "PATCH":
                    patch = fake.patch_server if servers else fake.patch_floating_ip
                    return 200, {key: patch(oid, **data)}
                if method == "DELETE":
                    (fake.delete_server if servers else fake.delete_floating_ip)(oid)
                    return 200, {"ok": True}
            raise AdminError(404 if len(parts) > 2 else 405, "unsupported admin request")

        if parts[0] == "actions":
            if route == ("GET", "actions", 1):
                return 200, {"actions": fake.actions()}
            if len(parts) == 2 and parts[1] == "next":
                if method == "GET":
                    return 200, {"action_scripts": fake.action_scripts()}
                if method == "POST":
                    return 200, {"action_scripts": fake.script_actions(**data)}
                if method == "DELETE":
                    fake.clear_action_scripts()
                    return 200, {"ok": True}
            if len(parts) == 3 and parts[2] == "finish" and method == "POST":
                return 200, {"action": fake.finish_action(self._id(parts[1]), **data)}
            raise AdminError(404, "unsupported admin request")

        if route == ("GET", "tokens", 1):
            return 200, {"tokens": fake.state()["tokens"]}
        if route == ("POST", "tokens", 1):
            kind = data.get("kind", "rw")
            token = fake.add_token(kind, data.get("token"))
            return 201, {"token": token, "kind": kind, "fingerprint": token_fingerprint(token)}
        if route == ("POST", "tokens", 2) and parts[1] == "revoke":
            fake.revoke_token(data.get("token"))
            return 200, {"ok": True}

        if route == ("GET", "ratelimit", 1):
            return 200, fake.rate_limit()
        if route == ("POST", "ratelimit", 1):
            return 200, fake.set_rate_limit(**data)

        if route == ("GET", "competitor", 1):
            return 200, fake.competitor()
        if route == ("POST", "competitor", 1):
            return 200, fake.set_competitor(**data)

        if route == ("GET", "faults", 1):
            return 200, {"faults": fake.faults()}
        if route == ("POST", "faults", 1):
            return 201, {"fault": fake.add_fault(**data)}
        if route == ("DELETE", "faults", 1):
            fake.clear_faults()
            return 200, {"ok": True}

        if route == ("GET", "requests", 1):
            since = int(params.get("since", ["0"])[-1])
            return 200, {"requests": fake.requests(since)}
        if route == ("DELETE", "requests", 1):
            fake.clear_requests()
            return 200, {"ok": True}

        if route == ("GET", "clock", 1):
            return 200, fake.clock()
        if route == ("POST", "clock", 1):
            if "advance" in data:
                return 200, fake.advance_clock(data["advance"])
            if "offset" in data:
                return 200, fake.set_clock_offset(data["offset"])
            raise AdminError(400, "clock takes advance or offset")

        if route == ("GET", "knobs", 1):
            return 200, fake.knobs()
        if route == ("POST", "knobs", 1):
            return 200, fake.set_knobs(**data)

        if route == ("GET", "deprecated", 1):
            return 200, fake.deprecated_calls()

        raise AdminError(404, "unknown admin path %s %s" % (method, path))


# --------------------------------------------------------------------------- CLI

def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _follow_assignments(fake, command, stop):
    """--on-assign: run command for each Floating IP whose server changed."""
    seen = {}
    while not stop.wait(0.02):
        with fake._lock:
            fake._settle(fake.now())
            now = {}
            for f in fake._fips.values():
                srv = fake._servers.get(f["server"])
                ipv4 = srv["ipv4"]["ip"] if srv and srv["ipv4"] else ""
                now[f["ip"]] = ("" if f["server"] is None else str(f["server"]), ipv4)
        for ip, where in sorted(now.items()):
            if seen.get(ip) != where:
                subprocess.run(command + [ip, where[0], where[1]], stdin=subprocess.DEVNULL,
                               timeout=10, check=False)
        seen = now


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake Hetzner Cloud API for tests.")
    parser.add_argument("--dir", required=True, help="directory for endpoint, token, ...")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    parser.add_argument("--action-seconds", type=float, default=1.0,
                        help="how long an action runs by default (default 1.0)")
    parser.add_argument("--rate-limit", type=int, default=3600,
                        help="token bucket capacity per hour (default 3600)")
    parser.add_argument("--port", type=int, default=0, help="API port (default: any)")
    parser.add_argument("--admin-port", type=int, default=0, help="admin port (default: any)")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    parser.add_argument("--on-assign", metavar="CMD",
                        help="run CMD IP SERVER_ID SERVER_IPV4 when a Floating IP moves")
    args = parser.parse_args(argv)
    os.makedirs(args.dir, exist_ok=True)
    ready = os.path.join(args.dir, "ready")
    # A ready file left by an earlier run must not fool whoever waits for this
    # one, even when this one fails to start.
    if os.path.exists(ready):
        os.unlink(ready)
    if args.action_seconds < 0 or args.rate_limit < 1:
        parser.error("--action-seconds must be >= 0 and --rate-limit >= 1")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    fake = FakeHcloud(tls=args.tls, action_seconds=args.action_seconds,
                      rate_limit=args.rate_limit, port=args.port,
                      admin_port=args.admin_port, verbose=args.verbose).start()
    try:
        if args.tls:
            with open(fake.ca_file) as f:
                _write_atomic(os.path.join(args.dir, "ca.pem"), f.read())
        _write_atomic(os.path.join(args.dir, "endpoint"), fake.endpoint)
        _write_atomic(os.path.join(args.dir, "token"), fake.token)
        _write_atomic(os.path.join(args.dir, "admin-url"), fake.admin_url)
        if args.on_assign:
            threading.Thread(target=_follow_assignments, daemon=True,
                             args=(fake, shlex.split(args.on_assign), stop)).start()
        _write_atomic(ready, "%d\n" % os.getpid())
        if args.verbose:
            print("fake-hcloud: serving %s (admin %s)" % (fake.endpoint, fake.admin_url),
                  file=sys.stderr)
        while not stop.wait(0.2):
            pass
    finally:
        try:
            os.unlink(ready)
        except OSError:
            pass
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
