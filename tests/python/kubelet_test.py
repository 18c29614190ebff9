"""The official Python client's streaming calls against a pod on a real rkube node:
exec through `connect_get_namespaced_pod_exec` (WebSocket channel protocol) and
`portforward` (plain WebSocket port-forwarding).

Run by tests/kubelet.rs with KUBECONFIG and POD set; exits non-zero on the first failure.
"""

import os
import sys

from kubernetes import client, config
from kubernetes.stream import portforward, stream


def check(what, cond, detail=""):
    if not cond:
        raise SystemExit("FAIL %s: %s" % (what, detail))
    print("ok   " + what)


def main():
    config.load_kube_config()
    core = client.CoreV1Api()
    pod = os.environ["POD"]

    out = stream(core.connect_get_namespaced_pod_exec, pod, "default",
                 command=["sh", "-c", "echo hello-$((6*7))"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    check("exec output", out == "hello-42\n", repr(out))

    resp = stream(core.connect_get_namespaced_pod_exec, pod, "default",
                  command=["sh", "-c", "echo oops >&2; exit 4"],
                  stderr=True, stdin=False, stdout=True, tty=False,
                  _preload_content=False)
    resp.run_forever(timeout=30)
    err = resp.read_stderr()
    check("exec exit code", resp.returncode == 4, repr(resp.returncode))
    check("exec stderr", "oops" in err, repr(err))

    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, "default",
                     ports="8080")
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.settimeout(20)
    sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if b"bootcamp" in data and data.endswith(b"\n"):
            break
    sock.close()
    text = data.decode(errors="replace")
    check("port-forward reaches the pod", "Hello Kubernetes bootcamp!" in text and pod in text, text)
    print("checks passed")


if __name__ == "__main__":
    main()
