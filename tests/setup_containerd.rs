//! The runtime checks of the setup preflight against a real containerd (Debian's
//! `containerd` package) that this test starts with its own config, root, state and
//! socket under a temporary host root — never the system's. The preflight must read
//! the socket as live, take the cgroup driver from that config, and fail with the fix
//! when the kubelet's config.yaml in the host root disagrees.

mod common;

use std::path::Path;

use common::containerd::Containerd;
use kcops::setup::preflight::{self, Check, PreflightInput, Role, Status};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

async fn runtime_checks(root: &Path) -> (Check, Check) {
    let mut input = PreflightInput::new(root, Role::Init);
    // Refused at once: this test is about the runtime, not the network.
    input.image_repository = "127.0.0.1:9".into();
    let checks = preflight::run(&input).await;
    let by = |id: &str| checks.iter().find(|c| c.id == id).cloned().unwrap();
    (by("CRI"), by("cgroup-driver"))
}

#[tokio::test]
async fn preflight_reads_a_live_containerd_and_its_cgroup_driver() {
    let base = std::env::temp_dir().join(format!("kcops-ctrd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    write(
        &root,
        "var/lib/kubelet/config.yaml",
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n",
    );
    let daemon = Containerd::start(&root, &base.join("scratch"), false);
    let sock = daemon.socket.clone();

    // Live socket; cgroupfs (SystemdCgroup = false) against the kubelet's systemd.
    let (cri, driver) = runtime_checks(&root).await;
    assert_eq!(cri.status, Status::Pass, "{cri:?}");
    assert_eq!(
        cri.found,
        "unix:///run/containerd/containerd.sock accepts connections"
    );
    assert_eq!(driver.status, Status::Fail, "{driver:?}");
    assert!(
        driver.found.starts_with("runtime uses cgroupfs (/etc/containerd/config.toml SystemdCgroup = false) but the kubelet systemd"),
        "{}",
        driver.found
    );
    assert!(
        driver.fix.contains("SystemdCgroup = true"),
        "{}",
        driver.fix
    );

    // The kubelet set to cgroupfs: they agree.
    write(
        &root,
        "var/lib/kubelet/config.yaml",
        "kind: KubeletConfiguration\ncgroupDriver: cgroupfs\n",
    );
    let (_, driver) = runtime_checks(&root).await;
    assert_eq!(driver.status, Status::Pass, "{driver:?}");

    // containerd gone, its socket left: not answering is a failure, not a pass.
    drop(daemon);
    if !sock.exists() {
        std::os::unix::net::UnixListener::bind(&sock)
            .map(drop)
            .unwrap();
    }
    let (cri, _) = runtime_checks(&root).await;
    assert_eq!(cri.status, Status::Fail, "{cri:?}");
    assert!(cri.fix.contains("systemctl restart containerd"));
    let _ = std::fs::remove_dir_all(&base);
}
