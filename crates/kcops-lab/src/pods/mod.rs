//! The lab's pod runtime: pods the lab runs for real (etcd and ZooKeeper members, and pods of
//! host-runnable images) get a sandbox of their own — a network namespace with their
//! pod IP from the node's podCIDR, a mount namespace with their volumes at their
//! `mountPath`s, their hostname, lab DNS — and run their template's own command with
//! the host's binaries. Everything else stays an API object the kubelet plays.
//!
//! What a pod may rely on: `/bin/sh` and whatever the machine has installed; its
//! volumes (PVC: the lab's data dir for that claim, keyed by the claim's UID so it
//! outlives the pod; `emptyDir`; `configMap` files; `hostPath` under the node's host
//! root); `HOSTNAME` and `hostname` set to the pod's hostname; `/etc/hosts` resolving
//! its own hostname and every real pod's headless-Service names; exec probes run in
//! the same namespaces. There is no image filesystem, no user namespace, no cgroup.

pub(crate) mod container;
pub(crate) mod hosts;
pub(crate) mod sandbox;
pub(crate) mod spec;
pub(crate) mod volumes;
pub(crate) mod zookeeper;

use std::net::Ipv4Addr;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::controllers::Ctx;
use crate::scenario::Ipv4Cidr;
use container::{LogTarget, Running};
use hosts::DnsEntry;
use sandbox::{Mount, Sandbox};
use spec::{ContainerSpec, PodFacts};

/// How long a stopped container gets between SIGTERM and SIGKILL (etcd hands its
/// leadership over first).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Images whose pods run for real by default: what a node debug pod uses.
const DEFAULT_HOST_IMAGES: [&str; 4] = ["busybox", "debian", "ubuntu", "alpine"];

/// Why the lab runs a pod for real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runs {
    /// A member of a scenario's `members` StatefulSet (restarted whatever its policy).
    Member,
    /// A pod of a host-runnable image with a command of its own (its restartPolicy
    /// decides what an exit means).
    HostImage,
}

/// An image's name without registry, repository path, tag or digest.
fn image_name(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split(':').next().unwrap_or(last)
}

/// Whether (and why) the lab runs this pod for real: it needs the lab's namespaces;
/// on the pod network it needs flannel-style addressing (host-local in the podCIDR).
/// A host-runnable image without a command of its own stays a played pod (its image's
/// default would be a shell that exits at once).
pub(crate) fn runs_for_real(ctx: &Ctx, pod: &Value) -> Option<Runs> {
    ctx.net.as_ref()?;
    let host_network = pod["spec"]["hostNetwork"].as_bool().unwrap_or(false);
    let calico = matches!(ctx.cni(), Some(crate::scenario::CniKind::Calico));
    if crate::controllers::kubelet::member_kind_of(ctx, pod).is_some() {
        return (!host_network && !calico).then_some(Runs::Member);
    }
    let c = pod["spec"]["containers"].as_array()?.first()?;
    let has_command = c["command"].as_array().is_some_and(|a| !a.is_empty())
        || c["args"].as_array().is_some_and(|a| !a.is_empty());
    let name = image_name(c["image"].as_str().unwrap_or_default());
    let runnable = DEFAULT_HOST_IMAGES.contains(&name)
        || ctx
            .scenario
            .kubelet
            .host_runnable_images
            .iter()
            .any(|i| i == name);
    (has_command && runnable && (host_network || !calico)).then_some(Runs::HostImage)
}

/// The network a sandbox gets.
pub(crate) enum PodNetwork {
    /// Its own namespace with this address (from the CNI plugin) in `gateway`'s subnet.
    Own {
        sandbox_id: String,
        ip: Ipv4Addr,
        gateway: Ipv4Cidr,
    },
    /// The node's (`hostNetwork: true`).
    Node,
}

/// A pod's sandbox and its container's process.
pub(crate) struct RealPod {
    uid: String,
    ns: String,
    name: String,
    node: String,
    netns: String,
    /// Whether `netns` is the pod's own (removed with it), not its node's.
    own_netns: bool,
    sandbox: Sandbox,
    spec: ContainerSpec,
    running: Option<Running>,
}

impl RealPod {
    /// Creates the sandbox: the pod's network namespace at `ip`, its volumes, its
    /// hosts file (registered with lab DNS).
    pub(crate) fn create(
        ctx: &Ctx,
        pod: &Value,
        node: &str,
        network: PodNetwork,
    ) -> Result<RealPod> {
        let net = ctx
            .net
            .as_ref()
            .context("the lab has no network namespaces")?;
        let uid = crate::controllers::str_of(pod, &["metadata", "uid"]).to_string();
        let ns = crate::controllers::str_of(pod, &["metadata", "namespace"]).to_string();
        let name = crate::controllers::str_of(pod, &["metadata", "name"]).to_string();
        let node_ip = ctx
            .nodes
            .get(node)
            .map(|n| n.ip.to_string())
            .unwrap_or_default();
        let ip = match &network {
            PodNetwork::Own { ip, .. } => *ip,
            PodNetwork::Node => ctx.nodes.get(node).map(|n| n.ip).context("unknown node")?,
        };
        let facts = PodFacts {
            pod_ip: ip.to_string(),
            node_ip,
        };
        let spec = spec::container_of(pod, &facts).context("the pod has no container")?;
        let dir = volumes::pod_dir(ctx, &uid);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut mounts: Vec<Mount> = Vec::new();
        for m in &spec.mounts {
            let source = volumes::source(ctx, pod, node, &m.volume)?;
            let host_root = volumes::is_host_root(pod, &m.volume);
            mounts.push(Mount {
                source,
                target: m.mount_path.clone().into(),
                read_only: m.read_only,
                nested: false,
            });
            if host_root {
                mounts.extend(volumes::machine_binaries(ctx, node, &m.mount_path)?);
            }
        }
        if zookeeper::is_member(ctx, pod) {
            mounts.extend(zookeeper::image_mounts(&dir)?);
        }
        let hosts_file = dir.join("etc-hosts");
        let resolv = dir.join("resolv.conf");
        std::fs::write(&hosts_file, "")?;
        std::fs::write(&resolv, hosts::resolv_conf(&ns))?;
        mounts.push(Mount {
            source: hosts_file.clone(),
            target: "/etc/hosts".into(),
            read_only: false,
            nested: false,
        });
        mounts.push(Mount {
            source: resolv,
            target: "/etc/resolv.conf".into(),
            read_only: false,
            nested: false,
        });
        let (netns, own_netns) = match &network {
            PodNetwork::Own {
                sandbox_id,
                ip,
                gateway,
            } => (net.add_pod(node, sandbox_id, *ip, *gateway)?, true),
            PodNetwork::Node => (
                net.netns_of(node)
                    .context("the node has no network namespace")?
                    .to_string(),
                false,
            ),
        };
        let (hostname, subdomain) = spec::hostname_of(pod);
        ctx.dns.insert(
            &uid,
            DnsEntry {
                namespace: ns.clone(),
                hostname: hostname.clone(),
                subdomain,
                ip,
                hosts_file,
            },
        );
        Ok(RealPod {
            uid,
            ns,
            name,
            node: node.to_string(),
            sandbox: Sandbox {
                netns: netns.clone(),
                hostname,
                mounts,
            },
            netns,
            own_netns,
            spec,
            running: None,
        })
    }

    pub(crate) fn container_name(&self) -> &str {
        &self.spec.name
    }

    /// Starts the container's command (once; a running one is left alone).
    pub(crate) fn start(&mut self, ctx: &Ctx) -> Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let target = LogTarget {
            logs: ctx.logs.clone(),
            namespace: self.ns.clone(),
            pod: self.name.clone(),
            container: self.spec.name.clone(),
        };
        let running = Running::start(&self.sandbox, &self.spec, target, &ctx.paths.pids())?;
        ctx.set_main_pid(&self.ns, &self.name, Some(running.pid()));
        self.running = Some(running);
        Ok(())
    }

    /// The container's exit, once: its status and last lines. The next
    /// [`RealPod::start`] starts it again.
    pub(crate) fn take_exit(&mut self, ctx: &Ctx) -> Option<(ExitStatus, Vec<String>)> {
        let status = self.running.as_mut()?.exited()?;
        let tail = self.running.take().map(|r| r.tail()).unwrap_or_default();
        ctx.set_main_pid(&self.ns, &self.name, None);
        Some((status, tail))
    }

    pub(crate) fn is_running(&mut self) -> bool {
        self.running.as_mut().is_some_and(|r| r.exited().is_none())
    }

    /// The readiness probe, if the container has one.
    pub(crate) fn readiness(&self) -> Option<&spec::ExecProbe> {
        self.spec.readiness.as_ref()
    }

    /// The liveness probe, if the container has one.
    pub(crate) fn liveness(&self) -> Option<&spec::ExecProbe> {
        self.spec.liveness.as_ref()
    }

    /// Stops the container (a failed liveness probe); its exit follows as usual.
    pub(crate) async fn kill(&mut self) {
        if let Some(r) = self.running.as_mut() {
            r.stop(STOP_GRACE).await;
        }
    }

    /// Runs an exec probe in the pod's namespaces.
    pub(crate) async fn probe(&self, probe: &spec::ExecProbe) -> Result<(), String> {
        self.sandbox
            .run(&probe.command, &self.spec.env, probe.timeout)
            .await
    }

    /// Stops the container and removes the sandbox (network namespace, DNS entry).
    pub(crate) async fn tear_down(mut self, ctx: &Ctx) {
        if let Some(mut r) = self.running.take() {
            r.stop(STOP_GRACE).await;
        }
        ctx.set_main_pid(&self.ns, &self.name, None);
        ctx.dns.remove(&self.uid);
        if let Some(net) = ctx.net.as_ref().filter(|_| self.own_netns) {
            net.remove_pod(&self.node, &self.netns);
        }
        let _ = std::fs::remove_dir_all(volumes::pod_dir(ctx, &self.uid));
    }
}

#[cfg(test)]
mod tests {
    use super::image_name;

    #[test]
    fn image_names_lose_registry_tag_and_digest() {
        assert_eq!(image_name("busybox"), "busybox");
        assert_eq!(image_name("docker.io/library/busybox:1.36"), "busybox");
        assert_eq!(
            image_name("registry.local:5000/tools/debian:12@sha256:ab"),
            "debian"
        );
        assert_eq!(image_name("quay.io/coreos/etcd:v3.4.23"), "etcd");
    }
}
