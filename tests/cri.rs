//! CRI end to end on the real runtime: our own containerd (config, socket and
//! state under a temp data dir), CNI bridge networking, the project's offline
//! images, and one bootcamp pod driven through every CRI call the kubelet
//! uses. Needs root and scripts/install-runtime.sh (containerd, runc, CNI
//! plugins) plus images/install-deps.sh; it fails, not skips, without them.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::node::{build_images, http_get, pids_mentioning, require_runtime, HostCleanup};
use rkube_cri::api;
use rkube_cri::{host, Containerd, ContainerdOptions};

const BOOTCAMP: &str = "gcr.io/google-samples/kubernetes-bootcamp:v1";
const PAUSE: &str = "registry.k8s.io/pause:3.9";

fn sandbox_config(
    uid: &str,
    hostname: &str,
    log_dir: &Path,
    cgroup: &str,
) -> api::PodSandboxConfig {
    api::PodSandboxConfig {
        metadata: Some(api::PodSandboxMetadata {
            name: "bootcamp".to_string(),
            uid: uid.to_string(),
            namespace: "default".to_string(),
            attempt: 0,
        }),
        hostname: hostname.to_string(),
        log_directory: log_dir.to_string_lossy().into_owned(),
        labels: [("rkube-test".to_string(), "cri".to_string())].into(),
        linux: Some(api::LinuxPodSandboxConfig {
            cgroup_parent: cgroup.to_string(),
            security_context: Some(api::LinuxSandboxSecurityContext {
                namespace_options: Some(api::NamespaceOption {
                    network: api::NamespaceMode::Pod as i32,
                    pid: api::NamespaceMode::Container as i32,
                    ipc: api::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config() -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: "bootcamp".to_string(),
            attempt: 0,
        }),
        image: Some(api::ImageSpec {
            image: BOOTCAMP.to_string(),
            ..Default::default()
        }),
        envs: vec![api::KeyValue {
            key: "RKUBE_TEST".to_string(),
            value: "cri".to_string(),
        }],
        log_path: "bootcamp/0.log".to_string(),
        linux: Some(api::LinuxContainerConfig::default()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootcamp_pod_through_cri_on_our_containerd() {
    require_runtime();
    let images = tempfile::tempdir().unwrap();
    build_images(images.path());

    // Short path: containerd's socket must fit in sun_path.
    let data_tmp = tempfile::Builder::new()
        .prefix("rkcri")
        .tempdir_in("/tmp")
        .unwrap();
    let data = data_tmp.path().to_path_buf();
    let pid = std::process::id();
    let bridge = format!("rkc{}", pid % 1_000_000);
    // Per-test subnet inside 10.250.0.0/16 so parallel runs don't share addresses.
    let subnet = format!("10.250.{}.0/24", 100 + pid % 150);
    let uid = format!("cri-test-{pid}");
    let cgroup_top = format!("/rkube-cri-test-{pid}");
    let cgroup = format!("{cgroup_top}/pod{uid}");
    let cleanup = HostCleanup {
        data: data.clone(),
        bridge: bridge.clone(),
        cgroup: cgroup_top.clone(),
        nft_table: None,
    };

    let options = ContainerdOptions {
        bridge: bridge.clone(),
        pod_subnet: subnet.clone(),
        start_timeout: Duration::from_secs(60),
        call_timeout: Duration::from_secs(60),
        ..ContainerdOptions::default()
    };
    let containerd = Containerd::start(&data, options).await.unwrap();
    let containerd_pid = containerd.pid();
    assert!(containerd_pid > 0);
    let cri = containerd.client();

    let version = cri.version().await.unwrap();
    assert_eq!(version.runtime_name, "containerd");
    assert_eq!(version.runtime_api_version, "v1");
    let conditions = cri.status(false).await.unwrap().status.unwrap().conditions;
    for wanted in ["RuntimeReady", "NetworkReady"] {
        let cond = conditions.iter().find(|c| c.r#type == wanted).unwrap();
        assert!(
            cond.status,
            "{wanted} is false: {} {}",
            cond.reason, cond.message
        );
    }

    containerd
        .import_image(&images.path().join("pause-3.9.tar"))
        .await
        .unwrap();
    containerd
        .import_image(&images.path().join("bootcamp-v1.tar"))
        .await
        .unwrap();
    let listed = containerd.list_images().await.unwrap();
    let tags: Vec<&str> = listed
        .iter()
        .flat_map(|i| i.repo_tags.iter().map(String::as_str))
        .collect();
    assert!(
        tags.contains(&PAUSE) && tags.contains(&BOOTCAMP),
        "{tags:?}"
    );
    let status = cri
        .image_status(BOOTCAMP)
        .await
        .unwrap()
        .expect("bootcamp image present");
    assert!(status.size > 0);
    assert!(cri
        .image_status("rkube.local/absent:1")
        .await
        .unwrap()
        .is_none());
    let pull = cri
        .pull_image("127.0.0.1:1/absent:1", None, None)
        .await
        .unwrap_err();
    assert!(
        pull.code().is_some(),
        "a failed pull carries the gRPC status: {pull}"
    );

    let log_dir = data.join("pods/default_bootcamp_cri");
    std::fs::create_dir_all(&log_dir).unwrap();
    let hostname = "bootcamp-pod";
    let sandbox = sandbox_config(&uid, hostname, &log_dir, &cgroup);

    let t0 = Instant::now();
    let pod_id = cri.run_pod_sandbox(sandbox.clone(), "").await.unwrap();
    let t_sandbox = t0.elapsed();
    let ctr_id = cri
        .create_container(&pod_id, container_config(), sandbox.clone())
        .await
        .unwrap();
    let t_create = t0.elapsed() - t_sandbox;
    cri.start_container(&ctr_id).await.unwrap();
    let total = t0.elapsed();
    eprintln!(
        "CRI timing: RunPodSandbox {:?}, CreateContainer {:?}, StartContainer {:?}, total {:?}",
        t_sandbox,
        t_create,
        total - t_sandbox - t_create,
        total
    );

    let sb = cri
        .pod_sandbox_status(&pod_id, false)
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(sb.state, api::PodSandboxState::SandboxReady as i32);
    let pod_ip = sb.network.unwrap().ip;
    assert!(
        pod_ip.starts_with(subnet.trim_end_matches("0/24")),
        "pod IP {pod_ip} not in {subnet}"
    );
    let cs = cri
        .container_status(&ctr_id, false)
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(cs.state, api::ContainerState::ContainerRunning as i32);
    assert!(cri
        .list_pod_sandbox(None)
        .await
        .unwrap()
        .iter()
        .any(|s| s.id == pod_id));
    assert!(cri
        .list_containers(None)
        .await
        .unwrap()
        .iter()
        .any(|c| c.id == ctr_id));

    let expected = format!("Hello Kubernetes bootcamp! | Running on: {hostname} | v=1");
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        match http_get(&pod_ip, 8080) {
            Ok(body) => break body,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for {pod_ip}:8080: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("GET http://{pod_ip}:8080 failed: {e}"),
        }
    };
    assert_eq!(body.trim_end(), expected);

    // CRI log format: RFC3339Nano time, stream, F (full line) or P (partial), message.
    let log_file = log_dir.join("bootcamp/0.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let start_line = loop {
        let text = std::fs::read_to_string(&log_file).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("Kubernetes Bootcamp App Started At:"))
        {
            break line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no start line in {}: {text:?}",
            log_file.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let fields: Vec<&str> = start_line.splitn(4, ' ').collect();
    assert_eq!(fields.len(), 4, "{start_line:?}");
    assert!(
        fields[0].len() >= 20 && fields[0].as_bytes()[10] == b'T',
        "time {:?}",
        fields[0]
    );
    assert_eq!((fields[1], fields[2]), ("stdout", "F"), "{start_line:?}");
    assert!(fields[3].starts_with("Kubernetes Bootcamp App Started At:"));

    let env = cri
        .exec_sync(&ctr_id, vec!["env".to_string()], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        env.exit_code,
        0,
        "stderr: {}",
        String::from_utf8_lossy(&env.stderr)
    );
    let env_text = String::from_utf8_lossy(&env.stdout);
    assert!(
        env_text.lines().any(|l| l == "RKUBE_TEST=cri"),
        "{env_text}"
    );
    assert!(
        env_text.lines().any(|l| l.starts_with("PATH=")),
        "{env_text}"
    );
    let failing = cri
        .exec_sync(
            &ctr_id,
            vec!["sh".into(), "-c".into(), "exit 3".into()],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(failing.exit_code, 3);

    let exec_url = cri
        .exec(api::ExecRequest {
            container_id: ctr_id.clone(),
            cmd: vec!["env".to_string()],
            stdout: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let attach_url = cri
        .attach(api::AttachRequest {
            container_id: ctr_id.clone(),
            stdout: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let pf_url = cri.port_forward(&pod_id, vec![8080]).await.unwrap();
    for url in [&exec_url, &attach_url, &pf_url] {
        assert!(url.starts_with("http://127.0.0.1:"), "streaming URL {url}");
    }

    // A containerd crash is survived: the supervisor restarts it, the client
    // reconnects, and the container kept running in its shim meanwhile.
    Command::new("kill")
        .args(["-KILL", &containerd_pid.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while containerd.restarts() == 0 || cri.version().await.is_err() {
        assert!(Instant::now() < deadline, "containerd was not restarted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let containerd_pid = containerd.pid();
    assert!(containerd_pid > 0);
    let cs = cri
        .container_status(&ctr_id, false)
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(cs.state, api::ContainerState::ContainerRunning as i32);
    assert_eq!(http_get(&pod_ip, 8080).unwrap().trim_end(), expected);

    let t1 = Instant::now();
    cri.stop_container(&ctr_id, Duration::from_secs(10))
        .await
        .unwrap();
    let exited = cri
        .container_status(&ctr_id, false)
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(exited.state, api::ContainerState::ContainerExited as i32);
    assert_eq!(exited.exit_code, 0, "bootcamp exits 0 on SIGTERM");
    cri.remove_container(&ctr_id).await.unwrap();
    cri.stop_pod_sandbox(&pod_id).await.unwrap();
    cri.remove_pod_sandbox(&pod_id).await.unwrap();
    eprintln!("CRI timing: stop + remove {:?}", t1.elapsed());
    let gone = cri.container_status(&ctr_id, false).await.unwrap_err();
    assert!(gone.is_not_found(), "{gone}");
    assert!(cri.list_pod_sandbox(None).await.unwrap().is_empty());

    containerd.shutdown().await;
    assert!(
        !Path::new(&format!("/proc/{containerd_pid}")).exists(),
        "containerd {containerd_pid} still running"
    );
    assert!(
        pids_mentioning(&data.to_string_lossy()).is_empty(),
        "processes still use {}",
        data.display()
    );

    assert!(
        host::delete_link(&bridge).unwrap(),
        "bridge {bridge} was not there"
    );
    assert!(!Path::new("/sys/class/net").join(&bridge).exists());
    host::unmount_below(&data).unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(&*data.to_string_lossy()),
        "mounts left under {}",
        data.display()
    );
    // containerd leaves the pod level of the cgroup tree; the kubelet removes it.
    assert!(
        host::remove_cgroup(&cgroup_top).unwrap() > 0,
        "no pod cgroup was created"
    );
    assert!(!Path::new("/sys/fs/cgroup/memory")
        .join(cgroup_top.trim_start_matches('/'))
        .exists());
    drop(cleanup);
    data_tmp.close().unwrap();
}
