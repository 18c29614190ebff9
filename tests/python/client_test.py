#!/usr/bin/env python3
"""End-to-end check of the rkube API server with the official Kubernetes Python client.

Run as `python3 tests/python/client_test.py` with KUBECONFIG pointing at an admin
kubeconfig of a running server. Prints one line per passed check; on the first failure
it prints what failed and exits non-zero. Everything it creates lives in a fresh
namespace "py-<random>" (plus one cluster-scoped Node) that is removed at the end.
"""

import base64
import ipaddress
import json
import sys
import threading
import time
import traceback
import uuid

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

SUFFIX = uuid.uuid4().hex[:8]
NS = "py-" + SUFFIX
NODE = "py-node-" + SUFFIX
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

PASSED = []


class CheckFailed(Exception):
    pass


def check(cond, msg):
    """Assert that survives `python3 -O` and carries a readable message."""
    if not cond:
        raise CheckFailed(msg)


def ok(name):
    PASSED.append(name)
    print("ok   " + name, flush=True)


def expect_api_error(status, fn, *args, reason=None, **kwargs):
    """Call fn and require an ApiException with the given HTTP status (and Status.reason)."""
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        check(e.status == status,
              "%s: expected HTTP %d, got %s; body=%s" % (fn.__name__, status, e.status, e.body))
        body = {}
        try:
            body = json.loads(e.body or "{}")
        except ValueError:
            raise CheckFailed("%s: error body is not JSON: %r" % (fn.__name__, e.body))
        check(body.get("kind") == "Status",
              "%s: error body kind should be Status: %s" % (fn.__name__, body))
        check(body.get("code") == status,
              "%s: Status.code should be %d: %s" % (fn.__name__, status, body))
        if reason is not None:
            check(body.get("reason") == reason,
                  "%s: Status.reason should be %s: %s" % (fn.__name__, reason, body))
        return body
    raise CheckFailed("%s: expected ApiException %d, call succeeded" % (fn.__name__, status))


def with_conflict_retry(fn, attempts=20):
    """Runs a read-modify-write `fn` again when the server answers 409 Conflict."""
    for _ in range(attempts - 1):
        try:
            return fn()
        except ApiException as e:
            if e.status != 409:
                raise
        except CheckFailed as e:
            if "got 409" not in str(e):
                raise
        time.sleep(0.1)
    return fn()


def replace_scale(apps, replicas):
    s = apps.read_namespaced_deployment_scale("web", NS)
    s.spec.replicas = replicas
    return apps.replace_namespaced_deployment_scale("web", NS, s)


def wire(obj):
    """Model -> JSON-form dict (camelCase keys) without nulls, for use as a request body."""
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    return strip(client.ApiClient().sanitize_for_serialization(obj))


def labels_of(obj):
    return dict(obj.metadata.labels or {})


def pod_template(app, restart_policy=None):
    spec = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return {"metadata": {"labels": {"app": app}}, "spec": spec}


# ---------------------------------------------------------------- core kinds

def test_namespace(core):
    ns = core.create_namespace({"metadata": {"name": NS, "labels": {"suite": "py"}}})
    check(ns.metadata.name == NS, "namespace name echoed back")
    check(ns.metadata.uid, "namespace uid set")
    check(ns.metadata.resource_version, "namespace resourceVersion set")
    check(ns.metadata.creation_timestamp is not None, "namespace creationTimestamp set")
    check(ns.status and ns.status.phase == "Active",
          "new namespace phase should be Active, got %s" % ns.status)
    check(labels_of(ns).get("kubernetes.io/metadata.name") == NS,
          "namespace should carry kubernetes.io/metadata.name label: %s" % labels_of(ns))
    ok("namespace create")

    got = core.read_namespace(NS)
    check(got.metadata.uid == ns.metadata.uid, "read namespace returns same uid")
    names = [n.metadata.name for n in core.list_namespace().items]
    check(NS in names, "list namespaces includes %s: %s" % (NS, names))
    check("default" in names, "list namespaces includes default: %s" % names)
    sel = core.list_namespace(label_selector="suite=py").items
    check(NS in [n.metadata.name for n in sel], "label-selected namespace list includes ours")
    ok("namespace read/list")

    p = core.patch_namespace(NS, {"metadata": {"labels": {"patched": "yes"}}},
                             _content_type=MERGE)
    check(labels_of(p).get("patched") == "yes" and labels_of(p).get("suite") == "py",
          "namespace merge patch adds label and keeps others: %s" % labels_of(p))
    ok("namespace merge patch")


def test_configmap(core):
    cm = core.create_namespaced_config_map(NS, {
        "metadata": {"name": "cm1", "labels": {"app": "cm", "tier": "a"}},
        "data": {"k1": "v1", "k2": "v2"},
    })
    check(cm.metadata.namespace == NS, "configmap namespace set: %s" % cm.metadata.namespace)
    check(cm.data == {"k1": "v1", "k2": "v2"}, "configmap data echoed: %s" % cm.data)
    rv1 = cm.metadata.resource_version
    ok("configmap create")

    got = core.read_namespaced_config_map("cm1", NS)
    check(got.data == cm.data and got.metadata.uid == cm.metadata.uid, "configmap read matches")
    lst = core.list_namespaced_config_map(NS)
    check(lst.metadata.resource_version, "list has metadata.resourceVersion")
    check("cm1" in [c.metadata.name for c in lst.items], "configmap list includes cm1")
    ok("configmap read/list")

    p = core.patch_namespaced_config_map("cm1", NS, {"data": {"k2": None, "k3": "v3"}},
                                         _content_type=MERGE)
    check(p.data == {"k1": "v1", "k3": "v3"},
          "merge patch with null removes key and adds key: %s" % p.data)
    check(p.metadata.resource_version != rv1, "patch bumps resourceVersion")
    ok("configmap merge patch (null deletes key)")

    p = core.patch_namespaced_config_map(
        "cm1", NS, [{"op": "add", "path": "/data/k4", "value": "v4"},
                    {"op": "remove", "path": "/data/k1"}])
    check(p.data == {"k3": "v3", "k4": "v4"}, "json patch add/remove: %s" % p.data)
    ok("configmap json patch")

    cur = core.read_namespaced_config_map("cm1", NS)
    body = wire(cur)
    body["data"] = {"only": "this"}
    r = core.replace_namespaced_config_map("cm1", NS, body)
    check(r.data == {"only": "this"}, "replace sets whole data: %s" % r.data)
    check(r.metadata.uid == cm.metadata.uid, "replace keeps uid")
    check(labels_of(r).get("app") == "cm", "replace keeps labels sent")
    ok("configmap replace")

    # Stale resourceVersion on replace is an optimistic-concurrency conflict.
    stale = wire(cur)
    stale["data"] = {"stale": "write"}
    b = expect_api_error(409, core.replace_namespaced_config_map, "cm1", NS, stale,
                         reason="Conflict")
    check("the object has been modified" in b.get("message", ""),
          "conflict message should say the object has been modified: %s" % b)
    ok("configmap replace with stale resourceVersion -> 409 Conflict")

    expect_api_error(409, core.create_namespaced_config_map, NS,
                     {"metadata": {"name": "cm1"}, "data": {}}, reason="AlreadyExists")
    ok("configmap create existing -> 409 AlreadyExists")

    b = expect_api_error(404, core.read_namespaced_config_map, "does-not-exist", NS,
                         reason="NotFound")
    det = b.get("details") or {}
    check(det.get("name") == "does-not-exist" and det.get("kind") == "configmaps",
          "NotFound details name/kind: %s" % b)
    check(b.get("message") == 'configmaps "does-not-exist" not found',
          "NotFound message format: %r" % b.get("message"))
    ok("configmap read missing -> 404 NotFound")

    b = expect_api_error(422, core.create_namespaced_config_map, NS,
                         {"metadata": {"name": "Bad_Name"}, "data": {}}, reason="Invalid")
    causes = (b.get("details") or {}).get("causes") or []
    check(any(c.get("field") == "metadata.name" for c in causes),
          "Invalid causes should name metadata.name: %s" % b)
    ok("configmap invalid name -> 422 Invalid")

    g = core.create_namespaced_config_map(NS, {"metadata": {"generateName": "gen-"}})
    check(g.metadata.name.startswith("gen-") and len(g.metadata.name) == len("gen-") + 5,
          "generateName produces gen-xxxxx: %s" % g.metadata.name)
    ok("configmap generateName")

    d = core.create_namespaced_config_map(NS, {"metadata": {"name": "dry"}}, dry_run="All")
    check(d.metadata.name == "dry", "dry-run create echoes object")
    expect_api_error(404, core.read_namespaced_config_map, "dry", NS)
    ok("configmap dry-run create is not persisted")

    st = core.delete_namespaced_config_map("cm1", NS)
    check(st is not None, "delete returns a body")
    expect_api_error(404, core.read_namespaced_config_map, "cm1", NS)
    expect_api_error(404, core.delete_namespaced_config_map, "cm1", NS)
    ok("configmap delete (then 404 on read and delete)")


def test_selectors(core):
    for name, app in (("sel-a", "x"), ("sel-b", "x"), ("sel-c", "y")):
        core.create_namespaced_config_map(
            NS, {"metadata": {"name": name, "labels": {"selapp": app}}})
    xs = sorted(c.metadata.name for c in
                core.list_namespaced_config_map(NS, label_selector="selapp=x").items)
    check(xs == ["sel-a", "sel-b"], "label selector selapp=x: %s" % xs)
    ys = sorted(c.metadata.name for c in
                core.list_namespaced_config_map(NS, label_selector="selapp in (y)").items)
    check(ys == ["sel-c"], "set-based label selector: %s" % ys)
    notx = sorted(c.metadata.name for c in
                  core.list_namespaced_config_map(NS, label_selector="selapp,selapp!=x").items)
    check(notx == ["sel-c"], "label selector exists + != : %s" % notx)
    ok("label selector list")

    f = [c.metadata.name for c in
         core.list_namespaced_config_map(NS, field_selector="metadata.name=sel-b").items]
    check(f == ["sel-b"], "field selector metadata.name=sel-b: %s" % f)
    f = sorted(c.metadata.name for c in core.list_namespaced_config_map(
        NS, label_selector="selapp", field_selector="metadata.name!=sel-b").items)
    check(f == ["sel-a", "sel-c"], "field selector != combined with label selector: %s" % f)
    # Cross-namespace list honours field selectors on namespace.
    f = [c.metadata.name for c in core.list_config_map_for_all_namespaces(
        field_selector="metadata.namespace=%s,metadata.name=sel-a" % NS).items]
    check(f == ["sel-a"], "all-namespaces list with namespace field selector: %s" % f)
    ok("field selector list")

    core.delete_collection_namespaced_config_map(NS, label_selector="selapp=x")
    left = sorted(c.metadata.name for c in
                  core.list_namespaced_config_map(NS, label_selector="selapp").items)
    check(left == ["sel-c"], "deletecollection by label removes only matches: %s" % left)
    ok("configmap deletecollection with label selector")


def test_pagination(core):
    want = set()
    for i in range(7):
        name = "page-%d" % i
        want.add(name)
        core.create_namespaced_config_map(NS, {"metadata": {"name": name,
                                                             "labels": {"page": "yes"}}})
    seen = []
    cont = None
    pages = 0
    while True:
        kwargs = {"label_selector": "page=yes", "limit": 3}
        if cont:
            kwargs["_continue"] = cont
        lst = core.list_namespaced_config_map(NS, **kwargs)
        pages += 1
        check(len(lst.items) <= 3, "page size <= limit: %d" % len(lst.items))
        seen.extend(c.metadata.name for c in lst.items)
        cont = lst.metadata._continue
        if pages == 1:
            check(cont, "first page of 7 with limit 3 must have a continue token")
        if not cont:
            break
        check(pages < 10, "pagination does not terminate")
    check(len(seen) == 7 and set(seen) == want,
          "paginated list should see 7 configmaps exactly once: %s" % seen)
    check(pages == 3, "7 items at limit 3 should take 3 pages, took %d" % pages)
    ok("pagination with limit/continue (7 items, limit 3)")

    # Without selectors the server knows how many items remain after a page.
    total = len(core.list_namespaced_config_map(NS).items)
    first = core.list_namespaced_config_map(NS, limit=3)
    check(first.metadata.remaining_item_count == total - 3,
          "unfiltered first page remainingItemCount should be %d, got %s"
          % (total - 3, first.metadata.remaining_item_count))
    nxt = core.list_namespaced_config_map(NS, limit=3, _continue=first.metadata._continue)
    check(nxt.metadata.resource_version == first.metadata.resource_version,
          "continued page is served at the first page's resourceVersion: %s vs %s"
          % (nxt.metadata.resource_version, first.metadata.resource_version))
    expect_api_error(400, core.list_namespaced_config_map, NS, limit=3,
                     _continue="not-a-valid-token", reason="BadRequest")
    ok("pagination remainingItemCount, snapshot resourceVersion, bad continue -> 400")


def test_watch(core):
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    events = []
    errors = []
    w = watch.Watch()

    def run():
        try:
            for ev in w.stream(core.list_namespaced_config_map, NS, resource_version=rv,
                               timeout_seconds=10):
                obj = ev["object"]
                if obj.metadata.name != "watched":
                    continue
                events.append((ev["type"], obj.metadata.resource_version,
                               dict(obj.data or {})))
                if ev["type"] == "DELETED":
                    w.stop()
                    return
        except Exception as e:  # reported by the main thread
            errors.append(repr(e))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    time.sleep(0.5)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "watched"},
                                           "data": {"n": "1"}})
    core.patch_namespaced_config_map("watched", NS, {"data": {"n": "2"}},
                                     _content_type=MERGE)
    core.delete_namespaced_config_map("watched", NS)
    t.join(25)
    w.stop()
    check(not errors, "watch stream raised: %s" % errors)
    types = [e[0] for e in events]
    check(types == ["ADDED", "MODIFIED", "DELETED"],
          "watch events for 'watched' should be ADDED, MODIFIED, DELETED: %s" % events)
    check(events[0][2] == {"n": "1"} and events[1][2] == {"n": "2"},
          "watch event objects carry the data at that time: %s" % events)
    rvs = [int(e[1]) for e in events]
    check(rvs[0] < rvs[1] <= rvs[2], "watch resourceVersions increase: %s" % rvs)
    ok("watch ADDED/MODIFIED/DELETED in order")


def test_secret(core):
    s = core.create_namespaced_secret(NS, {
        "metadata": {"name": "s1"},
        "type": "Opaque",
        "stringData": {"user": "admin"},
        "data": {"pw": base64.b64encode(b"hunter2").decode()},
    })
    check(s.type == "Opaque", "secret type: %s" % s.type)
    data = s.data or {}
    check(base64.b64decode(data.get("pw", "")) == b"hunter2", "secret data round-trips: %s" % data)
    check(base64.b64decode(data.get("user", "")) == b"admin",
          "stringData is folded into data: %s" % data)
    check(not s.string_data, "stringData is not stored: %s" % s.string_data)
    ok("secret create (stringData folded into data)")
    got = core.read_namespaced_secret("s1", NS)
    check(got.data == s.data, "secret read matches")
    p = core.patch_namespaced_secret("s1", NS, {"metadata": {"labels": {"l": "1"}}},
                                     _content_type=MERGE)
    check(labels_of(p) == {"l": "1"}, "secret patch label: %s" % labels_of(p))
    body = wire(p)
    body["data"] = {"x": base64.b64encode(b"y").decode()}
    body.pop("stringData", None)
    r = core.replace_namespaced_secret("s1", NS, body)
    check(set((r.data or {}).keys()) == {"x"}, "secret replace: %s" % r.data)
    expect_api_error(422, core.replace_namespaced_secret, "s1", NS,
                     dict(wire(r), type="kubernetes.io/tls"), reason="Invalid")
    ok("secret read/patch/replace (type immutable -> 422)")
    core.delete_namespaced_secret("s1", NS)
    expect_api_error(404, core.read_namespaced_secret, "s1", NS)
    ok("secret delete")


def test_services(core):
    svc = core.create_namespaced_service(NS, {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"selector": {"app": "web"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    })
    ip = svc.spec.cluster_ip
    check(ip and ip != "None", "clusterIP allocated: %r" % ip)
    ipaddress.ip_address(ip)
    check(svc.spec.cluster_ips == [ip], "clusterIPs mirrors clusterIP: %s" % svc.spec.cluster_ips)
    check(svc.spec.type == "ClusterIP", "default service type ClusterIP: %s" % svc.spec.type)
    check(svc.spec.ports[0].protocol == "TCP", "port protocol defaults to TCP")
    check(svc.spec.session_affinity == "None", "sessionAffinity defaults to None")
    ok("service ClusterIP create (ip %s)" % ip)

    np = core.create_namespaced_service(NS, {
        "metadata": {"name": "web-np"},
        "spec": {"type": "NodePort", "selector": {"app": "web"},
                 "ports": [{"port": 80, "targetPort": 8080}]},
    })
    port = np.spec.ports[0].node_port
    check(port is not None and 30000 <= port <= 32767, "nodePort in 30000-32767: %s" % port)
    check(np.spec.cluster_ip and np.spec.cluster_ip != ip,
          "second service gets a distinct clusterIP: %s vs %s" % (np.spec.cluster_ip, ip))
    etp = np.spec.external_traffic_policy
    check(etp == "Cluster", "NodePort externalTrafficPolicy defaults to Cluster: %s" % etp)
    ok("service NodePort create (nodePort %d)" % port)

    b = expect_api_error(422, core.create_namespaced_service, NS, {
        "metadata": {"name": "web-clash"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]},
    }, reason="Invalid")
    check("already allocated" in b.get("message", ""),
          "duplicate nodePort message mentions already allocated: %s" % b.get("message"))
    ok("service duplicate nodePort -> 422")

    hl = core.create_namespaced_service(NS, {
        "metadata": {"name": "headless"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    })
    check(hl.spec.cluster_ip == "None", "headless service keeps clusterIP None")
    ok("service headless create")

    p = core.patch_namespaced_service("web", NS, {"metadata": {"labels": {"v": "2"}}})
    check(p.spec.cluster_ip == ip, "patch keeps clusterIP")
    check(labels_of(p) == {"app": "web", "v": "2"}, "service patch labels: %s" % labels_of(p))
    body = wire(p)
    other = "10.0.0.1" if ip == "10.0.0.2" else "10.0.0.2"
    body["spec"]["clusterIP"] = other
    body["spec"]["clusterIPs"] = [other]
    expect_api_error(422, core.replace_namespaced_service, "web", NS, body,
                         reason="Invalid")
    ok("service patch; clusterIP immutable on replace -> 422")

    svcs = sorted(s.metadata.name for s in core.list_namespaced_service(NS).items)
    check(svcs == ["headless", "web", "web-np"], "service list: %s" % svcs)
    for n in ("web", "web-np", "headless"):
        core.delete_namespaced_service(n, NS)
    expect_api_error(404, core.read_namespaced_service, "web", NS)
    ok("service list/delete")


def test_pod(core):
    pod = core.create_namespaced_pod(NS, {
        "metadata": {"name": "p1", "labels": {"app": "p"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    })
    check(pod.status and pod.status.phase == "Pending",
          "new pod phase is Pending: %s" % (pod.status and pod.status.phase))
    check(not pod.spec.node_name, "no node assigned: %s" % pod.spec.node_name)
    check(pod.spec.restart_policy == "Always", "restartPolicy default Always")
    check(pod.spec.dns_policy == "ClusterFirst", "dnsPolicy default ClusterFirst")
    check(pod.spec.containers[0].image_pull_policy == "Always",
          "imagePullPolicy default Always for untagged image: %s"
          % pod.spec.containers[0].image_pull_policy)
    check(pod.spec.termination_grace_period_seconds == 30, "terminationGracePeriodSeconds 30")
    ok("pod create (Pending, defaults applied)")

    got = core.read_namespaced_pod("p1", NS)
    check(got.status.phase == "Pending", "pod stays Pending without nodes")
    pods = [p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=p").items]
    check(pods == ["p1"], "pod list by label: %s" % pods)
    p = core.patch_namespaced_pod("p1", NS, {"metadata": {"annotations": {"a": "b"}}})
    check((p.metadata.annotations or {}).get("a") == "b", "pod patch annotation")
    b = expect_api_error(422, core.patch_namespaced_pod, "p1", NS,
                         {"spec": {"restartPolicy": "Never"}}, reason="Invalid")
    check("pod updates may not change fields other than" in b.get("message", ""),
          "pod spec update message: %s" % b.get("message"))
    ok("pod read/list/patch (spec update forbidden -> 422)")

    core.delete_namespaced_pod("p1", NS)
    expect_api_error(404, core.read_namespaced_pod, "p1", NS)
    ok("pod delete (unscheduled pod gone immediately)")


def test_serviceaccount(core):
    sa = core.create_namespaced_service_account(NS, {"metadata": {"name": "robot"}})
    check(sa.metadata.name == "robot", "serviceaccount create")
    names = [s.metadata.name for s in core.list_namespaced_service_account(NS).items]
    check("robot" in names, "serviceaccount list includes robot: %s" % names)
    p = core.patch_namespaced_service_account(
        "robot", NS, {"automountServiceAccountToken": False}, _content_type=MERGE)
    check(p.automount_service_account_token is False, "serviceaccount merge patch")
    core.delete_namespaced_service_account("robot", NS)
    expect_api_error(404, core.read_namespaced_service_account, "robot", NS)
    ok("serviceaccount create/list/patch/delete")


def test_events(core):
    ev = core.create_namespaced_event(NS, {
        "metadata": {"name": "ev1"},
        "involvedObject": {"kind": "Pod", "namespace": NS, "name": "p1", "apiVersion": "v1"},
        "reason": "Testing", "message": "hello from python", "type": "Normal",
        "count": 1,
    })
    check(ev.reason == "Testing" and ev.message == "hello from python", "core event create")
    got = core.read_namespaced_event("ev1", NS)
    check(got.involved_object.name == "p1", "core event read")
    lst = [e.metadata.name for e in core.list_namespaced_event(NS).items]
    check("ev1" in lst, "core event list: %s" % lst)
    p = core.patch_namespaced_event("ev1", NS, {"count": 2}, _content_type=MERGE)
    check(p.count == 2, "core event patch count: %s" % p.count)
    ok("events (core/v1) create/read/list/patch")

    core.delete_namespaced_event("ev1", NS)
    expect_api_error(404, core.read_namespaced_event, "ev1", NS)
    ok("events delete")


def test_events_shared_storage(core, events_api):
    """core/v1 and events.k8s.io/v1 Events are two views of one stored resource."""
    core.create_namespaced_event(NS, {
        "metadata": {"name": "ev-shared"},
        "involvedObject": {"kind": "Pod", "namespace": NS, "name": "p1", "apiVersion": "v1"},
        "reason": "Testing", "message": "seen by both groups", "type": "Normal",
        # The events.k8s.io/v1 model requires eventTime, so give the core event one.
        "eventTime": "2026-01-01T00:00:00.000000Z", "action": "Testing",
        "reportingComponent": "example.com/py-test", "reportingInstance": "py-1",
    })
    ev2 = events_api.read_namespaced_event("ev-shared", NS)
    check(ev2.reason == "Testing" and ev2.note == "seen by both groups",
          "events.k8s.io/v1 view of the core event: reason=%s note=%s" % (ev2.reason, ev2.note))
    check(ev2.regarding.name == "p1", "events.k8s.io regarding maps from involvedObject")
    events_api.create_namespaced_event(NS, {
        "metadata": {"name": "ev-new"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/py-test", "reportingInstance": "py-1",
        "action": "Testing", "reason": "Created", "type": "Normal", "note": "new style",
        "regarding": {"kind": "Pod", "namespace": NS, "name": "p1", "apiVersion": "v1"},
    })
    old = core.read_namespaced_event("ev-new", NS)
    check(old.message == "new style" and old.involved_object.name == "p1",
          "core/v1 view of an events.k8s.io event: message=%s" % old.message)
    ok("events shared between core/v1 and events.k8s.io/v1")


def test_node(core):
    n = core.create_node({"metadata": {"name": NODE, "labels": {"py": SUFFIX}},
                          "spec": {"podCIDR": "10.244.9.0/24"}})
    check(n.metadata.name == NODE, "node create")
    check(not n.metadata.namespace, "node is cluster-scoped: ns=%r" % n.metadata.namespace)
    got = core.read_node(NODE)
    check(got.metadata.uid == n.metadata.uid, "node read")
    names = [x.metadata.name for x in core.list_node(label_selector="py=" + SUFFIX).items]
    check(names == [NODE], "node list by label: %s" % names)
    p = core.patch_node(NODE, {"spec": {"unschedulable": True}})
    check(p.spec.unschedulable is True, "node patch unschedulable")
    ok("node create/read/list/patch (cluster-scoped)")
    core.delete_node(NODE)
    expect_api_error(404, core.read_node, NODE)
    ok("node delete")


# ---------------------------------------------------------------- workloads

def test_deployment(apps):
    d = apps.create_namespaced_deployment(NS, {
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [
                             {"name": "app", "image": "nginx:1.27"},
                             {"name": "side", "image": "busybox:1.36"}]}},
        },
    })
    check(d.metadata.generation == 1, "deployment generation 1: %s" % d.metadata.generation)
    check(d.spec.strategy.type == "RollingUpdate", "deployment strategy default")
    check(d.spec.revision_history_limit == 10, "revisionHistoryLimit default 10")
    check(d.spec.progress_deadline_seconds == 600, "progressDeadlineSeconds default 600")
    ok("deployment create (defaults)")

    got = apps.read_namespaced_deployment("web", NS)
    check(got.metadata.uid == d.metadata.uid, "deployment read")
    lst = [x.metadata.name for x in apps.list_namespaced_deployment(NS).items]
    check(lst == ["web"], "deployment list: %s" % lst)
    ok("deployment read/list")

    # Strategic merge: containers merge by name, so "side" must survive.
    p = apps.patch_namespaced_deployment("web", NS, {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}}})
    cs = {c.name: c.image for c in p.spec.template.spec.containers}
    check(cs == {"app": "nginx:1.28", "side": "busybox:1.36"},
          "strategic merge patch merges containers by name: %s" % cs)
    check(p.metadata.generation == 2, "spec change bumps generation: %s" % p.metadata.generation)
    ok("deployment strategic merge patch")

    p = apps.patch_namespaced_deployment("web", NS, {"metadata": {"labels": {"m": "1"}}},
                                         _content_type=MERGE)
    check(labels_of(p) == {"app": "web", "m": "1"}, "deployment merge patch labels: %s"
          % labels_of(p))
    check(p.metadata.generation == 2, "metadata-only change keeps generation")
    ok("deployment merge patch")

    s = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
    check(s.spec.replicas == 3, "scale patch returns replicas 3: %s" % s.spec.replicas)
    s = apps.read_namespaced_deployment_scale("web", NS)
    check(s.kind == "Scale" and s.api_version == "autoscaling/v1",
          "scale kind/apiVersion: %s %s" % (s.kind, s.api_version))
    check(s.spec.replicas == 3, "read scale replicas 3: %s" % s.spec.replicas)
    check(s.status.selector == "app=web", "scale status.selector: %r" % s.status.selector)
    d2 = apps.read_namespaced_deployment("web", NS)
    check(d2.spec.replicas == 3, "deployment spec.replicas follows scale: %s" % d2.spec.replicas)
    # Controllers write the deployment's status concurrently: re-read on conflict, as a
    # real client does.
    s2 = with_conflict_retry(lambda: replace_scale(apps, 2))
    check(s2.spec.replicas == 2, "replace scale: %s" % s2.spec.replicas)
    ok("deployment scale subresource (patch/read/replace)")

    def pause():
        body = wire(apps.read_namespaced_deployment("web", NS))
        body["spec"]["paused"] = True
        return apps.replace_namespaced_deployment("web", NS, body)
    r = with_conflict_retry(pause)
    check(r.spec.paused is True, "deployment replace sets paused")

    def change_selector():
        body = wire(apps.read_namespaced_deployment("web", NS))
        body["spec"]["selector"] = {"matchLabels": {"app": "other"}}
        body["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
        return expect_api_error(422, apps.replace_namespaced_deployment, "web", NS, body,
                                reason="Invalid")
    with_conflict_retry(change_selector)
    ok("deployment replace (selector immutable -> 422)")

    apps.delete_namespaced_deployment("web", NS)
    expect_api_error(404, apps.read_namespaced_deployment, "web", NS)
    ok("deployment delete")


def test_replicaset(apps):
    rs = apps.create_namespaced_replica_set(NS, {
        "metadata": {"name": "rs1"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "rs"}},
                 "template": pod_template("rs")},
    })
    check(rs.spec.replicas == 2, "replicaset create")
    p = apps.patch_namespaced_replica_set("rs1", NS, {"spec": {"replicas": 0}})
    check(p.spec.replicas == 0, "replicaset patch replicas")
    s = apps.read_namespaced_replica_set_scale("rs1", NS)
    check(s.spec.replicas == 0, "replicaset scale read: %s" % s.spec.replicas)
    names = [x.metadata.name for x in apps.list_namespaced_replica_set(NS).items]
    check("rs1" in names, "replicaset list: %s" % names)
    apps.delete_namespaced_replica_set("rs1", NS)
    expect_api_error(404, apps.read_namespaced_replica_set, "rs1", NS)
    ok("replicaset create/patch/scale/list/delete")


def test_statefulset(apps):
    ss = apps.create_namespaced_stateful_set(NS, {
        "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "replicas": 1,
                 "selector": {"matchLabels": {"app": "db"}},
                 "template": pod_template("db")},
    })
    check(ss.spec.pod_management_policy == "OrderedReady",
          "statefulset podManagementPolicy default: %s" % ss.spec.pod_management_policy)
    check(ss.spec.update_strategy.type == "RollingUpdate", "statefulset updateStrategy default")
    p = apps.patch_namespaced_stateful_set_scale("db", NS, {"spec": {"replicas": 0}})
    check(p.spec.replicas == 0, "statefulset scale patch")
    check(apps.read_namespaced_stateful_set("db", NS).spec.replicas == 0,
          "statefulset replicas follows scale")
    apps.delete_namespaced_stateful_set("db", NS)
    expect_api_error(404, apps.read_namespaced_stateful_set, "db", NS)
    ok("statefulset create/scale/delete")


def test_daemonset(apps):
    ds = apps.create_namespaced_daemon_set(NS, {
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": pod_template("agent")},
    })
    check(ds.spec.update_strategy.type == "RollingUpdate", "daemonset updateStrategy default")
    p = apps.patch_namespaced_daemon_set("agent", NS, {"spec": {"minReadySeconds": 5}},
                                         _content_type=MERGE)
    check(p.spec.min_ready_seconds == 5, "daemonset merge patch")
    names = [x.metadata.name for x in apps.list_namespaced_daemon_set(NS).items]
    check(names == ["agent"], "daemonset list: %s" % names)
    apps.delete_namespaced_daemon_set("agent", NS)
    expect_api_error(404, apps.read_namespaced_daemon_set, "agent", NS)
    ok("daemonset create/patch/list/delete")


def test_jobs(batch):
    job = batch.create_namespaced_job(NS, {
        "metadata": {"name": "once"},
        "spec": {"template": pod_template("job", restart_policy="Never"), "backoffLimit": 2},
    })
    sel = (job.spec.selector.match_labels or {}) if job.spec.selector else {}
    check(sel.get("batch.kubernetes.io/controller-uid") == job.metadata.uid,
          "job selector generated from uid: %s" % sel)
    tl = job.spec.template.metadata.labels or {}
    check(tl.get("batch.kubernetes.io/job-name") == "once",
          "job template labels include job-name: %s" % tl)
    check(job.spec.completions == 1 and job.spec.parallelism == 1,
          "job completions/parallelism default 1")
    p = batch.patch_namespaced_job("once", NS, {"spec": {"suspend": True}})
    check(p.spec.suspend is True, "job patch suspend")
    batch.delete_namespaced_job("once", NS, propagation_policy="Background")
    expect_api_error(404, batch.read_namespaced_job, "once", NS)
    ok("job create (generated selector)/patch/delete")

    expect_api_error(422, batch.create_namespaced_job, NS, {
        "metadata": {"name": "bad"},
        "spec": {"template": pod_template("job", restart_policy="Always")},
    }, reason="Invalid")
    ok("job with restartPolicy Always -> 422")

    cj = batch.create_namespaced_cron_job(NS, {
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *",
                 "jobTemplate": {"spec": {"template": pod_template("cron", "OnFailure")}}},
    })
    check(cj.spec.concurrency_policy == "Allow", "cronjob concurrencyPolicy default")
    check(cj.spec.suspend is False, "cronjob suspend default false")
    p = batch.patch_namespaced_cron_job("nightly", NS, {"spec": {"suspend": True}},
                                        _content_type=MERGE)
    check(p.spec.suspend is True, "cronjob merge patch suspend")
    expect_api_error(422, batch.patch_namespaced_cron_job, "nightly", NS,
                     {"spec": {"schedule": "not a schedule"}}, _content_type=MERGE,
                     reason="Invalid")
    names = [x.metadata.name for x in batch.list_namespaced_cron_job(NS).items]
    check(names == ["nightly"], "cronjob list: %s" % names)
    batch.delete_namespaced_cron_job("nightly", NS)
    expect_api_error(404, batch.read_namespaced_cron_job, "nightly", NS)
    ok("cronjob create/patch/invalid schedule 422/list/delete")


def test_lease(coord):
    le = coord.create_namespaced_lease(NS, {
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
    })
    check(le.spec.holder_identity == "a", "lease create")
    body = wire(le)
    body["spec"]["holderIdentity"] = "b"
    body["spec"]["leaseTransitions"] = 1
    r = coord.replace_namespaced_lease("leader", NS, body)
    check(r.spec.holder_identity == "b" and r.spec.lease_transitions == 1, "lease replace")
    expect_api_error(409, coord.replace_namespaced_lease, "leader", NS, body, reason="Conflict")
    p = coord.patch_namespaced_lease("leader", NS, {"spec": {"leaseDurationSeconds": 30}})
    check(p.spec.lease_duration_seconds == 30, "lease patch")
    coord.delete_namespaced_lease("leader", NS)
    expect_api_error(404, coord.read_namespaced_lease, "leader", NS)
    ok("lease create/replace/stale-replace 409/patch/delete")


def test_endpointslice(disc):
    es = disc.create_namespaced_endpoint_slice(NS, {
        "metadata": {"name": "web-abc", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    })
    check(es.address_type == "IPv4", "endpointslice addressType")
    check(es.endpoints[0].addresses == ["10.1.2.3"], "endpointslice endpoints")
    lst = disc.list_namespaced_endpoint_slice(
        NS, label_selector="kubernetes.io/service-name=web").items
    check([x.metadata.name for x in lst] == ["web-abc"], "endpointslice list by label")
    p = disc.patch_namespaced_endpoint_slice("web-abc", NS, {
        "endpoints": [{"addresses": ["10.1.2.4"]}]}, _content_type=MERGE)
    check([e.addresses for e in p.endpoints] == [["10.1.2.4"]], "endpointslice merge patch")
    expect_api_error(422, disc.create_namespaced_endpoint_slice, NS, {
        "metadata": {"name": "bad-slice"}, "addressType": "IPv4",
        "endpoints": [{"addresses": ["not-an-ip"]}]}, reason="Invalid")
    disc.delete_namespaced_endpoint_slice("web-abc", NS)
    expect_api_error(404, disc.read_namespaced_endpoint_slice, "web-abc", NS)
    ok("endpointslice create/list/patch/invalid 422/delete")


# ---------------------------------------------------------------- driver

def main():
    config.load_kube_config()
    core = client.CoreV1Api()
    apps = client.AppsV1Api()
    batch = client.BatchV1Api()
    coord = client.CoordinationV1Api()
    disc = client.DiscoveryV1Api()
    events_api = client.EventsV1Api()

    steps = [
        lambda: test_namespace(core),
        lambda: test_configmap(core),
        lambda: test_selectors(core),
        lambda: test_pagination(core),
        lambda: test_watch(core),
        lambda: test_secret(core),
        lambda: test_services(core),
        lambda: test_pod(core),
        lambda: test_serviceaccount(core),
        lambda: test_events(core),
        lambda: test_node(core),
        lambda: test_deployment(apps),
        lambda: test_replicaset(apps),
        lambda: test_statefulset(apps),
        lambda: test_daemonset(apps),
        lambda: test_jobs(batch),
        lambda: test_lease(coord),
        lambda: test_endpointslice(disc),
        # Last, so that a failure here does not hide the workload checks above.
        lambda: test_events_shared_storage(core, events_api),
    ]
    failure = None
    try:
        for step in steps:
            step()
    except CheckFailed as e:
        failure = "CHECK FAILED %s: %s" % (where(e), e)
    except ApiException as e:
        failure = "UNEXPECTED API ERROR %s: HTTP %s %s\n%s" % (where(e), e.status, e.reason,
                                                              e.body)
    except Exception:
        failure = "UNEXPECTED ERROR:\n" + traceback.format_exc()
    finally:
        cleanup_failure = cleanup(core)

    if failure is None and cleanup_failure is not None:
        failure = cleanup_failure
    if failure is not None:
        print(failure, file=sys.stderr)
        print("FAILED after %d passed checks" % len(PASSED), file=sys.stderr)
        return 1
    print("all %d checks passed" % len(PASSED))
    return 0


def where(exc):
    """The innermost line of this script on the exception's traceback (skips library frames)."""
    here = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__
            and f.name not in ("check", "expect_api_error")]
    if not here:
        return ""
    f = here[-1]
    return "(line %d in %s: %s)" % (f.lineno, f.name, (f.line or "").strip())


def cleanup(core):
    """Remove our Node and namespace; namespace deletion is asynchronous upstream."""
    try:
        core.delete_node(NODE)
    except ApiException as e:
        if e.status != 404:
            return "cleanup: deleting node %s: HTTP %s" % (NODE, e.status)
    try:
        core.delete_namespace(NS)
    except ApiException as e:
        if e.status == 404:
            return None
        return "cleanup: deleting namespace %s: HTTP %s %s" % (NS, e.status, e.body)
    try:
        ns = core.read_namespace(NS)
    except ApiException as e:
        if e.status == 404:
            print("ok   namespace delete (gone)")
            return None
        return "cleanup: reading namespace after delete: HTTP %s" % e.status
    if ns.metadata.deletion_timestamp is None or ns.status.phase != "Terminating":
        return ("CHECK FAILED: deleted namespace should be Terminating or gone: "
                "deletionTimestamp=%s phase=%s" % (ns.metadata.deletion_timestamp,
                                                   ns.status.phase))
    print("ok   namespace delete (Terminating)")
    return None


if __name__ == "__main__":
    sys.exit(main())
