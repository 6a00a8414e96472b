//! The lab kubelet: one worker task per pod on a lab node drives it through
//! ContainerCreating (RBD lock and watcher, like the old in-tree plugin), Running,
//! readiness, crash loops and termination. A node the scenario took down does nothing:
//! its pods' locks stay where they are, as after a real node crash.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::scheduler::set_condition;
use super::{Ctx, is_deleting, str_of};
use crate::api::store::now_rfc3339;
use crate::members::{EtcdMember, EtcdMemberSpec};
use crate::rbd;
use crate::scenario::{CniKind, MemberKind, PodInfo, PodValues, klog_time};

#[path = "kubelet_real.rs"]
mod real;
#[path = "kubelet_status.rs"]
mod status;

/// What the scenario says this pod does.
#[derive(Debug, Clone, Default)]
pub struct PodPlan {
    pub ready_after: Duration,
    pub logs: Vec<String>,
    pub crash: Option<Crash>,
    pub sandbox_failure: Option<(String, String)>,
    pub mount_failure: Option<String>,
    /// The staged mount failure's Event reason (`FailedMount`, `FailedAttachVolume`).
    pub mount_failure_reason: String,
    /// Name of the etcd cluster token when this pod is an etcd member.
    pub etcd: Option<EtcdPlan>,
}

#[derive(Debug, Clone)]
pub struct Crash {
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    pub logs: Vec<String>,
    pub run_for: Duration,
}

impl Crash {
    /// A container that fails at once with `message` as its last log line.
    pub(crate) fn error(message: String) -> Self {
        Crash {
            exit_code: 1,
            reason: "Error".into(),
            logs: vec![message.clone()],
            message,
            run_for: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EtcdPlan {
    pub statefulset: String,
}

pub fn reconcile(ctx: &Arc<Ctx>) {
    for (name, node) in &ctx.nodes {
        if !node.alive.load(std::sync::atomic::Ordering::Relaxed) {
            continue;
        }
        for entry in ctx.store.pods_on_node(&ctx.kinds.pods, name) {
            let mut workers = ctx.workers.lock().unwrap_or_else(|p| p.into_inner());
            let running = workers.get(&entry.uid).is_some_and(|h| !h.is_finished());
            if running {
                continue;
            }
            let pod = entry.value();
            let terminal = matches!(str_of(&pod, &["status", "phase"]), "Succeeded" | "Failed");
            if terminal && !is_deleting(&pod) {
                continue;
            }
            let ctx2 = ctx.clone();
            let ns = entry.field("metadata.namespace").to_string();
            let pod_name = entry.field("metadata.name").to_string();
            let uid = entry.uid.clone();
            let node_name = name.clone();
            workers.insert(
                entry.uid.clone(),
                tokio::spawn(async move {
                    PodWorker::new(ctx2, ns, pod_name, uid, node_name)
                        .run()
                        .await
                }),
            );
        }
    }
    let mut workers = ctx.workers.lock().unwrap_or_else(|p| p.into_inner());
    workers.retain(|_, h| !h.is_finished());
}

enum PodState {
    Present(Value),
    Deleting,
    Gone,
}

/// A mounted RBD volume on this node.
struct Mounted {
    spec: String,
    watcher: Option<std::process::Child>,
    /// Staged by ceph-csi's node plugin: its watcher is the node's, not the pod's.
    csi: bool,
}

struct PodWorker {
    ctx: Arc<Ctx>,
    ns: String,
    name: String,
    uid: String,
    node: String,
    mounts: Vec<Mounted>,
    member: Option<EtcdMember>,
    /// The pod sandbox's id (what host-local records as the container id).
    sandbox_id: String,
    /// Set once the CNI plugin gave the sandbox an address: teardown releases it.
    cni_address: Option<std::net::Ipv4Addr>,
    /// The subnet (gateway and prefix) that address is in, from flannel's subnet.env.
    cni_subnet: Option<crate::scenario::Ipv4Cidr>,
    /// The sandbox and process of a pod the lab runs for real.
    real: Option<crate::pods::RealPod>,
}

/// Why the worker stopped driving the pod.
enum Stop {
    /// Deleted (or going): clean up and remove the pod.
    Deleted,
    /// The node went down: leave everything as it is (locks stay).
    NodeDown,
}

impl PodWorker {
    fn new(ctx: Arc<Ctx>, ns: String, name: String, uid: String, node: String) -> Self {
        Self {
            ctx,
            ns,
            name,
            uid,
            node,
            mounts: Vec::new(),
            member: None,
            sandbox_id: format!(
                "{:032x}{:032x}",
                rand::random::<u128>(),
                rand::random::<u128>()
            ),
            cni_address: None,
            cni_subnet: None,
            real: None,
        }
    }

    fn state(&self) -> PodState {
        match self
            .ctx
            .store
            .get(&self.ctx.kinds.pods, &self.ns, &self.name)
        {
            Some(e) if e.uid == self.uid => {
                let v = e.value();
                if is_deleting(&v) {
                    PodState::Deleting
                } else {
                    PodState::Present(v)
                }
            }
            _ => PodState::Gone,
        }
    }

    /// Sleeps in small steps, returning early when the pod is deleted or the node dies.
    async fn wait(&self, d: Duration) -> Result<(), Stop> {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            self.check()?;
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(());
            }
            tokio::time::sleep((deadline - now).min(Duration::from_millis(200))).await;
        }
    }

    fn check(&self) -> Result<Value, Stop> {
        if !self.ctx.node_alive(&self.node) {
            return Err(Stop::NodeDown);
        }
        match self.state() {
            PodState::Present(v) => Ok(v),
            PodState::Deleting | PodState::Gone => Err(Stop::Deleted),
        }
    }

    fn update(&self, f: impl FnOnce(&mut Value)) -> Option<Value> {
        self.ctx
            .store
            .mutate(&self.ctx.kinds.pods, &self.ns, &self.name, None, |p| {
                if p["metadata"]["uid"] != self.uid.as_str() {
                    return Err(crate::api::status::ApiError::conflict(
                        "pods", "", "pods", &self.name,
                    ));
                }
                f(p);
                Ok(())
            })
            .ok()
            .map(|e| e.value())
    }

    fn event(&self, pod: &Value, type_: &str, reason: &str, message: &str) {
        self.ctx
            .event(pod, type_, reason, message, "kubelet", Some(&self.node));
    }

    async fn run(mut self) {
        let outcome = self.drive().await;
        // The node is down: its processes are gone with it, but nothing is cleaned up.
        for m in &mut self.mounts {
            if let Some(mut w) = m.watcher.take() {
                let _ = w.kill();
                let _ = w.wait();
            }
        }
        if let Some(member) = &mut self.member {
            member.stop().await;
            self.ctx.set_main_pid(&self.ns, &self.name, None);
        }
        // A real pod's processes and namespaces go either way (a node that dies takes
        // them with it); its address reservation follows the CNI rules below.
        if let Some(real) = self.real.take() {
            real.tear_down(&self.ctx).await;
        }
        // A pod that ran to completion (restartPolicy Never/OnFailure) gives its
        // sandbox's address back, as the kubelet tears down a finished pod's sandbox.
        if outcome.is_ok() && self.cni_address.take().is_some() {
            let root = self.ctx.paths.host_root(&self.node);
            super::cni::del(&root, &self.sandbox_id);
            super::cni::record(&self.ctx, &self.node, &self.sandbox_id, false);
        }
        if let Err(Stop::Deleted) = outcome {
            self.stop_containers();
            // CNI DEL: a clean teardown releases the address (a node that went down
            // never runs it, so its reservations stay behind).
            if self.cni_address.take().is_some() {
                let root = self.ctx.paths.host_root(&self.node);
                match self.ctx.cni() {
                    Some(CniKind::Calico) => super::cni::del_calico(&self.ctx, &self.sandbox_id),
                    _ => super::cni::del(&root, &self.sandbox_id),
                }
                super::cni::record(&self.ctx, &self.node, &self.sandbox_id, false);
            }
            self.unmount().await;
            self.ctx.logs.remove_pod(&self.ns, &self.name);
            if let PodState::Deleting = self.state() {
                let _ = self.ctx.store.delete(
                    &self.ctx.kinds.pods,
                    &self.ns,
                    &self.name,
                    Some(0),
                    Some(&self.uid),
                );
            }
        }
    }

    async fn drive(&mut self) -> Result<(), Stop> {
        let pod = self.check()?;
        let etcd = etcd_member_of(&self.ctx, &pod);
        let containers: Vec<(String, String)> = pod["spec"]["containers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        (
                            str_of(c, &["name"]).to_string(),
                            str_of(c, &["image"]).to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let node_ip = self
            .ctx
            .nodes
            .get(&self.node)
            .map(|n| n.ip.to_string())
            .unwrap_or_default();
        let host_network = pod["spec"]["hostNetwork"].as_bool().unwrap_or(false);
        // Pods on the pod network get their address from the CNI plugin when the
        // scenario has the lab play it, and so do pods the lab runs for real (in
        // their own namespaces); without namespaces, etcd members keep a loopback
        // address their processes can listen on.
        let real = crate::pods::runs_for_real(&self.ctx, &pod);
        let on_cni =
            !host_network && (real.is_some() || (self.ctx.causal_network() && etcd.is_none()));
        let mut pod_ip = match (str_of(&pod, &["status", "podIP"]), &etcd) {
            _ if on_cni => String::new(),
            // A host-network pod's IP is its node's, as a real kubelet reports it.
            _ if host_network && !node_ip.is_empty() => node_ip.clone(),
            (_, Some(_)) => self.ctx.member_ip(&self.ns, &self.name).to_string(),
            ("", None) => self.ctx.allocate_pod_ip().to_string(),
            (ip, None) => ip.to_string(),
        };
        let plan = plan_for(&self.ctx, &pod, &pod_ip, &node_ip, &self.sandbox_id);
        let start = now_rfc3339();
        let waiting_statuses = |reason: &str| -> Value {
            json!(containers.iter().map(|(n, img)| json!({"name": n, "image": img, "imageID": "", "ready": false, "restartCount": 0, "started": false, "state": {"waiting": {"reason": reason}}})).collect::<Vec<_>>())
        };
        // Init containers run (and complete) before the containers: until then every
        // container waits on `PodInitializing` (kubectl shows `Init:0/N`).
        let init_containers: Vec<(String, String)> = pod["spec"]["initContainers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        (
                            str_of(c, &["name"]).to_string(),
                            str_of(c, &["image"]).to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let statuses = waiting_statuses(if init_containers.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        });
        let init_statuses: Vec<Value> = init_containers.iter().map(|(n, img)| json!({"name": n, "image": img, "imageID": "", "ready": false, "restartCount": 0, "started": false, "state": {"waiting": {"reason": "PodInitializing"}}})).collect();
        self.update(|p| {
            if !init_statuses.is_empty() {
                p["status"]["initContainerStatuses"] = json!(init_statuses);
            }
            p["status"]["phase"] = json!("Pending");
            p["status"]["hostIP"] = json!(node_ip);
            p["status"]["hostIPs"] = json!([{"ip": node_ip}]);
            p["status"]["startTime"] = json!(start);
            set_condition(p, "PodReadyToStartContainers", "False", None, None);
            if init_statuses.is_empty() {
                set_condition(p, "Initialized", "True", None, None);
            } else {
                let names: Vec<&str> = init_containers.iter().map(|c| c.0.as_str()).collect();
                set_condition(
                    p,
                    "Initialized",
                    "False",
                    Some("ContainersNotInitialized"),
                    Some(&format!(
                        "containers with incomplete status: [{}]",
                        names.join(" ")
                    )),
                );
            }
            set_condition(
                p,
                "Ready",
                "False",
                Some("ContainersNotReady"),
                Some(&format!(
                    "containers with unready status: [{}]",
                    containers
                        .iter()
                        .map(|c| c.0.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                )),
            );
            set_condition(
                p,
                "ContainersReady",
                "False",
                Some("ContainersNotReady"),
                None,
            );
            set_condition(p, "PodScheduled", "True", None, None);
            p["status"]["containerStatuses"] = statuses;
        });

        if let Some((reason, message)) = &plan.sandbox_failure {
            loop {
                let pod = self.check()?;
                self.event(&pod, "Warning", reason, message);
                self.wait(self.ctx.knobs.mount_retry).await?;
            }
        }
        if on_cni {
            pod_ip = self.set_up_network().await?.to_string();
        }
        self.mount_volumes(&plan).await?;
        if real.is_some() {
            self.create_sandbox(host_network).await?;
        }
        self.update(|p| {
            p["status"]["podIP"] = json!(pod_ip);
            p["status"]["podIPs"] = json!([{"ip": pod_ip}]);
            set_condition(p, "PodReadyToStartContainers", "True", None, None);
        });
        self.run_init_containers(&init_containers);
        if let (Some(runs), Some(_)) = (real, &self.real) {
            let policy = match runs {
                crate::pods::Runs::Member => "Always",
                crate::pods::Runs::HostImage => str_of(&pod, &["spec", "restartPolicy"]),
            };
            return self.run_real(&containers, policy).await;
        }

        let mut restarts = 0i64;
        loop {
            self.start_containers(&plan, &pod_ip).await?;
            let crash = self.what_runs(&plan);
            let started = now_rfc3339();
            let lines = crash
                .as_ref()
                .map(|c| c.logs.clone())
                .unwrap_or_else(|| plan.logs.clone());
            for (c, _) in &containers {
                for l in &lines {
                    self.ctx.logs.append(&self.ns, &self.name, c, l);
                }
            }
            self.mark_running(&started, restarts == 0, &containers);
            match &crash {
                Some(crash) => {
                    self.wait(self.ctx.knobs.scaled(crash.run_for)).await?;
                    restarts += 1;
                    self.crash(crash, restarts, &containers).await?;
                }
                None => {
                    self.become_ready(&plan, &pod_ip).await?;
                    // Steady state: watch for deletion, a dead node, or an exited member.
                    loop {
                        self.wait(Duration::from_millis(300)).await?;
                        if let Some(m) = &mut self.member
                            && let Some(status) = m.exited()
                        {
                            let tail = m.log_tail(5);
                            for (c, _) in &containers {
                                for l in &tail {
                                    self.ctx.logs.append(&self.ns, &self.name, c, l);
                                }
                            }
                            self.member = None;
                            self.ctx.set_main_pid(&self.ns, &self.name, None);
                            restarts += 1;
                            let crash = Crash {
                                exit_code: status.code().unwrap_or(1),
                                reason: if status.success() {
                                    "Completed".into()
                                } else {
                                    "Error".into()
                                },
                                message: tail.last().cloned().unwrap_or_default(),
                                logs: vec![],
                                run_for: Duration::ZERO,
                            };
                            self.crash(&crash, restarts, &containers).await?;
                            break;
                        }
                    }
                }
            }
        }
    }

    /// A container exits: terminated state, previous logs, CrashLoopBackOff, back-off.
    async fn crash(
        &mut self,
        crash: &Crash,
        restarts: i64,
        containers: &[(String, String)],
    ) -> Result<(), Stop> {
        let finished = now_rfc3339();
        let pod = self.update(|p| {
            if let Some(cs) = p["status"]["containerStatuses"].as_array_mut() {
                for c in cs {
                    let started = c["state"]["running"]["startedAt"].clone();
                    let term = json!({"exitCode": crash.exit_code, "reason": crash.reason, "message": crash.message, "startedAt": started, "finishedAt": finished, "containerID": c["containerID"]});
                    c["lastState"] = json!({"terminated": term});
                    c["restartCount"] = json!(restarts);
                    c["ready"] = json!(false);
                    c["started"] = json!(false);
                    c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!("back-off 10s restarting failed container={} pod={}_{}({})", c["name"].as_str().unwrap_or_default(), self.name, self.ns, self.uid)}});
                }
            }
            set_condition(p, "Ready", "False", Some("ContainersNotReady"), None);
            set_condition(p, "ContainersReady", "False", Some("ContainersNotReady"), None);
        });
        for (c, _) in containers {
            self.ctx.logs.rotate(&self.ns, &self.name, c);
            if let Some(pod) = &pod {
                self.event(
                    pod,
                    "Warning",
                    "BackOff",
                    &format!(
                        "Back-off restarting failed container {c} in pod {}_{}({})",
                        self.name, self.ns, self.uid
                    ),
                );
            }
        }
        self.wait(self.ctx.crash_backoff(restarts)).await
    }

    /// The containers start: the crash they run into, if any. Network components the
    /// lab plays decide it from the state they find; others follow the scenario.
    fn what_runs(&self, plan: &PodPlan) -> Option<Crash> {
        if self.ctx.causal_network()
            && let Ok(pod) = self.check()
        {
            if super::flannel::is_kube_proxy(&pod) {
                super::flannel::kube_proxy_started(&self.ctx, &self.node);
            }
            if super::flannel::is_calico_agent(&pod) {
                // calico-node's startup: the name the CNI plugin needs.
                let path = self
                    .ctx
                    .paths
                    .host_root(&self.node)
                    .join(super::cni::CALICO_NODENAME);
                let written = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|()| std::fs::write(&path, &self.node));
                if let Err(e) = written {
                    return Some(Crash::error(format!(
                        "failed to write {}: {e}",
                        super::cni::CALICO_NODENAME
                    )));
                }
            }
            if super::flannel::is_agent(&pod) {
                return super::flannel::start(&self.ctx, &self.node, &self.ns, &self.name).err();
            }
        }
        plan.crash.clone()
    }

    /// CNI ADD for the pod's sandbox, retried like the kubelet does until it works:
    /// each failure is the kubelet's FailedCreatePodSandBox event with the plugin's
    /// error.
    async fn set_up_network(&mut self) -> Result<std::net::Ipv4Addr, Stop> {
        let root = self.ctx.paths.host_root(&self.node);
        loop {
            let pod = self.check()?;
            let added = match self.ctx.cni() {
                Some(CniKind::Calico) => {
                    super::cni::add_calico(&self.ctx, &self.node, &self.sandbox_id)
                }
                _ => super::cni::add_in_subnet(
                    &root,
                    &self.sandbox_id,
                    self.ctx.host_local_wording(),
                )
                .map(|(ip, subnet)| {
                    self.cni_subnet = Some(subnet);
                    ip
                }),
            };
            match added {
                Ok(ip) => {
                    super::cni::record(&self.ctx, &self.node, &self.sandbox_id, true);
                    self.cni_address = Some(ip);
                    return Ok(ip);
                }
                Err(plugin) => {
                    let message = format!(
                        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container \"{}\" network for pod \"{}\": networkPlugin cni failed to set up pod \"{}_{}\" network: {plugin}",
                        self.sandbox_id, self.name, self.name, self.ns
                    );
                    self.event(&pod, "Warning", "FailedCreatePodSandBox", &message);
                    self.wait(self.ctx.knobs.mount_retry).await?;
                }
            }
        }
    }

    async fn become_ready(&mut self, plan: &PodPlan, pod_ip: &str) -> Result<(), Stop> {
        self.wait(self.ctx.knobs.scaled(plan.ready_after)).await?;
        // etcd opens its client port before the cluster forms: that is "ready".
        while let Some(member) = self.member.as_mut() {
            if member.ready(Duration::from_secs(1)).await {
                break;
            }
            if member.exited().is_some() {
                return Ok(());
            }
            self.wait(Duration::from_millis(300)).await?;
        }
        let _ = pod_ip;
        self.mark_ready();
        Ok(())
    }

    async fn start_containers(&mut self, plan: &PodPlan, pod_ip: &str) -> Result<(), Stop> {
        let Some(etcd) = &plan.etcd else {
            return Ok(());
        };
        if self.member.is_some() {
            return Ok(());
        }
        let Ok(ip) = pod_ip.parse() else {
            return Ok(());
        };
        let pvc_uid = self
            .pvc_uids()
            .into_iter()
            .next()
            .unwrap_or_else(|| self.uid.clone());
        // The initial cluster: every ordinal up to the StatefulSet's replicas, at the IPs
        // their pods have (a pod not yet created gets its IP reserved on first start).
        let initial = super::workloads::etcd_initial_cluster(
            &self.ctx,
            &self.ns,
            &etcd.statefulset,
            &self.name,
            ip,
        );
        let spec = EtcdMemberSpec {
            name: self.name.clone(),
            ip,
            data_dir: self.ctx.paths.etcd_data(&pvc_uid),
            initial_cluster: initial,
            cluster_token: format!("{}-{}", self.ns, etcd.statefulset),
            log_file: self
                .ctx
                .paths
                .logs()
                .join(format!("etcd-{}-{}.log", self.ns, self.name)),
            pid_dir: self.ctx.paths.pids(),
        };
        match EtcdMember::start(&spec) {
            Ok(m) => {
                self.ctx.set_main_pid(&self.ns, &self.name, Some(m.pid()));
                self.member = Some(m);
            }
            Err(e) => {
                tracing::warn!("cannot start etcd member {}: {e:#}", self.name);
                if let Ok(pod) = self.check() {
                    self.event(&pod, "Warning", "Failed", &format!("Error: {e:#}"));
                }
            }
        }
        Ok(())
    }

    fn pvc_uids(&self) -> Vec<String> {
        let Ok(pod) = self.check() else {
            return Vec::new();
        };
        pvc_names(&pod)
            .into_iter()
            .filter_map(|(_, claim)| {
                self.ctx
                    .store
                    .get(&self.ctx.kinds.pvcs, &self.ns, &claim)
                    .map(|e| e.uid.clone())
            })
            .collect()
    }

    /// Waits for each PVC to be bound, then locks and watches its RBD image from this
    /// node, retrying while another node holds the lock.
    async fn mount_volumes(&mut self, plan: &PodPlan) -> Result<(), Stop> {
        let pod = self.check()?;
        for (volume, claim) in pvc_names(&pod) {
            let pv_name = loop {
                let pvc = self
                    .ctx
                    .store
                    .get_value(&self.ctx.kinds.pvcs, &self.ns, &claim);
                match pvc {
                    Some(pvc) if str_of(&pvc, &["status", "phase"]) == "Bound" => {
                        break str_of(&pvc, &["spec", "volumeName"]).to_string();
                    }
                    _ => {}
                }
                self.wait(Duration::from_millis(200)).await?;
            };
            let Some(pv) = self.ctx.store.get_value(&self.ctx.kinds.pvs, "", &pv_name) else {
                continue;
            };
            let Some(spec) = rbd_image_spec(&pv) else {
                continue;
            };
            let csi = super::csi::is_csi_pv(&pv);
            let mut failures = 0u32;
            loop {
                let pod = self.check()?;
                // The kubelet's volume operations back off exponentially (500ms
                // doubling to 2m2s); the lab doubles its retry up to 16 times it.
                let delay = self.ctx.knobs.mount_retry * (1 << failures.min(4));
                if let Some(msg) = &plan.mount_failure {
                    self.event(&pod, "Warning", &plan.mount_failure_reason, msg);
                    failures += 1;
                    self.wait(delay).await?;
                    continue;
                }
                if csi {
                    match super::csi::node::stage(&self.ctx, &pv, &self.node, &spec).await {
                        Ok(()) => break,
                        Err(super::csi::node::StageWait::Unattached) => {
                            self.wait(Duration::from_millis(200)).await?;
                        }
                        Err(super::csi::node::StageWait::Failed(msg)) => {
                            self.event(&pod, "Warning", "FailedMount", &msg);
                            failures += 1;
                            self.wait(delay).await?;
                        }
                    }
                    continue;
                }
                if let Some(msg) = multi_attach(&self.ctx, &pod, &pv, &self.node) {
                    self.ctx.event(
                        &pod,
                        "Warning",
                        "FailedAttachVolume",
                        &msg,
                        "attachdetach-controller",
                        None,
                    );
                    failures += 1;
                    self.wait(delay).await?;
                    continue;
                }
                let checked = match super::rbd_map::check(&self.ctx, &pod, &pv, &self.node).await {
                    Ok(()) => self.lock_image(&spec).await.map_err(|msg| {
                        format!("MountVolume.WaitForAttach failed for volume \"{pv_name}\" : {msg}")
                    }),
                    Err(msg) => Err(msg),
                };
                match checked {
                    Ok(()) => break,
                    Err(msg) => {
                        self.event(&pod, "Warning", "FailedMount", &msg);
                        failures += 1;
                        self.wait(delay).await?;
                    }
                }
            }
            if csi {
                self.mounts.push(Mounted {
                    spec,
                    watcher: None,
                    csi: true,
                });
                continue;
            }
            let watcher = self.ctx.ceph.as_ref().and_then(|c| {
                let log = self.ctx.paths.logs().join(format!(
                    "watch-{}-{}.log",
                    self.node,
                    spec.replace('/', "_")
                ));
                rbd::spawn_watcher(c.node_rbd(&self.node), &spec, Some(&log))
                    .map_err(|e| tracing::warn!("cannot start watcher for {spec}: {e:#}"))
                    .ok()
            });
            self.mounts.push(Mounted {
                spec,
                watcher,
                csi: false,
            });
            let _ = volume;
        }
        Ok(())
    }

    /// The in-tree plugin's lock: our cookie is fine, anyone else's blocks the mount.
    /// Re-reads the real lock every time, so a lock removed by any means lets us in.
    async fn lock_image(&self, spec: &str) -> Result<(), String> {
        let Some(ceph) = &self.ctx.ceph else {
            return Ok(());
        };
        let cookie = format!("kubelet_lock_magic_{}", self.node);
        let image = spec.rsplit('/').next().unwrap_or(spec);
        let lockers = rbd::lock_list(ceph.node_rbd(&self.node), spec)
            .await
            .map_err(|e| format!("rbd: cannot list locks of image {image}: {e:#}"))?;
        if lockers.iter().any(|l| l.id == cookie) {
            return Ok(());
        }
        if !lockers.is_empty() {
            return Err(format!("rbd: image {image} is locked by other nodes"));
        }
        rbd::lock_add(ceph.node_rbd(&self.node), spec, &cookie)
            .await
            .map_err(|e| {
                if rbd::cli_error(&e).is_some_and(|c| c.is_busy() || c.is_exists()) {
                    format!("rbd: image {image} is locked by other nodes")
                } else {
                    format!("rbd: failed to lock image {image}: {e:#}")
                }
            })
    }

    /// Releases this node's locks (the in-tree plugin's detach); unstages ceph-csi
    /// volumes no other pod on this node still uses.
    async fn unmount(&mut self) {
        let csi: Vec<String> = self
            .mounts
            .iter()
            .filter(|m| m.csi)
            .map(|m| m.spec.clone())
            .collect();
        self.mounts.retain(|m| !m.csi);
        for spec in csi {
            if !self.other_pod_here_uses(&spec) {
                super::csi::node::unstage(&self.node, &spec);
            }
        }
        let Some(ceph) = &self.ctx.ceph else { return };
        let cookie = format!("kubelet_lock_magic_{}", self.node);
        for m in self.mounts.drain(..) {
            if let Ok(lockers) = rbd::lock_list(ceph.node_rbd(&self.node), &m.spec).await {
                for l in lockers.iter().filter(|l| l.id == cookie) {
                    if let Err(e) =
                        rbd::lock_remove(ceph.node_rbd(&self.node), &m.spec, &l.id, &l.locker).await
                    {
                        tracing::warn!("cannot release lock on {}: {e:#}", m.spec);
                    }
                }
            }
        }
    }
}

impl PodWorker {
    /// Whether another pod on this node mounts the image `spec`.
    fn other_pod_here_uses(&self, spec: &str) -> bool {
        self.ctx
            .store
            .pods_on_node(&self.ctx.kinds.pods, &self.node)
            .iter()
            .filter(|e| e.uid != self.uid)
            .any(|e| {
                let pod = e.value();
                let ns = str_of(&pod, &["metadata", "namespace"]);
                pvc_names(&pod).iter().any(|(_, claim)| {
                    self.ctx
                        .store
                        .get_value(&self.ctx.kinds.pvcs, ns, claim)
                        .and_then(|pvc| {
                            let pv = str_of(&pvc, &["spec", "volumeName"]).to_string();
                            self.ctx.store.get_value(&self.ctx.kinds.pvs, "", &pv)
                        })
                        .and_then(|pv| rbd_image_spec(&pv))
                        .is_some_and(|s| s == spec)
                })
            })
    }
}

/// The attach/detach controller's refusal: a ReadWriteOnce volume already used by a
/// running pod on another node cannot be attached here.
fn multi_attach(ctx: &Ctx, pod: &Value, pv: &Value, node: &str) -> Option<String> {
    // ceph-csi volumes go through VolumeAttachments (`csi::attacher`).
    if super::csi::is_csi_pv(pv) {
        return None;
    }
    let modes = pv["spec"]["accessModes"].as_array()?;
    if modes.len() != 1 || modes[0] != "ReadWriteOnce" {
        return None;
    }
    let ns = str_of(pod, &["metadata", "namespace"]);
    let claim = str_of(pv, &["spec", "claimRef", "name"]);
    let me = str_of(pod, &["metadata", "uid"]);
    let elsewhere = ctx.store.list(&ctx.kinds.pods, Some(ns)).iter().any(|e| {
        let other = e.value();
        e.uid != me
            && str_of(&other, &["spec", "nodeName"]) != node
            && !str_of(&other, &["spec", "nodeName"]).is_empty()
            && str_of(&other, &["status", "phase"]) == "Running"
            && pvc_names(&other).iter().any(|(_, c)| c == claim)
    });
    elsewhere.then(|| {
        format!(
            "Multi-Attach error for volume \"{}\" Volume is already exclusively attached to one \
             node and can't be attached to another",
            str_of(pv, &["metadata", "name"])
        )
    })
}

/// `(volume name, claim name)` for each PVC volume of a pod.
pub fn pvc_names(pod: &Value) -> Vec<(String, String)> {
    pod["spec"]["volumes"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    v["persistentVolumeClaim"]["claimName"]
                        .as_str()
                        .map(|c| (str_of(v, &["name"]).to_string(), c.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `pool/image` of a PV backed by RBD (in-tree `rbd` or ceph-csi).
pub fn rbd_image_spec(pv: &Value) -> Option<String> {
    let rbd = &pv["spec"]["rbd"];
    if let Some(image) = rbd["image"].as_str() {
        let pool = rbd["pool"].as_str().unwrap_or("rbd");
        return Some(format!("{pool}/{image}"));
    }
    let csi = &pv["spec"]["csi"];
    if csi["driver"] == "rbd.csi.ceph.com" {
        let attrs = &csi["volumeAttributes"];
        let image = attrs["imageName"].as_str()?;
        let pool = attrs["pool"].as_str().unwrap_or("rbd");
        return Some(format!("{pool}/{image}"));
    }
    None
}

/// The kind of member the scenario marks a pod's StatefulSet as, with its name.
pub fn member_kind_of(ctx: &Ctx, pod: &Value) -> Option<(MemberKind, String)> {
    let ns = str_of(pod, &["metadata", "namespace"]);
    let owner = pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["kind"] == "StatefulSet")?;
    let sts = owner["name"].as_str()?;
    ctx.scenario
        .members
        .iter()
        .find(|m| m.namespace == ns && m.stateful_set == sts)
        .map(|m| (m.kind, sts.to_string()))
}

/// The StatefulSet a pod belongs to when the scenario marks it as an etcd member.
pub fn etcd_member_of(ctx: &Ctx, pod: &Value) -> Option<EtcdPlan> {
    match member_kind_of(ctx, pod)? {
        (MemberKind::Etcd, statefulset) => Some(EtcdPlan { statefulset }),
        _ => None,
    }
}

/// The scenario's behaviour for a pod (first match wins), its texts rendered for
/// this pod, and etcd membership.
pub fn plan_for(ctx: &Ctx, pod: &Value, pod_ip: &str, node_ip: &str, sandbox_id: &str) -> PodPlan {
    let labels: BTreeMap<String, String> = pod["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let node = str_of(pod, &["spec", "nodeName"]);
    let info = PodInfo {
        namespace: str_of(pod, &["metadata", "namespace"]),
        name: str_of(pod, &["metadata", "name"]),
        node: (!node.is_empty()).then_some(node),
        labels: &labels,
        host_network: pod["spec"]["hostNetwork"].as_bool().unwrap_or(false),
    };
    let values = PodValues {
        name: info.name.to_string(),
        namespace: info.namespace.to_string(),
        uid: str_of(pod, &["metadata", "uid"]).to_string(),
        ip: pod_ip.to_string(),
        node: node.to_string(),
        node_ip: node_ip.to_string(),
        sandbox_id: sandbox_id.to_string(),
        klog_time: klog_time(jiff::Timestamp::now()),
    };
    let mut plan = PodPlan {
        etcd: etcd_member_of(ctx, pod),
        ready_after: Duration::from_millis(300),
        ..Default::default()
    };
    if let Some(b) = ctx.scenario.behaviour_for(&info) {
        if let Some(r) = b.ready_after {
            plan.ready_after = r;
        }
        plan.logs = b.logs.iter().map(|l| values.render(l)).collect();
        plan.crash = b.crash_loop.as_ref().map(|c| Crash {
            exit_code: c.exit_code,
            reason: c.reason.clone(),
            message: values.render(c.message.as_deref().unwrap_or_default()),
            logs: c.logs.iter().map(|l| values.render(l)).collect(),
            run_for: c.run_for,
        });
        plan.sandbox_failure = b
            .sandbox_failure
            .as_ref()
            .map(|f| (f.reason.clone(), values.render(&f.message)));
        plan.mount_failure = b.mount_failure.as_ref().map(|m| values.render(&m.message));
        plan.mount_failure_reason = b
            .mount_failure
            .as_ref()
            .map_or_else(|| "FailedMount".to_string(), |m| m.reason.clone());
    }
    if plan.logs.is_empty() && plan.crash.is_none() {
        plan.logs = vec![format!("{} started", info.name)];
    }
    plan
}
