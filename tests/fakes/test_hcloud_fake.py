#!/usr/bin/env python3
"""Tests for the fake Hetzner Cloud API (tests/fakes/hcloud.py).

The fake stands in for the live API in every hcloud-worker test, so its own
rules are tested here from the outside, over loopback HTTP(S), the way a
client sees them. Each TestCase class runs one fake (setUpClass) and resets it
through the admin API before every test. Standard library only.

    python3 tests/fakes/test_hcloud_fake.py -v
"""

import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hcloud import FakeHcloud  # noqa: E402  (path set up just above)

NODE_A, NODE_B, NODE_C, NODE_ROUND = 2**40 + 1, 2**40 + 2, 2**40 + 3, 10**15
FIP_V4, FIP_V4_B, FIP_V6 = 2**40 + 101, 2**40 + 102, 2**40 + 103
FIP_KEYS = {"id", "name", "description", "ip", "type", "server", "dns_ptr", "home_location",
            "blocked", "labels", "protection", "created"}
LOCATION_KEYS = {"id", "name", "description", "country", "city", "latitude", "longitude",
                 "network_zone"}
ACTION_KEYS = {"id", "command", "status", "progress", "started", "finished", "resources",
               "error"}
PAGINATION_KEYS = {"page", "per_page", "previous_page", "next_page", "last_page",
                   "total_entries"}
DEFAULT = object()


class Resp:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.json = json.loads(raw)
        except ValueError:
            self.json = None

    @property
    def code(self):
        return (self.json or {}).get("error", {}).get("code")

    def __repr__(self):
        return "<Resp %s %r>" % (self.status, self.raw[:300])


class FakeTestCase(unittest.TestCase):
    """One fake per class; a fresh state for every test."""

    fake_options = {"action_seconds": 0.3}

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeHcloud(**cls.fake_options).start()
        cls.endpoint = urllib.parse.urlsplit(cls.fake.endpoint)

    @classmethod
    def tearDownClass(cls):
        cls.fake.stop()

    def setUp(self):
        self.assertEqual(self.admin("POST", "/reset"), (200, {"ok": True}))

    def tearDown(self):
        # A bug inside the fake answers 500 and is recorded; never let it pass.
        self.assertEqual(self.fake.internal_errors, [])

    # -- helpers -----------------------------------------------------------

    def connection(self, timeout=5):
        if self.endpoint.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.fake.ca_file)
            return http.client.HTTPSConnection(self.endpoint.hostname, self.endpoint.port,
                                               timeout=timeout, context=ctx)
        return http.client.HTTPConnection(self.endpoint.hostname, self.endpoint.port,
                                          timeout=timeout)

    def api(self, method, path, body=None, token=DEFAULT, headers=None, raw=None, conn=None,
            timeout=5):
        """One API request; path is relative to /v1. Returns a Resp."""
        hdrs = {"Accept": "application/json", "User-Agent": "fake-tests/1"}
        if token is DEFAULT:
            token = self.fake.token
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        hdrs = {k: v for k, v in hdrs.items() if v is not None}
        own = conn is None
        conn = conn or self.connection(timeout)
        try:
            conn.request(method, self.endpoint.path + path, body=data, headers=hdrs)
            r = conn.getresponse()
            return Resp(r.status, r.headers, r.read())
        finally:
            if own:
                conn.close()

    def admin(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.fake.admin_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def assertError(self, resp, status, code):
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(set(resp.json), {"error"}, resp)
        self.assertEqual(set(resp.json["error"]), {"code", "message", "details"}, resp)
        self.assertEqual(resp.code, code, resp)
        self.assertIsInstance(resp.json["error"]["message"], str)

    def assertRateHeaders(self, resp):
        for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
            self.assertRegex(resp.headers.get(name) or "", r"^[0-9]+$", name)
        self.assertRegex(resp.headers.get("X-Correlation-Id") or "", r"^[0-9a-f]{32}$")

    def fip(self, fip_id=FIP_V4):
        r = self.api("GET", "/floating_ips/%d" % fip_id)
        self.assertEqual(r.status, 200, r)
        return r.json["floating_ip"]

    def server(self, server_id):
        r = self.api("GET", "/servers/%d" % server_id)
        self.assertEqual(r.status, 200, r)
        return r.json["server"]

    def assign(self, server_id, fip_id=FIP_V4, **kw):
        return self.api("POST", "/floating_ips/%d/actions/assign" % fip_id,
                        {"server": server_id}, **kw)

    def wait_action(self, action_id, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            r = self.api("GET", "/actions/%d" % action_id)
            self.assertEqual(r.status, 200, r)
            if r.json["action"]["status"] != "running" or time.monotonic() > deadline:
                return r.json["action"]
            time.sleep(0.05)

    def assign_done(self, server_id, fip_id=FIP_V4):
        """Assign and let the action finish by moving the fake clock."""
        r = self.assign(server_id, fip_id)
        self.assertEqual(r.status, 201, r)
        self.admin("POST", "/clock", {"advance": 3600})
        act = self.wait_action(r.json["action"]["id"])
        self.assertEqual(act["status"], "success", act)
        return act

    def names(self, resp, key="floating_ips"):
        self.assertEqual(resp.status, 200, resp)
        return [o["name"] for o in resp.json[key]]


class ReadTests(FakeTestCase):
    def test_get_by_name_returns_the_full_object(self):
        r = self.api("GET", "/floating_ips?name=egress-v4")
        self.assertEqual(r.status, 200, r)
        self.assertRateHeaders(r)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        (fip,) = r.json["floating_ips"]
        self.assertEqual(set(fip), FIP_KEYS)
        self.assertEqual(set(fip["home_location"]), LOCATION_KEYS)
        self.assertEqual(fip["id"], FIP_V4)
        self.assertGreater(fip["id"], 2**32)
        self.assertEqual((fip["name"], fip["ip"], fip["type"], fip["server"]),
                         ("egress-v4", "203.0.113.10", "ipv4", None))
        self.assertEqual(fip["home_location"]["name"], "fsn1")
        self.assertEqual(fip["home_location"]["network_zone"], "eu-central")
        self.assertIsInstance(fip["blocked"], bool)
        self.assertEqual(set(fip["protection"]), {"delete"})
        self.assertRegex(fip["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\+00:00|Z)$")
        self.assertEqual(set(r.json["meta"]["pagination"]), PAGINATION_KEYS)
        self.assertIn('rel="last"', r.headers["Link"])

    def test_absent_name_is_200_with_empty_list(self):
        r = self.api("GET", "/floating_ips?name=no-such-ip")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["floating_ips"], [])
        self.assertEqual(r.json["meta"]["pagination"]["total_entries"], 0)

    def test_name_is_exact(self):
        self.assertEqual(self.names(self.api("GET", "/floating_ips?name=egress")), [])
        self.assertEqual(self.names(self.api("GET", "/floating_ips?name=egress-v4-b")),
                         ["egress-v4-b"])

    def test_get_by_id_and_errors(self):
        self.assertEqual(self.fip(FIP_V4_B)["ip"], "203.0.113.11")
        self.assertError(self.api("GET", "/floating_ips/%d" % (FIP_V4 + 999)), 404, "not_found")
        self.assertError(self.api("GET", "/floating_ips/abc"), 400, "invalid_input")
        self.assertError(self.api("GET", "/floating_ips/1e+15"), 400, "invalid_input")

    def test_ipv6_floating_ip_is_a_64_network(self):
        fip = self.fip(FIP_V6)
        self.assertEqual((fip["type"], fip["ip"]), ("ipv6", "2001:db8:1:2::/64"))

    def test_put_updates_labels_and_description(self):
        r = self.api("PUT", "/floating_ips/%d" % FIP_V4,
                     {"labels": {"team": "egress"}, "description": "primary"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["floating_ip"]["labels"], {"team": "egress"})
        self.assertEqual(self.fip()["description"], "primary")
        self.assertError(self.api("PUT", "/floating_ips/%d" % FIP_V4, {"labels": {"a": 1}}),
                         422, "invalid_input")
        self.assertError(self.api("PUT", "/floating_ips/%d" % FIP_V4, {"labels": {"b c": "x"}}),
                         422, "invalid_input")
        self.assertError(self.api("PUT", "/floating_ips/%d" % FIP_V4, {"name": "egress-v6"}),
                         409, "uniqueness_error")
        self.assertError(self.api("PUT", "/floating_ips/%d" % FIP_V4, raw=b"{oops"),
                         400, "json_error")

    def test_server_shape(self):
        srv = self.server(NODE_A)
        for key in ("id", "name", "status", "public_net", "private_net", "location", "locked",
                    "labels", "created", "protection"):
            self.assertIn(key, srv)
        self.assertNotIn("datacenter", srv)  # removed from the API on 2026-07-01
        self.assertEqual((srv["name"], srv["status"], srv["locked"]), ("node-a", "running", False))
        self.assertEqual(set(srv["location"]), LOCATION_KEYS)
        self.assertEqual(srv["location"]["network_zone"], "eu-central")
        self.assertEqual(set(srv["public_net"]), {"ipv4", "ipv6", "floating_ips", "firewalls"})
        self.assertEqual(set(srv["public_net"]["ipv4"]), {"id", "ip", "blocked", "dns_ptr"})
        self.assertEqual(srv["public_net"]["floating_ips"], [])
        self.assertEqual(set(srv["private_net"][0]), {"network", "ip", "alias_ips", "mac_address"})
        self.assertError(self.api("GET", "/servers/%d" % (NODE_A + 999)), 404, "not_found")

    def test_round_server_id_is_printed_as_an_integer(self):
        r = self.api("GET", "/servers/1000000000000000")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b'"id":1000000000000000,', r.raw)
        self.assertEqual(r.json["server"]["name"], "node-round")
        self.assertError(self.api("GET", "/servers/1e%2B15"), 400, "invalid_input")

    def test_servers_list_filters(self):
        self.assertEqual(self.names(self.api("GET", "/servers?name=node-b"), "servers"),
                         ["node-b"])
        self.assertEqual(self.names(self.api("GET", "/servers?name=nope"), "servers"), [])
        self.fake.patch_server(NODE_C, status="off", labels={"pool": "egress"})
        self.assertEqual(self.names(self.api("GET", "/servers?status=off"), "servers"),
                         ["node-c"])
        self.assertEqual(self.names(self.api("GET", "/servers?label_selector=pool"), "servers"),
                         ["node-c"])
        self.assertEqual(self.names(self.api("GET", "/servers?sort=name:desc"), "servers"),
                         ["node-round", "node-c", "node-b", "node-a"])
        self.assertError(self.api("GET", "/servers?status=sleeping"), 400, "invalid_input")

    def test_pagination_meta_and_link(self):
        for i in range(57):
            self.fake.add_floating_ip(name="extra-%02d" % i)
        r1 = self.api("GET", "/floating_ips")
        self.assertEqual(len(r1.json["floating_ips"]), 25)
        self.assertEqual(r1.json["meta"]["pagination"], {
            "page": 1, "per_page": 25, "previous_page": None, "next_page": 2,
            "last_page": 3, "total_entries": 60})
        link = r1.headers["Link"]
        self.assertIn("page=2&per_page=25>; rel=\"next\"", link)
        self.assertIn("page=3&per_page=25>; rel=\"last\"", link)
        self.assertNotIn('rel="prev"', link)

        r2 = self.api("GET", "/floating_ips?page=2")
        p = r2.json["meta"]["pagination"]
        self.assertEqual((p["previous_page"], p["next_page"]), (1, 3))
        self.assertIn('rel="prev"', r2.headers["Link"])
        # The Link URLs are usable as they are.
        next_url = re.search(r'<([^>]+)>; rel="next"', r2.headers["Link"]).group(1)
        self.assertTrue(next_url.startswith(self.fake.endpoint + "/floating_ips?"))
        r3 = self.api("GET", next_url[len(self.fake.endpoint):])
        self.assertEqual(len(r3.json["floating_ips"]), 10)
        self.assertIsNone(r3.json["meta"]["pagination"]["next_page"])

        seen = [f["id"] for r in (r1, r2, r3) for f in r.json["floating_ips"]]
        self.assertEqual(len(set(seen)), 60)
        self.assertEqual(seen, sorted(seen))

        r50 = self.api("GET", "/floating_ips?per_page=50&label_selector=!stable-egress")
        self.assertEqual(r50.json["meta"]["pagination"]["total_entries"], 57)
        self.assertEqual(r50.json["meta"]["pagination"]["last_page"], 2)
        self.assertIn("label_selector=%21stable-egress", r50.headers["Link"])
        beyond = self.api("GET", "/floating_ips?page=9")
        self.assertEqual(beyond.json["floating_ips"], [])
        self.assertIsNone(beyond.json["meta"]["pagination"]["next_page"])

    def test_bad_pagination_parameters(self):
        for query in ("per_page=51", "per_page=0", "per_page=x", "page=0", "page=-1",
                      "page=1.5"):
            r = self.api("GET", "/floating_ips?" + query)
            self.assertError(r, 400, "invalid_input")
            self.assertEqual(r.json["error"]["details"]["fields"][0]["name"],
                             query.split("=")[0])

    def test_sort(self):
        r = self.api("GET", "/floating_ips?sort=id:desc")
        self.assertEqual([f["id"] for f in r.json["floating_ips"]], [FIP_V6, FIP_V4_B, FIP_V4])
        r = self.api("GET", "/floating_ips?sort=created:asc")
        self.assertEqual([f["id"] for f in r.json["floating_ips"]], [FIP_V4, FIP_V4_B, FIP_V6])
        self.assertError(self.api("GET", "/floating_ips?sort=name"), 400, "invalid_input")
        self.assertError(self.api("GET", "/floating_ips?sort=id:up"), 400, "invalid_input")

    def test_label_selector_forms(self):
        self.fake.patch_floating_ip(FIP_V4, labels={"stable-egress": "true", "role": "primary",
                                                    "zone": "fsn1"})
        self.fake.patch_floating_ip(FIP_V4_B, labels={"stable-egress": "true",
                                                      "role": "additional"})
        self.fake.patch_floating_ip(FIP_V6, labels={"stable-egress": "true", "family": "v6",
                                                    "example.com/owner": "ops"})
        cases = {
            "role=primary": ["egress-v4"],
            "role==primary": ["egress-v4"],
            "role!=primary": ["egress-v4-b", "egress-v6"],
            "family": ["egress-v6"],
            "!family": ["egress-v4", "egress-v4-b"],
            "role in (primary,additional)": ["egress-v4", "egress-v4-b"],
            "role in (primary, additional),!zone": ["egress-v4-b"],
            "role notin (primary)": ["egress-v4-b", "egress-v6"],
            "stable-egress=true,role=additional": ["egress-v4-b"],
            "example.com/owner=ops": ["egress-v6"],
            "role=nothing": [],
        }
        for selector, want in cases.items():
            r = self.api("GET", "/floating_ips?label_selector=" + urllib.parse.quote(selector))
            self.assertEqual(self.names(r), want, selector)
        for bad in ("role in (a", "=v", "!", "a,,b", "x=y=z", "role in ()", "bad key!=1",
                    "role=in valid", "a)"):
            r = self.api("GET", "/floating_ips?label_selector=" + urllib.parse.quote(bad))
            self.assertError(r, 400, "invalid_input")

    def test_unknown_path_and_wrong_method(self):
        self.assertError(self.api("GET", "/nope"), 404, "not_found")
        self.assertError(self.api("GET", "/floating_ips/"), 404, "not_found")
        self.assertError(self.api("DELETE", "/floating_ips/%d" % FIP_V4), 405,
                         "method_not_allowed")
        self.assertError(self.api("GET", "/floating_ips/%d/actions/assign" % FIP_V4), 405,
                         "method_not_allowed")
        self.assertError(self.api("POST", "/servers/%d" % NODE_A, {}), 405, "method_not_allowed")
        conn = self.connection()
        try:
            conn.request("GET", "/v2/floating_ips",
                         headers={"Authorization": "Bearer " + self.fake.token})
            r = conn.getresponse()
            self.assertEqual((r.status, json.loads(r.read())["error"]["code"]),
                             (404, "not_found"))
        finally:
            conn.close()

    def test_keep_alive(self):
        conn = self.connection()
        try:
            first = None
            for _ in range(3):
                r = self.api("GET", "/floating_ips/%d" % FIP_V4, conn=conn)
                self.assertEqual(r.status, 200)
                first = first or conn.sock
                self.assertIs(conn.sock, first)  # same TCP connection every time
        finally:
            conn.close()

    def test_every_response_carries_rate_and_correlation_headers(self):
        responses = [
            self.api("GET", "/floating_ips"),
            self.api("GET", "/nope"),
            self.api("DELETE", "/floating_ips/1"),
            self.api("GET", "/floating_ips", token="wrong"),
            self.assign(NODE_A),
            self.api("GET", "/actions"),
        ]
        ids = set()
        for r in responses:
            self.assertRateHeaders(r)
            ids.add(r.headers["X-Correlation-Id"])
        self.assertEqual(len(ids), len(responses))


class ActionTests(FakeTestCase):
    def test_assign_runs_then_succeeds(self):
        r = self.assign(NODE_B)
        self.assertEqual(r.status, 201, r)
        act = r.json["action"]
        self.assertEqual(set(act), ACTION_KEYS)
        self.assertEqual((act["command"], act["status"], act["progress"], act["finished"],
                          act["error"]), ("assign_floating_ip", "running", 0, None, None))
        self.assertEqual(act["resources"], [{"id": NODE_B, "type": "server"},
                                            {"id": FIP_V4, "type": "floating_ip"}])
        # The first action has the round id 10^15: printing it with %g gives 1e+15.
        self.assertEqual(act["id"], 10**15)
        self.assertIn(b'"id":1000000000000000,', r.raw)

        # Running: nothing moved yet, the target server is locked.
        self.assertIsNone(self.fip()["server"])
        srv = self.server(NODE_B)
        self.assertTrue(srv["locked"])
        self.assertEqual(srv["public_net"]["floating_ips"], [])

        done = self.wait_action(act["id"])  # real time: action_seconds is 0.3
        self.assertEqual((done["status"], done["progress"], done["error"]), ("success", 100, None))
        self.assertIsNotNone(done["finished"])
        self.assertGreaterEqual(done["finished"], done["started"])
        self.assertEqual(self.fip()["server"], NODE_B)
        srv = self.server(NODE_B)
        self.assertEqual(srv["public_net"]["floating_ips"], [FIP_V4])
        self.assertFalse(srv["locked"])

    def test_reassign_moves_between_servers(self):
        self.assign_done(NODE_A)
        self.assign_done(NODE_B)  # A -> B directly, no unassign
        self.assertEqual(self.fip()["server"], NODE_B)
        self.assertEqual(self.server(NODE_A)["public_net"]["floating_ips"], [])
        self.assertEqual(self.server(NODE_B)["public_net"]["floating_ips"], [FIP_V4])

    def test_progress_and_scripted_delay_on_the_fake_clock(self):
        self.admin("POST", "/actions/next", {"delay": 1000})
        r = self.assign(NODE_A)
        aid = r.json["action"]["id"]
        time.sleep(0.4)  # longer than the default action time: the script wins
        self.assertEqual(self.wait_action(aid, timeout=0)["status"], "running")
        self.admin("POST", "/clock", {"advance": 500})
        act = self.api("GET", "/actions/%d" % aid).json["action"]
        self.assertEqual(act["status"], "running")
        self.assertTrue(45 <= act["progress"] <= 55, act)
        self.admin("POST", "/clock", {"advance": 500})
        self.assertEqual(self.wait_action(aid, timeout=0)["status"], "success")

    def test_action_error_leaves_state_unchanged(self):
        self.assign_done(NODE_A)
        status, body = self.admin("POST", "/actions/next",
                                  {"outcome": "error", "message": "no capacity"})
        self.assertEqual(status, 200, body)
        r = self.assign(NODE_B)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["action"]["status"], "running")
        act = self.wait_action(r.json["action"]["id"])
        self.assertEqual(act["status"], "error")
        self.assertEqual(act["error"], {"code": "action_failed", "message": "no capacity"})
        self.assertEqual(self.fip()["server"], NODE_A)
        self.assertEqual(self.server(NODE_A)["public_net"]["floating_ips"], [FIP_V4])
        self.assertEqual(self.server(NODE_B)["public_net"]["floating_ips"], [])
        # The script was used up: the next assign succeeds again.
        self.assign_done(NODE_B)

    def test_locked_while_an_action_runs(self):
        self.admin("POST", "/actions/next", {"outcome": "never"})
        r = self.assign(NODE_A)
        aid = r.json["action"]["id"]
        self.admin("POST", "/clock", {"advance": 10**6})
        self.assertEqual(self.wait_action(aid, timeout=0)["status"], "running")

        self.assertError(self.assign(NODE_B), 423, "locked")            # same FIP
        self.assertError(self.assign(NODE_A, FIP_V4_B), 423, "locked")  # same server
        self.assertError(self.api("PUT", "/floating_ips/%d" % FIP_V4, {"labels": {}}),
                         423, "locked")
        self.assertError(self.api("POST", "/floating_ips/%d/actions/unassign" % FIP_V4),
                         423, "locked")
        self.assertEqual(self.api("GET", "/floating_ips/%d" % FIP_V4).status, 200)
        self.assertEqual(self.assign(NODE_B, FIP_V4_B).status, 201)  # untouched: fine

        status, body = self.admin("POST", "/actions/%d/finish" % aid, {"outcome": "success"})
        self.assertEqual((status, body["action"]["status"]), (200, "success"))
        self.assertEqual(self.fip()["server"], NODE_A)
        self.assertEqual(self.assign(NODE_C).status, 201)

    def test_lock_updates_knob(self):
        self.admin("POST", "/knobs", {"lock_updates": False})
        self.admin("POST", "/actions/next", {"outcome": "never"})
        self.assign(NODE_A)
        self.assertEqual(self.api("PUT", "/floating_ips/%d" % FIP_V4, {"labels": {}}).status, 200)

    def test_floating_ip_assigned_on_the_current_holder(self):
        self.assign_done(NODE_A)
        self.assertError(self.assign(NODE_A), 422, "floating_ip_assigned")

    def test_unknown_server(self):
        r = self.assign(NODE_A + 999)
        self.assertError(r, 422, "invalid_input")
        self.assertEqual(r.json["error"]["details"]["fields"][0]["name"], "server")
        self.admin("POST", "/knobs", {"unknown_server_code": "not_found"})
        self.assertError(self.assign(NODE_A + 999), 404, "not_found")
        self.assertError(self.assign(NODE_A, FIP_V4 + 999), 404, "not_found")

    def test_body_validation(self):
        path = "/floating_ips/%d/actions/assign" % FIP_V4
        self.assertError(self.api("POST", path, raw=b"not json"), 400, "json_error")
        self.assertError(self.api("POST", path, raw=b'{"server": NaN}'), 400, "json_error")
        for raw in (b"[1]", b"{}", b'{"server":"1099511627777"}', b'{"server":true}',
                    b'{"server":1e+15}', b'{"server":1000000000000000.0}',
                    b'{"server":-1}', b'{"server":null}', b""):
            r = self.api("POST", path, raw=raw)
            self.assertError(r, 422, "invalid_input")
        self.assertEqual(r.json["error"]["details"]["fields"][0]["name"], "server")
        # The exact integer form of the round id is fine.
        r = self.api("POST", path, raw=b'{"server":1000000000000000}')
        self.assertEqual(r.status, 201, r)
        # A missing Content-Type is tolerated.
        r = self.api("POST", "/floating_ips/%d/actions/assign" % FIP_V4_B,
                     raw=b'{"server":%d}' % NODE_A, headers={"Content-Type": None})
        self.assertEqual(r.status, 201, r)
        log = self.admin("GET", "/requests")[1]["requests"]
        self.assertIsNone(log[-1]["content_type"])
        # A chunked request body is read like any other.
        conn = self.connection()
        try:
            conn.request("POST", "/v1/floating_ips/%d/actions/assign" % FIP_V6,
                         body=iter([b'{"server":', b'%d}' % NODE_C]), encode_chunked=True,
                         headers={"Authorization": "Bearer " + self.fake.token,
                                  "Content-Type": "application/json"})
            self.assertEqual(conn.getresponse().status, 201)
        finally:
            conn.close()

    def test_unassign(self):
        r = self.api("POST", "/floating_ips/%d/actions/unassign" % FIP_V4)
        self.assertError(r, 422, "service_error")
        self.admin("POST", "/knobs", {"unassigned_code": "invalid_input"})
        self.assertError(self.api("POST", "/floating_ips/%d/actions/unassign" % FIP_V4),
                         422, "invalid_input")
        self.assign_done(NODE_A)
        r = self.api("POST", "/floating_ips/%d/actions/unassign" % FIP_V4)
        self.assertEqual(r.status, 201, r)
        act = r.json["action"]
        self.assertEqual((act["command"], act["status"]), ("unassign_floating_ip", "running"))
        self.assertEqual(self.wait_action(act["id"])["status"], "success")
        self.assertIsNone(self.fip()["server"])
        self.assertEqual(self.server(NODE_A)["public_net"]["floating_ips"], [])

    def test_zone_rule_knob(self):
        ash = self.fake.add_server(name="node-ash", location="ash")["id"]
        nbg = self.fake.add_server(name="node-nbg", location="nbg1")["id"]
        self.assign_done(ash)  # off by default
        self.admin("POST", "/knobs", {"zone_rule": True})
        self.assertError(self.assign(ash, FIP_V4_B), 422, "invalid_input")
        self.admin("POST", "/knobs", {"zone_rule_code": "unsupported_error"})
        self.assertError(self.assign(ash, FIP_V4_B), 422, "unsupported_error")
        self.assertEqual(self.assign(nbg, FIP_V4_B).status, 201)  # same zone

    def test_action_read_endpoints(self):
        aid = self.assign(NODE_A).json["action"]["id"]
        other = self.assign(NODE_B, FIP_V4_B).json["action"]["id"]

        r = self.api("GET", "/actions/%d" % aid)
        self.assertEqual((r.status, r.json["action"]["id"]), (200, aid))
        r = self.api("GET", "/actions?id=%d&id=%d&id=%d&sort=status&sort=id"
                     % (aid, other, aid + 999))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"actions"})  # no meta on id lookups
        self.assertEqual([a["id"] for a in r.json["actions"]], [aid, other])
        r = self.api("GET", "/actions?id=%d&status=success" % aid)
        self.assertEqual(r.json["actions"], [])
        self.assertError(self.api("GET", "/actions?id=abc"), 400, "invalid_input")
        self.assertError(self.api("GET", "/actions?id=%d&sort=colour" % aid), 400,
                         "invalid_input")
        self.assertError(self.api("GET", "/actions/%d" % (aid + 999)), 404, "not_found")
        self.assertError(self.api("GET", "/actions/1e+15"), 400, "invalid_input")

        r = self.api("GET", "/floating_ips/actions/%d" % aid)
        self.assertEqual(r.json["action"]["id"], aid)
        r = self.api("GET", "/floating_ips/actions?id=%d" % other)
        self.assertEqual([a["id"] for a in r.json["actions"]], [other])
        r = self.api("GET", "/floating_ips/actions")
        self.assertEqual(r.json["meta"]["pagination"]["total_entries"], 2)

        r = self.api("GET", "/floating_ips/%d/actions" % FIP_V4)
        self.assertEqual([a["id"] for a in r.json["actions"]], [aid])
        self.assertEqual(set(r.json["meta"]["pagination"]), PAGINATION_KEYS)
        r = self.api("GET", "/floating_ips/%d/actions" % FIP_V6)
        self.assertEqual(r.json["actions"], [])

    def test_action_ids_are_configurable(self):
        self.admin("POST", "/knobs", {"next_action_id": 2**40 + 7})
        self.assertEqual(self.assign(NODE_A).json["action"]["id"], 2**40 + 7)
        self.admin("POST", "/actions/next", {"id": 10**15 + 42})
        # Different servers each time: a running assign locks its target server.
        self.assertEqual(self.assign(NODE_B, FIP_V4_B).json["action"]["id"], 10**15 + 42)
        self.assertEqual(self.assign(NODE_C, FIP_V6).json["action"]["id"], 2**40 + 8)

    def test_actions_list_without_id_is_gone(self):
        r = self.api("GET", "/actions")
        self.assertError(r, 410, "deprecated_api_endpoint")
        self.assertTrue(r.json["error"]["details"]["announcement"].startswith(
            "https://docs.hetzner.cloud/changelog#"))
        self.assertEqual(self.admin("GET", "/deprecated")[1]["count"], 1)

    def test_deprecated_resource_action_endpoint(self):
        aid = self.assign(NODE_A).json["action"]["id"]
        self.api("GET", "/floating_ips/actions/%d" % aid)
        self.assertEqual(self.admin("GET", "/deprecated")[1]["count"], 0)

        r = self.api("GET", "/floating_ips/%d/actions/%d" % (FIP_V4, aid))
        self.assertEqual((r.status, r.json["action"]["id"]), (200, aid))
        dep = self.admin("GET", "/deprecated")[1]
        self.assertEqual(dep["count"], 1)
        self.assertEqual(dep["calls"][0]["path"], "/v1/floating_ips/%d/actions/%d"
                         % (FIP_V4, aid))
        self.assertIn("deprecated", self.fake.requests()[-1]["warning"])
        self.assertError(self.api("GET", "/floating_ips/%d/actions/%d" % (FIP_V4_B, aid)),
                         404, "not_found")

        self.admin("POST", "/knobs", {"deprecated_action_endpoint": "gone"})
        r = self.api("GET", "/floating_ips/%d/actions/%d" % (FIP_V4, aid))
        self.assertError(r, 410, "deprecated_api_endpoint")
        self.assertIn("announcement", r.json["error"]["details"])
        self.assertEqual(self.admin("GET", "/state")[1]["deprecated_calls"], 3)

    def test_action_on_a_deleted_server_fails(self):
        srv = self.fake.add_server(name="short-lived")["id"]
        self.admin("POST", "/actions/next", {"delay": 100})
        aid = self.assign(srv).json["action"]["id"]
        self.assertEqual(self.admin("DELETE", "/servers/%d" % srv)[0], 200)
        self.admin("POST", "/clock", {"advance": 100})
        self.assertEqual(self.wait_action(aid, timeout=0)["status"], "error")
        self.assertIsNone(self.fip()["server"])


class AuthAndRateLimitTests(FakeTestCase):
    def test_missing_or_unknown_token(self):
        for token, extra in ((None, {}), ("x" * 64, {}), ("", {}),
                             (None, {"Authorization": "Basic " + self.fake.token})):
            r = self.api("GET", "/floating_ips", token=token, headers=extra)
            self.assertError(r, 401, "unauthorized")
            self.assertEqual(r.json["error"]["message"], "unable to authenticate")
            self.assertRateHeaders(r)

    def test_readonly_token(self):
        status, body = self.admin("POST", "/tokens", {"kind": "ro"})
        self.assertEqual(status, 201, body)
        ro = body["token"]
        self.assertEqual(len(ro), 64)
        self.assertEqual(self.api("GET", "/floating_ips", token=ro).status, 200)
        self.assertError(self.assign(NODE_A, token=ro), 401, "token_readonly")
        self.assertError(self.api("PUT", "/floating_ips/%d" % FIP_V4, {}, token=ro),
                         401, "token_readonly")
        self.assertIsNone(self.fip()["server"])

    def test_forbidden_token(self):
        token = self.admin("POST", "/tokens", {"kind": "forbidden", "token": "f" * 64})[1]["token"]
        self.assertError(self.api("GET", "/floating_ips", token=token), 403, "forbidden")
        self.assertError(self.assign(NODE_A, token=token), 403, "forbidden")

    def test_revoked_token(self):
        token = self.fake.add_token("rw")
        self.assertEqual(self.api("GET", "/servers", token=token).status, 200)
        self.assertEqual(self.admin("POST", "/tokens/revoke", {"token": token})[0], 200)
        self.assertError(self.api("GET", "/servers", token=token), 401, "unauthorized")
        tokens = self.admin("GET", "/tokens")[1]["tokens"]
        self.assertNotIn(self.fake.token, json.dumps(tokens))

    def test_default_limit(self):
        r = self.api("GET", "/floating_ips")
        self.assertEqual((r.headers["RateLimit-Limit"], r.headers["RateLimit-Remaining"]),
                         ("3600", "3599"))
        reset = int(r.headers["RateLimit-Reset"])
        self.assertTrue(time.time() <= reset <= time.time() + 3, reset)

    def test_429_when_the_bucket_is_empty(self):
        self.admin("POST", "/ratelimit", {"limit": 10, "remaining": 2})
        self.assertEqual(self.api("GET", "/floating_ips").headers["RateLimit-Remaining"], "1")
        self.assertEqual(self.api("GET", "/floating_ips").headers["RateLimit-Remaining"], "0")
        r = self.api("GET", "/floating_ips")
        self.assertError(r, 429, "rate_limit_exceeded")
        self.assertEqual(r.json["error"]["message"], "limit of 10 requests per hour reached")
        self.assertRateHeaders(r)
        self.assertEqual((r.headers["RateLimit-Limit"], r.headers["RateLimit-Remaining"]),
                         ("10", "0"))
        # Full again after 10 tokens at one per 360 s.
        self.assertAlmostEqual(int(r.headers["RateLimit-Reset"]), time.time() + 3600, delta=3)
        self.assertError(self.assign(NODE_A), 429, "rate_limit_exceeded")

        self.admin("POST", "/clock", {"advance": 360})  # one token comes back
        r = self.api("GET", "/floating_ips")
        self.assertEqual((r.status, r.headers["RateLimit-Remaining"]), (200, "0"))
        self.assertError(self.api("GET", "/floating_ips"), 429, "rate_limit_exceeded")
        self.admin("POST", "/clock", {"advance": 7200})  # never beyond the limit
        self.assertEqual(self.api("GET", "/floating_ips").headers["RateLimit-Remaining"], "9")

    def test_reset_header_tracks_the_deficit(self):
        self.admin("POST", "/ratelimit", {"limit": 3600, "remaining": 3000})
        r = self.api("GET", "/servers")
        self.assertEqual(r.headers["RateLimit-Remaining"], "2999")
        self.assertAlmostEqual(int(r.headers["RateLimit-Reset"]), time.time() + 601, delta=3)

    def test_bucket_is_per_project_not_per_token(self):
        ro = self.fake.add_token("ro")
        self.admin("POST", "/ratelimit", {"remaining": 100})
        self.assertEqual(self.api("GET", "/servers").headers["RateLimit-Remaining"], "99")
        self.assertEqual(self.api("GET", "/servers", token=ro).headers["RateLimit-Remaining"],
                         "98")
        self.assertEqual(self.admin("GET", "/ratelimit")[1]["project"]["remaining"], 98)

    def test_competitor_leaves_only_the_rest(self):
        # A neighbour wanting 0.75 of the refill: a client asking once a
        # second gets about a quarter of its requests through.
        self.admin("POST", "/ratelimit", {"remaining": 0})
        self.admin("POST", "/competitor", {"rate": 0.75})
        ok = 0
        for _ in range(12):
            time.sleep(1)
            ok += self.api("GET", "/servers").status == 200
        self.admin("POST", "/competitor", {"rate": 0})
        self.assertTrue(1 <= ok <= 5, ok)

    def test_competitor_spends_the_project_refill(self):
        # Drained, then a neighbour asking for 4 tokens/s: it gets the one
        # token per second that comes back, and we get none.
        self.admin("POST", "/ratelimit", {"remaining": 0})
        self.assertEqual(self.admin("POST", "/competitor", {"rate": 4})[0], 200)
        time.sleep(2.2)
        c = self.admin("GET", "/competitor")[1]
        self.assertEqual(c["rate"], 4)
        self.assertIn(c["spent"], (1, 2))
        self.assertGreaterEqual(c["refused"], 1)
        self.assertError(self.api("GET", "/servers"), 429, "rate_limit_exceeded")
        # Stopped: the refill is ours again, and the log never saw it.
        self.admin("POST", "/competitor", {"rate": 0})
        time.sleep(1.1)
        self.assertEqual(self.api("GET", "/servers").status, 200)
        self.assertEqual([q["path"] for q in self.admin("GET", "/requests")[1]["requests"]],
                         ["/v1/servers", "/v1/servers"])
        self.assertEqual(self.admin("POST", "/competitor", {"rate": -1})[0], 400)

    def test_unauthenticated_requests_are_limited_too(self):
        self.admin("POST", "/ratelimit", {"scope": "unauthenticated", "limit": 2})
        r = self.api("GET", "/servers", token="bad")
        self.assertEqual((r.status, r.headers["RateLimit-Remaining"]), (401, "1"))
        self.assertEqual(self.api("GET", "/servers", token=None).headers["RateLimit-Remaining"],
                         "0")
        r = self.api("GET", "/servers", token="bad")
        self.assertError(r, 429, "rate_limit_exceeded")
        self.assertEqual(r.json["error"]["message"], "limit of 2 requests per hour reached")
        # The project's own bucket is untouched.
        r = self.api("GET", "/servers")
        self.assertEqual((r.status, r.headers["RateLimit-Remaining"]), (200, "3599"))


class FaultTests(FakeTestCase):
    def fault(self, **spec):
        status, body = self.admin("POST", "/faults", spec)
        self.assertEqual(status, 201, body)
        return body["fault"]

    def test_json_faults(self):
        for kind, status in (("conflict", 409), ("server_error", 500), ("bad_gateway", 502),
                             ("unavailable", 503), ("timeout", 504)):
            self.fault(kind=kind)
            r = self.api("GET", "/floating_ips")
            self.assertError(r, status, kind)
            self.assertRateHeaders(r)
            self.assertEqual(self.api("GET", "/floating_ips").status, 200)  # count was 1

    def test_custom_error_fault(self):
        self.fault(kind="error", status=403, code="maintenance", message="in maintenance")
        r = self.assign(NODE_A)
        self.assertError(r, 403, "maintenance")
        self.assertEqual(r.json["error"]["message"], "in maintenance")

    def test_html_gateway_errors_have_no_envelope(self):
        for kind, status in (("bad_gateway_html", 502), ("gateway_timeout_html", 504)):
            self.fault(kind=kind)
            r = self.api("GET", "/floating_ips")
            self.assertEqual(r.status, status)
            self.assertEqual(r.headers["Content-Type"], "text/html")
            self.assertIsNone(r.json)
            self.assertIn(b"<html>", r.raw)
            self.assertRateHeaders(r)

    def test_garbage_body(self):
        self.fault(kind="garbage")
        r = self.api("GET", "/floating_ips?name=egress-v4")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "application/json")
        self.assertIsNone(r.json)
        self.assertRateHeaders(r)

    def test_truncated_body(self):
        full = self.api("GET", "/floating_ips/%d" % FIP_V4).raw
        self.fault(kind="truncated")
        conn = self.connection()
        try:
            conn.request("GET", "/v1/floating_ips/%d" % FIP_V4,
                         headers={"Authorization": "Bearer " + self.fake.token})
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(int(r.headers["Content-Length"]), len(full))
            self.assertIsNotNone(r.headers["RateLimit-Remaining"])
            with self.assertRaises(http.client.IncompleteRead) as cm:
                r.read()
            self.assertTrue(full.startswith(cm.exception.partial))
            self.assertLess(len(cm.exception.partial), len(full))
        finally:
            conn.close()

    def test_slow_response(self):
        self.fault(kind="slow", delay=0.4)
        start = time.monotonic()
        r = self.api("GET", "/floating_ips")
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.4)
        self.fault(kind="slow", delay=1.0)
        with self.assertRaises(socket.timeout):
            self.api("GET", "/floating_ips", timeout=0.2)

    def test_a_slow_answer_does_not_hold_up_other_clients(self):
        self.fault(kind="slow", delay=1.0, path="name=slow")
        done = []
        t = threading.Thread(target=lambda: done.append(
            self.api("GET", "/floating_ips?name=slow").status))
        t.start()
        time.sleep(0.1)
        start = time.monotonic()
        self.assertEqual(self.api("GET", "/floating_ips").status, 200)
        self.assertLess(time.monotonic() - start, 0.5)
        t.join(5)
        self.assertEqual(done, [200])

    def test_reset_close_and_raw_garbage(self):
        self.fault(kind="reset")
        with self.assertRaises(ConnectionError):
            self.api("GET", "/floating_ips")
        self.fault(kind="close")
        with self.assertRaises(http.client.RemoteDisconnected):
            self.api("GET", "/floating_ips")
        self.fault(kind="raw_garbage")
        with self.assertRaises(http.client.HTTPException):
            self.api("GET", "/floating_ips")
        self.assertEqual(self.api("GET", "/floating_ips").status, 200)
        kinds = [e["fault"] for e in self.fake.requests()]
        self.assertEqual(kinds, ["reset", "close", "raw_garbage", None])
        self.assertEqual([e["status"] for e in self.fake.requests()][:3], [None, None, None])

    def test_matching_by_path_method_and_count(self):
        self.fault(kind="unavailable", path="/actions/assign", method="post", count=2)
        self.assertEqual(self.api("GET", "/floating_ips/%d/actions" % FIP_V4).status, 200)
        self.assertError(self.assign(NODE_A), 503, "unavailable")
        self.assertError(self.assign(NODE_A), 503, "unavailable")
        self.assertEqual(self.assign(NODE_A).status, 201)
        self.assertEqual(self.admin("GET", "/faults")[1]["faults"], [])

    def test_a_fault_without_apply_does_not_write(self):
        self.fault(kind="timeout", path="/assign")
        self.assertError(self.assign(NODE_A), 504, "timeout")
        self.assertEqual(self.fake.actions(), [])

    def test_apply_loses_the_answer_but_keeps_the_write(self):
        self.fault(kind="reset", path="/assign", apply=True)
        with self.assertRaises(ConnectionError):
            self.assign(NODE_A)
        (act,) = self.fake.actions()
        self.assertEqual((act["command"], act["status"]), ("assign_floating_ip", "running"))
        self.assertEqual(self.wait_action(act["id"])["status"], "success")
        self.assertEqual(self.fip()["server"], NODE_A)

    def test_faults_count_against_the_rate_limit(self):
        self.admin("POST", "/ratelimit", {"limit": 100, "remaining": 50})
        self.fault(kind="server_error")
        self.assertEqual(self.api("GET", "/servers").headers["RateLimit-Remaining"], "49")
        self.fault(kind="reset")
        with self.assertRaises(ConnectionError):
            self.api("GET", "/servers")
        self.assertEqual(self.api("GET", "/servers").headers["RateLimit-Remaining"], "47")

    def test_bad_fault_specs_are_refused(self):
        for spec in ({"kind": "meteor"}, {"kind": "slow", "delay": -1},
                     {"kind": "error", "code": "x"}, {"kind": "conflict", "count": 0}):
            self.assertEqual(self.admin("POST", "/faults", spec)[0], 400, spec)


class AdminTests(FakeTestCase):
    def test_request_log(self):
        self.api("GET", "/floating_ips?name=egress-v4")
        self.assign(NODE_A)
        self.api("GET", "/servers", token="wrong-token-value")
        status, body = self.admin("GET", "/requests")
        self.assertEqual(status, 200)
        get, post, bad = body["requests"]
        self.assertEqual((get["method"], get["path"], get["query"], get["status"]),
                         ("GET", "/v1/floating_ips", "name=egress-v4", 200))
        self.assertEqual((get["remaining"], get["limit"]), (3599, 3600))
        self.assertEqual(get["token"], "%s…(64)" % self.fake.token[:4])
        self.assertEqual(get["user_agent"], "fake-tests/1")
        self.assertEqual((post["method"], post["status"], json.loads(post["body"])),
                         ("POST", 201, {"server": NODE_A}))
        self.assertEqual((bad["status"], bad["token_kind"]), (401, "unknown"))
        self.assertGreater(post["seq"], get["seq"])
        self.assertGreaterEqual(post["time_mono"], get["time_mono"])
        self.assertAlmostEqual(post["time_wall"], time.time(), delta=5)
        dump = json.dumps(body)
        self.assertNotIn(self.fake.token, dump)
        self.assertNotIn("wrong-token-value", dump)

        self.assertEqual(len(self.admin("GET", "/requests?since=%d" % get["seq"])[1]["requests"]),
                         2)
        self.assertEqual(self.admin("DELETE", "/requests")[0], 200)
        self.assertEqual(self.admin("GET", "/requests")[1]["requests"], [])

    def test_state_and_reset(self):
        self.fake.add_server(name="extra")
        self.assign(NODE_A)
        self.admin("POST", "/knobs", {"zone_rule": True})
        self.admin("POST", "/faults", {"kind": "conflict", "count": 5})
        self.admin("POST", "/clock", {"advance": 100})
        self.admin("POST", "/reset")
        st = self.admin("GET", "/state")[1]
        self.assertEqual([s["name"] for s in st["servers"]],
                         ["node-a", "node-b", "node-c", "node-round"])
        self.assertEqual([s["id"] for s in st["servers"]], [NODE_A, NODE_B, NODE_C, NODE_ROUND])
        self.assertEqual([f["name"] for f in st["floating_ips"]],
                         ["egress-v4", "egress-v4-b", "egress-v6"])
        self.assertEqual((st["actions"], st["faults"], st["action_scripts"]), ([], [], []))
        self.assertEqual((st["knobs"]["zone_rule"], st["clock"]["offset"]), (False, 0.0))
        self.assertEqual(st["rate_limit"]["project"]["remaining"], 3600)
        self.assertEqual(st["internal_errors"], [])
        self.assertEqual(self.api("GET", "/servers").status, 200)  # same token still valid

    def test_servers_crud(self):
        status, body = self.admin("POST", "/servers", {"name": "node-d", "location": "hel1",
                                                       "ipv4": None, "labels": {"a": "b"}})
        self.assertEqual(status, 201, body)
        sid = body["server"]["id"]
        self.assertGreater(sid, 2**32)
        srv = self.server(sid)
        self.assertIsNone(srv["public_net"]["ipv4"])
        self.assertEqual((srv["location"]["name"], srv["labels"]), ("hel1", {"a": "b"}))
        self.assertEqual(self.admin("PATCH", "/servers/%d" % sid, {"status": "off"})[0], 200)
        self.assertEqual(self.server(sid)["status"], "off")
        self.assign_done(sid)
        self.assertEqual(self.admin("DELETE", "/servers/%d" % sid)[0], 200)
        self.assertError(self.api("GET", "/servers/%d" % sid), 404, "not_found")
        self.assertIsNone(self.fip()["server"])  # the API unassigns on delete
        for bad in ({"name": "node-a"}, {"name": "x", "location": "mars"},
                    {"name": "y", "colour": "red"}, {"name": "z", "status": "sleepy"}):
            self.assertEqual(self.admin("POST", "/servers", bad)[0], 400, bad)
        self.assertEqual(self.admin("PATCH", "/servers/1", {"status": "off"})[0], 404)

    def test_floating_ips_crud(self):
        status, body = self.admin("POST", "/floating_ips", {
            "name": "egress-v6-b", "type": "ipv6", "ip": "2001:db8:9:9::/64",
            "home_location": "nbg1", "server": NODE_C})
        self.assertEqual(status, 201, body)
        fid = body["floating_ip"]["id"]
        self.assertEqual(self.server(NODE_C)["public_net"]["floating_ips"], [fid])
        self.assertEqual(self.admin("PATCH", "/floating_ips/%d" % fid, {"server": NODE_A})[0], 200)
        self.assertEqual(self.fip(fid)["server"], NODE_A)  # at once, no action
        self.assertEqual(self.fake.actions(), [])
        self.assertEqual(self.admin("GET", "/floating_ips/%d" % fid)[1]["floating_ip"]["id"], fid)
        self.assertEqual(self.admin("DELETE", "/floating_ips/%d" % fid)[0], 200)
        self.assertError(self.api("GET", "/floating_ips/%d" % fid), 404, "not_found")
        for bad in ({"name": "egress-v4"}, {"name": "n1", "type": "ipv6", "ip": "2001:db8::1"},
                    {"name": "n2", "ip": "300.1.1.1"}, {"name": "n3", "server": 42}):
            self.assertEqual(self.admin("POST", "/floating_ips", bad)[0], 400, bad)

    def test_knobs_clock_and_scripts(self):
        self.assertEqual(self.admin("POST", "/knobs", {"colour": 1})[0], 400)
        self.assertEqual(self.admin("POST", "/knobs", {"zone_rule": "yes"})[0], 400)
        knobs = self.admin("POST", "/knobs", {"action_seconds": 0.05})[1]
        self.assertEqual(knobs["action_seconds"], 0.05)
        clock = self.admin("POST", "/clock", {"advance": 30})[1]
        self.assertEqual(clock["offset"], 30)
        self.assertAlmostEqual(clock["now"], time.time() + 30, delta=2)
        self.admin("POST", "/actions/next", {"outcome": "error", "count": 2})
        scripts = self.admin("GET", "/actions/next")[1]["action_scripts"]
        self.assertEqual((scripts[0]["outcome"], scripts[0]["count"]), ("error", 2))
        self.assertEqual(self.admin("POST", "/actions/next", {"outcome": "maybe"})[0], 400)
        self.admin("DELETE", "/actions/next")
        self.assertEqual(self.admin("GET", "/actions/next")[1]["action_scripts"], [])
        self.assertEqual(self.admin("GET", "/nothing")[0], 404)


class TlsTests(FakeTestCase):
    fake_options = {"tls": True, "action_seconds": 0.2}

    def test_https_with_the_generated_ca(self):
        self.assertTrue(self.fake.endpoint.startswith("https://127.0.0.1:"))
        r = self.api("GET", "/floating_ips?name=egress-v4")  # verifies against ca_file
        self.assertEqual(r.status, 200)
        self.assertRateHeaders(r)
        self.assertEqual(self.assign_done(NODE_A)["status"], "success")

    def test_untrusted_without_the_ca(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.endpoint.port, timeout=5,
                                           context=ssl.create_default_context())
        with self.assertRaises(ssl.SSLCertVerificationError):
            conn.request("GET", "/v1/servers")
        conn.close()
        # The failed handshake did not hurt the server.
        self.assertEqual(self.api("GET", "/servers").status, 200)

    def test_reset_over_tls(self):
        self.admin("POST", "/faults", {"kind": "reset"})
        with self.assertRaises((ConnectionError, ssl.SSLError)):
            self.api("GET", "/servers")
        self.assertEqual(self.api("GET", "/servers").status, 200)


class CliTests(unittest.TestCase):
    """The command line entry used by shell tests, benchmarks and the demo."""

    SCRIPT = os.path.join(HERE, "hcloud.py")

    def start(self, *args):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        proc = subprocess.Popen([sys.executable, self.SCRIPT, "--dir", tmp.name] + list(args),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.addCleanup(lambda: (proc.stdout.close(), proc.stderr.close()))
        ready = os.path.join(tmp.name, "ready")
        deadline = time.monotonic() + 15
        while not os.path.exists(ready):
            self.assertIsNone(proc.poll(), proc.stderr.read() if proc.poll() is not None else "")
            self.assertLess(time.monotonic(), deadline, "fake did not become ready")
            time.sleep(0.02)
        return proc, tmp.name

    @staticmethod
    def read(directory, name):
        with open(os.path.join(directory, name)) as f:
            return f.read()

    def check_files(self, directory, scheme):
        # ready is written last: once it exists, everything else is complete.
        names = ["endpoint", "token", "admin-url"] + (["ca.pem"] if scheme == "https" else [])
        for name in names:
            self.assertLessEqual(os.stat(os.path.join(directory, name)).st_mtime_ns,
                                 os.stat(os.path.join(directory, "ready")).st_mtime_ns, name)
        endpoint = self.read(directory, "endpoint")
        self.assertRegex(endpoint, r"^%s://127\.0\.0\.1:\d+/v1$" % scheme)
        token = self.read(directory, "token")
        self.assertRegex(token, r"^[A-Za-z0-9]{64}$")
        admin_url = self.read(directory, "admin-url")
        self.assertRegex(admin_url, r"^http://127\.0\.0\.1:\d+/__fake$")
        self.assertFalse([n for n in os.listdir(directory) if n.endswith(".tmp")])
        return endpoint, token, admin_url

    def get(self, url, token=None, cafile=None):
        ctx = ssl.create_default_context(cafile=cafile) if cafile else None
        req = urllib.request.Request(url, headers={"Authorization": "Bearer %s" % token}
                                     if token else {})
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            return r.status, r.headers, json.loads(r.read())

    def stop(self, proc, sig):
        proc.send_signal(sig)
        self.assertEqual(proc.wait(timeout=5), 0, proc.stderr.read())

    def test_plain_http_and_sigterm(self):
        proc, d = self.start("--action-seconds", "0.2", "--rate-limit", "50")
        self.assertEqual(self.read(d, "ready").strip(), str(proc.pid))
        endpoint, token, admin_url = self.check_files(d, "http")
        status, headers, body = self.get(endpoint + "/floating_ips?name=egress-v4", token)
        self.assertEqual((status, headers["RateLimit-Limit"]), (200, "50"))
        self.assertEqual(body["floating_ips"][0]["ip"], "203.0.113.10")
        self.assertEqual(self.get(admin_url + "/knobs")[2]["action_seconds"], 0.2)
        self.stop(proc, signal.SIGTERM)
        self.assertFalse(os.path.exists(os.path.join(d, "ready")))

    def test_tls_and_sigint(self):
        proc, d = self.start("--tls")
        endpoint, token, admin_url = self.check_files(d, "https")
        ca = os.path.join(d, "ca.pem")
        status, _, body = self.get(endpoint + "/servers/1000000000000000", token, cafile=ca)
        self.assertEqual((status, body["server"]["name"]), (200, "node-round"))
        self.assertEqual(self.get(admin_url + "/state")[2]["knobs"]["action_seconds"], 1.0)
        self.stop(proc, signal.SIGINT)

    def test_on_assign_follows_the_action_end(self):
        # The drill's provider router follows this hook: it must fire when the
        # action ends on the fake clock, with no request to settle it.
        out = tempfile.NamedTemporaryFile(delete=False)
        out.close()
        self.addCleanup(os.unlink, out.name)
        hook = "sh -c 'echo \"$1 $2 $3\" >> %s' hook" % out.name
        proc, d = self.start("--action-seconds", "0.5", "--on-assign", hook)
        endpoint, token, _ = self.check_files(d, "http")

        def lines():
            with open(out.name) as f:
                return f.read().splitlines()
        deadline = time.monotonic() + 5
        while len(lines()) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertIn("203.0.113.10  ", lines())
        req = urllib.request.Request(endpoint + "/floating_ips/%d/actions/assign" % FIP_V4,
                                     data=json.dumps({"server": NODE_B}).encode(),
                                     headers={"Authorization": "Bearer " + token,
                                              "Content-Type": "application/json"})
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=5) as r:
            self.assertEqual(r.status, 201)
        moved = "203.0.113.10 %d 198.51.100.12" % NODE_B
        time.sleep(0.3)
        self.assertNotIn(moved, lines())
        while moved not in lines() and time.monotonic() < t0 + 5:
            time.sleep(0.01)
        self.assertIn(moved, lines())
        self.assertLess(time.monotonic() - t0, 0.5 + 0.3)
        self.stop(proc, signal.SIGTERM)


if __name__ == "__main__":
    unittest.main()
