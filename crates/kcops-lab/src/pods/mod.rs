//! The lab's pod runtime: pods the lab runs for real (etcd members, and pods of
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

/// Whether the lab runs this pod for real: the lab has namespaces, the pod is on the
/// pod network, and it is an etcd member.
pub(crate) fn runs_for_real(ctx: &Ctx, pod: &Value) -> bool {
    ctx.net.is_some()
        && !pod["spec"]["hostNetwork"].as_bool().unwrap_or(false)
        && !matches!(ctx.cni(), Some(crate::scenario::CniKind::Calico))
        && crate::controllers::kubelet::etcd_member_of(ctx, pod).is_some()
}

/// A pod's sandbox and its container's process.
pub(crate) struct RealPod {
    uid: String,
    ns: String,
    name: String,
    node: String,
    netns: String,
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
        sandbox_id: &str,
        ip: Ipv4Addr,
        gateway: Ipv4Cidr,
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
            mounts.push(Mount {
                source,
                target: m.mount_path.clone().into(),
                read_only: m.read_only,
            });
        }
        let hosts_file = dir.join("etc-hosts");
        let resolv = dir.join("resolv.conf");
        std::fs::write(&hosts_file, "")?;
        std::fs::write(&resolv, hosts::resolv_conf(&ns))?;
        mounts.push(Mount {
            source: hosts_file.clone(),
            target: "/etc/hosts".into(),
            read_only: false,
        });
        mounts.push(Mount {
            source: resolv,
            target: "/etc/resolv.conf".into(),
            read_only: false,
        });
        let netns = net.add_pod(node, sandbox_id, ip, gateway)?;
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
            spec,
            running: None,
        })
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
        if let Some(net) = &ctx.net {
            net.remove_pod(&self.node, &self.netns);
        }
        let _ = std::fs::remove_dir_all(volumes::pod_dir(ctx, &self.uid));
    }
}
