//! kubeadm's `CRI` check (a container runtime answers on its socket) and the one its
//! users trip over next: the runtime's cgroup driver must be the kubelet's, or the
//! kubelet's pods are killed and restarted over and over. containerd's comes from
//! `SystemdCgroup` in its config (default false: cgroupfs), CRI-O's from
//! `cgroup_manager` (default systemd), the kubelet's from `cgroupDriver` in
//! `/var/lib/kubelet/config.yaml` (kubeadm's default: systemd).

use std::path::PathBuf;
use std::time::Duration;

use super::{Check, Status};
use crate::host::read::{HostFiles, LocalRoot};
use crate::model::host::Probe;

/// The sockets kubeadm looks for, in its order, with the runtime behind each.
pub const KNOWN_SOCKETS: &[(&str, Runtime)] = &[
    ("/run/containerd/containerd.sock", Runtime::Containerd),
    ("/run/crio/crio.sock", Runtime::CriO),
    ("/run/cri-dockerd.sock", Runtime::CriDockerd),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Containerd,
    CriO,
    CriDockerd,
}

/// `systemd` or `cgroupfs`, and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Driver {
    pub name: String,
    pub source: String,
}

/// `unix:///run/x.sock` or `/run/x.sock` as a path on the host (`/var/run` is `/run`).
pub fn socket_path(endpoint: &str) -> String {
    let p = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    match p.strip_prefix("/var/run/") {
        Some(rest) => format!("/run/{rest}"),
        None => p.to_string(),
    }
}

/// containerd's driver from its config: any `SystemdCgroup` key (the runc options of
/// config version 2 or 3); absent means containerd's default, cgroupfs.
pub fn containerd_driver(config: &str) -> Result<bool, String> {
    let value = toml::Value::Table(
        toml::from_str::<toml::Table>(config)
            .map_err(|e| format!("config.toml does not parse: {}", e.message()))?,
    );
    fn find(v: &toml::Value) -> Option<bool> {
        match v {
            toml::Value::Table(t) => t.iter().find_map(|(k, v)| {
                if k == "SystemdCgroup" {
                    v.as_bool()
                } else {
                    find(v)
                }
            }),
            _ => None,
        }
    }
    Ok(find(&value).unwrap_or(false))
}

/// The kubelet's `cgroupDriver` from its config file's text.
pub fn kubelet_driver(config: &str) -> Option<String> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(config).ok()?;
    v.get("cgroupDriver")?.as_str().map(str::to_string)
}

fn runtime_driver(root: &LocalRoot, runtime: Runtime) -> Result<Driver, String> {
    match runtime {
        Runtime::Containerd => {
            let file = "/etc/containerd/config.toml";
            match root.read_text(file) {
                Probe::Found(t) => containerd_driver(&t).map(|systemd| Driver {
                    name: if systemd { "systemd" } else { "cgroupfs" }.into(),
                    source: format!("{file} SystemdCgroup = {systemd}"),
                }),
                Probe::Missing => Ok(Driver {
                    name: "cgroupfs".into(),
                    source: format!("no {file}: containerd's default"),
                }),
                Probe::Error(e) => Err(e),
            }
        }
        Runtime::CriO => {
            let mut texts = Vec::new();
            if let Probe::Found(t) = root.read_text("/etc/crio/crio.conf") {
                texts.push(t);
            }
            if let Probe::Found(mut names) = root.list_dir("/etc/crio/crio.conf.d") {
                names.sort();
                for n in names {
                    if let Probe::Found(t) = root.read_text(&format!("/etc/crio/crio.conf.d/{n}")) {
                        texts.push(t);
                    }
                }
            }
            let set = texts.iter().rev().find_map(|t| {
                t.lines().find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == "cgroup_manager").then(|| v.trim().trim_matches('"').to_string())
                })
            });
            Ok(match set {
                Some(name) => Driver {
                    name,
                    source: "/etc/crio cgroup_manager".into(),
                },
                None => Driver {
                    name: "systemd".into(),
                    source: "CRI-O's default".into(),
                },
            })
        }
        Runtime::CriDockerd => Err("cri-dockerd's driver is Docker's (docker info)".into()),
    }
}

/// Whether something accepts connections on the socket within `timeout`.
async fn socket_live(path: PathBuf, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, tokio::net::UnixStream::connect(&path)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs())),
    }
}

pub(crate) async fn checks(
    root: &LocalRoot,
    cri_socket: Option<&str>,
    timeout: Duration,
) -> Vec<Check> {
    let mut out = Vec::new();
    // The named socket, or the first known one that exists.
    let chosen: Option<(String, Runtime)> = match cri_socket {
        Some(s) => {
            let path = socket_path(s);
            let runtime = if path.contains("crio") {
                Runtime::CriO
            } else if path.contains("dockerd") {
                Runtime::CriDockerd
            } else {
                Runtime::Containerd
            };
            Some((path, runtime))
        }
        None => KNOWN_SOCKETS
            .iter()
            .find(|(p, _)| root.0.join(p.trim_start_matches('/')).exists())
            .map(|(p, r)| (p.to_string(), *r)),
    };
    let Some((path, runtime)) = chosen else {
        out.push(
            Check::new(
                "CRI",
                Status::Fail,
                "no container runtime socket (containerd, CRI-O, cri-dockerd) found",
            )
            .fix("apt-get install -y containerd && systemctl enable --now containerd"),
        );
        return out;
    };
    let on_host = root.0.join(path.trim_start_matches('/'));
    out.push(match socket_live(on_host, timeout).await {
        Ok(()) => Check::pass("CRI", format!("unix://{path} accepts connections")),
        Err(e) => Check::new(
            "CRI",
            Status::Fail,
            format!("unix://{path}: the runtime does not answer ({e})"),
        )
        .fix(match runtime {
            Runtime::CriO => "systemctl restart crio",
            Runtime::CriDockerd => "systemctl restart cri-docker",
            Runtime::Containerd => "systemctl restart containerd",
        }),
    });
    let kubelet = match root.read_text("/var/lib/kubelet/config.yaml") {
        Probe::Found(t) => match kubelet_driver(&t) {
            Some(d) => Ok(Driver {
                name: d,
                source: "/var/lib/kubelet/config.yaml".into(),
            }),
            None => Ok(Driver {
                name: "systemd".into(),
                source: "/var/lib/kubelet/config.yaml without cgroupDriver: kubeadm's default"
                    .into(),
            }),
        },
        Probe::Missing => Ok(Driver {
            name: "systemd".into(),
            source: "kubeadm's default (no kubelet config yet)".into(),
        }),
        Probe::Error(e) => Err(e),
    };
    let id = "cgroup-driver";
    out.push(match (runtime_driver(root, runtime), kubelet) {
        (Ok(r), Ok(k)) if r.name == k.name => Check::pass(
            id,
            format!("runtime {} ({}), kubelet {} ({})", r.name, r.source, k.name, k.source),
        ),
        (Ok(r), Ok(k)) => Check::new(
            id,
            Status::Fail,
            format!(
                "runtime uses {} ({}) but the kubelet {} ({}): pods get killed and restarted",
                r.name, r.source, k.name, k.source
            ),
        )
        .fix(match (runtime, k.name.as_str()) {
            (Runtime::Containerd, "systemd") => "set SystemdCgroup = true under the runc options in /etc/containerd/config.toml, then systemctl restart containerd".to_string(),
            (Runtime::Containerd, _) => "set SystemdCgroup = false in /etc/containerd/config.toml (or cgroupDriver: systemd in the kubelet config), then restart both".to_string(),
            _ => format!("make the runtime's cgroup manager {} (or the kubelet's cgroupDriver {}) and restart both", k.name, r.name),
        }),
        (Err(e), _) | (_, Err(e)) => Check::new(id, Status::Unknown, e),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_driver_from_v2_and_v3_configs() {
        let v2 = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true
"#;
        assert_eq!(containerd_driver(v2), Ok(true));
        let v3 = "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\nSystemdCgroup = false\n";
        assert_eq!(containerd_driver(v3), Ok(false));
        assert_eq!(containerd_driver("version = 2\n"), Ok(false));
        assert!(containerd_driver("[[[").is_err());
        assert_eq!(
            kubelet_driver("kind: KubeletConfiguration\ncgroupDriver: cgroupfs\n").as_deref(),
            Some("cgroupfs")
        );
        assert_eq!(
            socket_path("unix:///var/run/crio/crio.sock"),
            "/run/crio/crio.sock"
        );
    }
}
