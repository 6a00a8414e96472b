//! Force-deleting a pod stuck Terminating on a node that no longer confirms anything
//! (NotReady): the API object goes at once (grace period 0, as `kubectl delete
//! --grace-period=0 --force`), so its controller can start the replacement. The plan
//! says what that costs, because the API server cannot know whether the containers
//! really stopped.

use super::op::{ObjectRef, Op};
use super::plan::{Confirmation, Plan, Step};

/// The force-delete plan for pod `namespace/name` on `node`; `rbd_volumes` says the
/// pod has RBD volumes (which stay mapped and locked on the node).
pub fn plan(namespace: &str, name: &str, node: &str, rbd_volumes: bool) -> Plan {
    let volumes = if rbd_volumes {
        format!(
            " Its RBD volumes stay mapped and locked on {node}: a replacement elsewhere cannot mount them until {}.",
            crate::diagnose::fence::recipe(node)
        )
    } else {
        String::new()
    };
    let description = format!(
        "Force-delete pod {namespace}/{name} (grace period 0): the API object is removed at once, without {node}'s kubelet confirming its containers stopped. If {node} is only cut off rather than down, they go on running there, and a replacement may run beside them.{volumes}"
    );
    Plan::new(
        format!("Force-delete pod {namespace}/{name} stuck Terminating on {node}"),
        ObjectRef::pod(namespace, name),
        Confirmation::TypedName(name.into()),
    )
    .step(Step {
        description,
        destructive: true,
        op: Op::DeletePod {
            namespace: namespace.into(),
            name: name.into(),
            grace: Some(0),
        },
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_plan_states_its_consequences_and_forces() {
        let p = super::plan("demo", "web-2", "node3", true);
        assert_eq!(
            p.confirmation,
            super::Confirmation::TypedName("web-2".into())
        );
        let step = &p.steps[0];
        assert!(step.destructive);
        assert!(step.description.contains("grace period 0"));
        assert!(step.description.contains("stay mapped and locked on node3"));
        assert!(
            step.description
                .contains("ceph osd blocklist add <address> 3600")
        );
        assert!(matches!(
            step.op,
            super::Op::DeletePod { grace: Some(0), .. }
        ));
    }
}
