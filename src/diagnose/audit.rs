//! `audit.interrupted`: a plan step kcops announced in its audit journal and never
//! recorded the outcome of. The process stopped in between (killed, crashed, power
//! lost), so whether the change happened is unknown until someone looks.

use super::{Finding, Severity};
use crate::model::interrupted::InterruptedStep;
use crate::model::objref::ObjRef;
use crate::model::snapshot::Snapshot;

pub fn check(s: &Snapshot, out: &mut Vec<Finding>) {
    for step in &s.interrupted {
        out.push(finding(step));
    }
}

fn finding(s: &InterruptedStep) -> Finding {
    if s.plan.is_empty() {
        // The journal itself could not be read.
        return Finding {
            id: "audit.interrupted",
            severity: Severity::Warning,
            subject: None,
            object: s.object.clone(),
            namespace: None,
            node: None,
            evidence: vec![s.detail.clone()],
            explanation: "kcops cannot tell whether an earlier plan was interrupted: its audit journal is unreadable.".into(),
            fix: format!("Check the file ({}) and its permissions; it must be readable by this user.", s.how_to_check),
        };
    }
    let (kind, path) = s.object.split_once(' ').unwrap_or(("Object", &s.object));
    Finding {
        id: "audit.interrupted",
        severity: Severity::Warning,
        subject: Some(ObjRef::at(subject_kind(kind), path)),
        object: s.object.clone(),
        namespace: path.split_once('/').map(|(ns, _)| ns.to_string()),
        node: (kind == "Node").then(|| path.to_string()),
        evidence: vec![
            format!(
                "interrupted: step {} of {} ({}) of plan {} may or may not have happened — check {}",
                s.step, s.steps, s.detail, s.plan_title, s.how_to_check
            ),
            format!(
                "announced at {} by {} (plan run {}); no outcome was recorded",
                s.time, s.who, s.plan
            ),
        ],
        explanation: "kcops writes an intent line to its audit journal before each change and the outcome after it; this change was announced and the process stopped before its outcome was written (killed, crashed or lost its machine), so the journal cannot say whether it was made. The steps after it did not run.".into(),
        fix: format!(
            "Check the object ({}), finish or undo the change by hand if needed, then acknowledge with {} in the console (it adds an acknowledgement line to the audit journal and this finding goes away).",
            s.how_to_check,
            crate::ops::journal::ACK_COMMAND
        ),
    }
}

/// `ObjRef` kinds are static strings: the journal's kinds mapped onto them.
fn subject_kind(kind: &str) -> &'static str {
    match kind {
        "Node" => "Node",
        "Pod" => ObjRef::POD,
        "RbdImage" => ObjRef::RBD_IMAGE,
        "ConfigMap" => "ConfigMap",
        "StatefulSet" => "StatefulSet",
        "Deployment" => "Deployment",
        "ReplicaSet" => "ReplicaSet",
        "CephClient" => "CephClient",
        "HostLocalNetwork" => "HostLocalNetwork",
        _ => "Object",
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::snapshot;
    use super::*;

    #[test]
    fn an_interrupted_step_is_a_warning_saying_what_to_check() {
        let mut s = snapshot();
        s.interrupted.push(InterruptedStep {
            plan: "7f0c".into(),
            plan_title: "Set kube-proxy's clusterCIDR to 10.244.0.0/16".into(),
            step: 4,
            steps: 7,
            action: "delete-pod".into(),
            object: "Pod kube-system/kube-proxy-b".into(),
            detail: "Delete pod kube-system/kube-proxy-b".into(),
            time: "2026-01-01T00:00:00Z".into(),
            who: "ops as admin in context lab".into(),
            how_to_check: "kubectl -n kube-system get pod kube-proxy-b -o wide".into(),
        });
        let f = crate::diagnose::diagnose(&s);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].id, f[0].severity),
            ("audit.interrupted", Severity::Warning)
        );
        assert_eq!(
            f[0].evidence[0],
            "interrupted: step 4 of 7 (Delete pod kube-system/kube-proxy-b) of plan Set kube-proxy's clusterCIDR to 10.244.0.0/16 may or may not have happened — check kubectl -n kube-system get pod kube-proxy-b -o wide"
        );
        assert_eq!(
            f[0].subject,
            Some(ObjRef::namespaced("Pod", "kube-system", "kube-proxy-b"))
        );
        assert!(f[0].fix.contains(":ack-interrupted"), "{}", f[0].fix);
    }
}
