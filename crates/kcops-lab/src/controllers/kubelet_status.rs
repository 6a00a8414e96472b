//! What the lab kubelet writes into a pod's status as its containers start, become
//! ready, and stop when the pod is deleted.

use serde_json::json;

use super::PodWorker;
use crate::api::store::now_rfc3339;
use crate::controllers::scheduler::set_condition;
use crate::controllers::{is_deleting, str_of};

impl PodWorker {
    /// The containers run (phase Running, not ready yet); the first time, with the
    /// kubelet's Pulled/Created/Started events.
    pub(super) fn mark_running(&self, started: &str, first: bool, containers: &[(String, String)]) {
        let pod = self.update(|p| {
            p["status"]["phase"] = json!("Running");
            if let Some(cs) = p["status"]["containerStatuses"].as_array_mut() {
                for c in cs {
                    c["state"] = json!({"running": {"startedAt": started}});
                    c["started"] = json!(true);
                    c["ready"] = json!(false);
                    c["imageID"] = json!(format!(
                        "{}@sha256:{:064x}",
                        c["image"].as_str().unwrap_or_default(),
                        0
                    ));
                    c["containerID"] =
                        json!(format!("containerd://{:064x}", rand::random::<u128>()));
                }
            }
        });
        if first && let Some(pod) = &pod {
            for (c, img) in containers {
                self.event(
                    pod,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{img}\" already present on machine"),
                );
                self.event(pod, "Normal", "Created", &format!("Created container: {c}"));
                self.event(pod, "Normal", "Started", &format!("Started container {c}"));
            }
        }
    }

    /// Ready: the containers' and the pod's conditions.
    pub(super) fn mark_ready(&self) {
        self.update(|p| {
            if let Some(cs) = p["status"]["containerStatuses"].as_array_mut() {
                for c in cs {
                    c["ready"] = json!(true);
                }
            }
            set_condition(p, "ContainersReady", "True", None, None);
            set_condition(p, "Ready", "True", None, None);
        });
    }

    /// Init containers run to completion (exit 0, empty logs), one after the other.
    pub(super) fn run_init_containers(&self, init_containers: &[(String, String)]) {
        for (c, img) in init_containers {
            let started = now_rfc3339();
            let pod = self.update(|p| {
                if let Some(cs) = p["status"]["initContainerStatuses"].as_array_mut() {
                    for s in cs.iter_mut().filter(|s| s["name"] == c.as_str()) {
                        let id = format!("containerd://{:064x}", rand::random::<u128>());
                        s["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started, "containerID": id}});
                        s["containerID"] = json!(id);
                        s["imageID"] = json!(format!("{img}@sha256:{:064x}", 0));
                        s["ready"] = json!(true);
                    }
                }
            });
            self.ctx.logs.start(&self.ns, &self.name, c);
            if let Some(pod) = &pod {
                self.event(
                    pod,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{img}\" already present on machine"),
                );
                self.event(pod, "Normal", "Created", &format!("Created container: {c}"));
                self.event(pod, "Normal", "Started", &format!("Started container {c}"));
            }
        }
        if !init_containers.is_empty() {
            self.update(|p| set_condition(p, "Initialized", "True", None, None));
        }
    }

    /// A deleted pod whose containers all run: they stop cleanly (a `Killing` event
    /// each), and the pod gets the terminal phase a kubelet (1.27+) gives a deleted pod
    /// before it is removed, so watchers see `1/1 Terminating`, then `0/1 Completed`.
    pub(super) fn stop_containers(&self) {
        let Some(pod) = self
            .ctx
            .store
            .get_value(&self.ctx.kinds.pods, &self.ns, &self.name)
        else {
            return;
        };
        if pod["metadata"]["uid"] != self.uid.as_str()
            || !is_deleting(&pod)
            || str_of(&pod, &["status", "phase"]) != "Running"
        {
            return;
        }
        let statuses = pod["status"]["containerStatuses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if statuses.is_empty() || !statuses.iter().all(|c| c["state"].get("running").is_some()) {
            return;
        }
        for c in &statuses {
            self.event(
                &pod,
                "Normal",
                "Killing",
                &format!("Stopping container {}", str_of(c, &["name"])),
            );
        }
        let finished = now_rfc3339();
        self.update(|p| {
            if let Some(cs) = p["status"]["containerStatuses"].as_array_mut() {
                for c in cs {
                    let started = c["state"]["running"]["startedAt"].clone();
                    c["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": finished, "containerID": c["containerID"]}});
                    c["ready"] = json!(false);
                    c["started"] = json!(false);
                }
            }
            p["status"]["phase"] = json!("Succeeded");
            set_condition(p, "PodReadyToStartContainers", "False", None, None);
            set_condition(p, "Ready", "False", Some("PodCompleted"), None);
            set_condition(p, "ContainersReady", "False", Some("PodCompleted"), None);
        });
    }
}
