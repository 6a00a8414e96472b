//! A real containerd (Debian's `containerd` package) with its own config, root, state
//! and socket under a temporary host root — never the system's — for the setup
//! preflight's runtime checks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Containerd {
    child: Child,
    pub socket: PathBuf,
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Containerd {
    /// Writes `<root>/etc/containerd/config.toml` (runc's `SystemdCgroup` as given,
    /// state under `scratch`) and starts containerd on
    /// `<root>/run/containerd/containerd.sock`, waiting until it listens.
    pub fn start(root: &Path, scratch: &Path, systemd_cgroup: bool) -> Containerd {
        let (b, r) = (scratch.display(), root.display());
        // Socket paths are limited to 107 bytes: the ttrpc one (unused here) goes
        // somewhere short, whatever the host root's length.
        let ttrpc = std::env::temp_dir().join(format!(
            "kcops-ctrd-{}-{}.ttrpc",
            std::process::id(),
            rand_suffix()
        ));
        let t = ttrpc.display();
        let config = format!(
            r#"version = 2
root = "{b}/lib"
state = "{b}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{r}/run/containerd/containerd.sock"

[ttrpc]
  address = "{t}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{b}/opt"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = {systemd_cgroup}
"#
        );
        let file = root.join("etc/containerd/config.toml");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, config).unwrap();
        std::fs::create_dir_all(root.join("run/containerd")).unwrap();
        std::fs::create_dir_all(scratch).unwrap();
        let log = std::fs::File::create(scratch.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("containerd is installed (apt-get install -y containerd)");
        let socket = root.join("run/containerd/containerd.sock");
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "containerd did not listen on {}: {}",
                socket.display(),
                std::fs::read_to_string(scratch.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Containerd { child, socket }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
