"""rbac.py: the API server's RBAC authorizer, for the fake Kubernetes API.

Python 3 standard library only.  Rules come from RBAC objects as a real
cluster stores them (dicts, e.g. rendered manifests read as YAML or
JSON): ClusterRole, Role, ClusterRoleBinding, RoleBinding.  One user is
checked, a service account given as (namespace, name); it is
"system:serviceaccount:<ns>:<name>" and in the groups
"system:serviceaccounts" and "system:serviceaccounts:<ns>".

What the real authorizer does and this one copies
(k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac, apiserver
endpoints/request/requestinfo.go):
- verb from the HTTP method: GET on a name get, on a collection list,
  with watch=true watch; POST create; PUT update; PATCH patch; DELETE on
  a name delete, on a collection deletecollection;
- a ClusterRoleBinding grants its ClusterRole everywhere; a RoleBinding
  grants its Role or ClusterRole in its own namespace only;
- a rule matches on apiGroups, resources and verbs ("*" matches all) and,
  when it lists resourceNames, only requests that name one of them
  (create and collection requests have no name, so never match);
- non-resource paths (discovery, /healthz, /version) are granted to every
  authenticated user by system:discovery and system:public-info-viewer;
- a refusal is 403 with a Status whose message reads exactly like the
  API server's.
"""


def request_verb(method, name, query):
    """The RBAC verb of a resource request."""
    if method == "GET":
        if name:
            return "get"
        watch = query.get("watch", "")
        return "watch" if watch in ("1", "true", "True", "t", "T",
                                    "TRUE") else "list"
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(
        method, method.lower())


def _match(values, want):
    return "*" in values or want in values


class Authorizer:
    """Answers allowed(verb, group, resource, ns, name) for one user."""

    def __init__(self, objects, sa_namespace, sa_name):
        self.user = "system:serviceaccount:%s:%s" % (sa_namespace, sa_name)
        self.groups = {"system:serviceaccounts",
                       "system:serviceaccounts:%s" % sa_namespace,
                       "system:authenticated"}
        self.sa = (sa_namespace, sa_name)
        roles, croles = {}, {}
        for o in objects:
            if not isinstance(o, dict):
                continue
            meta = o.get("metadata") or {}
            if o.get("kind") == "ClusterRole":
                croles[meta.get("name")] = o.get("rules") or []
            elif o.get("kind") == "Role":
                roles[(meta.get("namespace"), meta.get("name"))] = \
                    o.get("rules") or []
        # (namespace or None for cluster-wide, rules)
        self.grants = []
        for o in objects:
            if not isinstance(o, dict) or o.get("kind") not in (
                    "ClusterRoleBinding", "RoleBinding"):
                continue
            if not any(self._is_me(s, o) for s in o.get("subjects") or []):
                continue
            meta, ref = o.get("metadata") or {}, o.get("roleRef") or {}
            ns = meta.get("namespace") if o["kind"] == "RoleBinding" \
                else None
            if ref.get("kind") == "ClusterRole":
                rules = croles.get(ref.get("name"), [])
            elif ref.get("kind") == "Role" and ns is not None:
                rules = roles.get((ns, ref.get("name")), [])
            else:
                rules = []
            self.grants.append((ns, rules))

    def _is_me(self, s, binding):
        kind = s.get("kind")
        if kind == "ServiceAccount":
            # A RoleBinding's subject namespace defaults to its own.
            ns = s.get("namespace") or (binding.get("metadata") or {}).get(
                "namespace")
            return (ns, s.get("name")) == self.sa
        if kind == "User":
            return s.get("name") == self.user
        if kind == "Group":
            return s.get("name") in self.groups
        return False

    def allowed(self, verb, group, resource, ns, name):
        for gns, rules in self.grants:
            if gns is not None and gns != ns:
                continue
            for r in rules:
                if not (_match(r.get("apiGroups") or [], group) and
                        _match(r.get("resources") or [], resource) and
                        _match(r.get("verbs") or [], verb)):
                    continue
                names = r.get("resourceNames") or []
                if names and name not in names:
                    continue
                return True
        return False

    def forbidden_message(self, verb, group, resource, ns, name):
        """Exactly the API server's text (authorization.go,
        forbiddenMessage + errors.NewForbidden)."""
        qualified = resource + ("." + group if group else "")
        head = ('%s "%s"' % (qualified, name)) if name else qualified
        where = ('in the namespace "%s"' % ns) if ns \
            else "at the cluster scope"
        return ('%s is forbidden: User "%s" cannot %s resource "%s" in API '
                'group "%s" %s' % (head, self.user, verb, resource, group,
                                   where))

    def status(self, verb, group, resource, ns, name):
        """The 403 metav1.Status body."""
        return {"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure",
                "message": self.forbidden_message(verb, group, resource, ns,
                                                  name),
                "reason": "Forbidden",
                "details": dict({"name": name} if name else {},
                                group=group, kind=resource),
                "code": 403}
