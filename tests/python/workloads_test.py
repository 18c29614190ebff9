"""The official Python client drives the bootcamp's workload flow against an rkube server
with simulated nodes: a Deployment is scheduled and runs, scales, rolls out a new image,
and its ReplicaSets and pods are garbage collected on delete.

Run by tests/python_client.rs with KUBECONFIG set; exits non-zero on the first failure.
"""

import sys
import time
import uuid

from kubernetes import client, config

NS = "pyw-" + uuid.uuid4().hex[:8]
DEADLINE = 120


def eventually(what, fn):
    end = time.time() + DEADLINE
    while time.time() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit("timed out waiting for " + what)


def running_pods(core, selector):
    pods = core.list_namespaced_pod(NS, label_selector=selector).items
    return [p for p in pods
            if p.metadata.deletion_timestamp is None
            and p.status.phase == "Running"
            and any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))]


def main():
    config.load_kube_config()
    core, apps = client.CoreV1Api(), client.AppsV1Api()
    core.create_namespace({"metadata": {"name": NS}})
    try:
        body = {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "web:v1"}]}},
            },
        }
        apps.create_namespaced_deployment(NS, body)
        eventually("2 ready replicas", lambda: (apps.read_namespaced_deployment("web", NS).status.ready_replicas or 0) == 2)
        pods = running_pods(core, "app=web")
        assert len(pods) == 2 and all(p.spec.node_name for p in pods), pods
        assert all(p.status.pod_ip for p in pods), [p.status.pod_ip for p in pods]
        print("ok   deployment scheduled and running")

        apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
        eventually("3 running pods", lambda: len(running_pods(core, "app=web")) == 3)
        print("ok   scaled to 3")

        apps.patch_namespaced_deployment("web", NS, {"spec": {"template": {"spec": {
            "containers": [{"name": "web", "image": "web:v2"}]}}}})

        def rolled_out():
            d = apps.read_namespaced_deployment("web", NS)
            s = d.status
            return (s.observed_generation >= d.metadata.generation
                    and (s.updated_replicas or 0) == 3 and (s.available_replicas or 0) == 3
                    and (s.replicas or 0) == 3)
        eventually("rollout to v2", rolled_out)
        pods = running_pods(core, "app=web")
        assert sorted(p.spec.containers[0].image for p in pods) == ["web:v2"] * 3, pods
        sets = apps.list_namespaced_replica_set(NS, label_selector="app=web").items
        assert sorted((r.spec.replicas, r.metadata.annotations["deployment.kubernetes.io/revision"]) for r in sets) == [(0, "1"), (3, "2")], \
            [(r.metadata.name, r.spec.replicas) for r in sets]
        print("ok   rolled out v2 (old ReplicaSet at 0)")

        apps.delete_namespaced_deployment("web", NS)
        eventually("ReplicaSets and pods collected", lambda: not apps.list_namespaced_replica_set(NS).items
                   and not core.list_namespaced_pod(NS).items)
        print("ok   deployment delete cascades")
    finally:
        core.delete_namespace(NS)
    eventually("namespace gone", lambda: NS not in [n.metadata.name for n in core.list_namespace().items])
    print("ok   namespace deleted")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("CHECK FAILED: %r" % (e,), file=sys.stderr)
        sys.exit(1)
