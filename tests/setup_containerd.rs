//! The runtime checks of the setup preflight against a real containerd (Debian's
//! `containerd` package) that this test starts with its own config, root, state and
//! socket under a temporary host root — never the system's. The preflight must read
//! the socket as live, take the cgroup driver from that config, and fail with the fix
//! when the kubelet's config.yaml in the host root disagrees.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kcops::setup::preflight::{self, Check, PreflightInput, Role, Status};

struct Containerd(Child);

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
    let b = base.display();
    let r = root.display();
    let config = format!(
        r#"version = 2
root = "{b}/lib"
state = "{b}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{r}/run/containerd/containerd.sock"

[ttrpc]
  address = "{r}/run/containerd/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{b}/opt"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
"#
    );
    write(&root, "etc/containerd/config.toml", &config);
    write(
        &root,
        "var/lib/kubelet/config.yaml",
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n",
    );
    std::fs::create_dir_all(root.join("run/containerd")).unwrap();
    let log = std::fs::File::create(base.join("containerd.log")).unwrap();
    let daemon = Containerd(
        Command::new("containerd")
            .arg("--config")
            .arg(root.join("etc/containerd/config.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd is installed (apt-get install -y containerd)"),
    );
    let sock = root.join("run/containerd/containerd.sock");
    let started = Instant::now();
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "containerd did not listen on {}: {}",
            sock.display(),
            std::fs::read_to_string(base.join("containerd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

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
