//! RBD volume failures named by their Ceph-side cause: the provisioner's
//! ProvisioningFailed and the kubelet's FailedMount/FailedAttachVolume texts (the
//! in-tree `kubernetes.io/rbd` plugin's and ceph-csi's wordings) classified into one
//! cause each, with the Ceph fact that proves it when Ceph data is there.
//!
//! | id | severity | signature |
//! |---|---|---|
//! | `rbd.pool-missing` | Critical | `error opening pool 'X': (2) No such file or directory`, ceph-csi `pool X not found` |
//! | `rbd.caps-denied` | Critical | `Operation not permitted`, `(13) Permission denied` on map/create |
//! | `rbd.features-unsupported` | Critical | `RBD image feature set mismatch`, `map failed: (6) No such device or address` |
//! | `rbd.secret-invalid` | Critical | the user's Secret missing, of the wrong type, or its key refused at connect |
//! | `rbd.mon-unreachable` | Critical | `(110) Connection timed out`, `monclient ... timed out` |
//! | `rbd.image-missing` | Critical | `map failed: (2) No such file or directory`, `error opening image`, ceph-csi `image not found` |
//! | `pod.multi-attach` | Critical | `Multi-Attach error` |
//!
//! A first mount that formats an empty image (`Bad magic number in super-block`, then
//! `appears to be unformatted, attempting to format`) is normal: [`is_first_format`].

use std::collections::BTreeSet;
use std::sync::OnceLock;

use regex::Regex;

use k8s_openapi::api::core::v1::{Event, PersistentVolume};
use k8s_openapi::api::storage::v1::StorageClass;

use super::index::{Index, event_line};
use super::{Finding, Severity};
use crate::model::objref::ObjRef;
use crate::model::rows::rbd_image;

/// The cause a failure text names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The pool, when the text names it.
    PoolMissing(Option<String>),
    CapsDenied,
    FeaturesUnsupported,
    SecretInvalid,
    MonUnreachable,
    ImageMissing,
    MultiAttach,
}

impl Cause {
    pub(crate) fn id(&self) -> &'static str {
        match self {
            Cause::PoolMissing(_) => "rbd.pool-missing",
            Cause::CapsDenied => "rbd.caps-denied",
            Cause::FeaturesUnsupported => "rbd.features-unsupported",
            Cause::SecretInvalid => "rbd.secret-invalid",
            Cause::MonUnreachable => "rbd.mon-unreachable",
            Cause::ImageMissing => "rbd.image-missing",
            Cause::MultiAttach => "pod.multi-attach",
        }
    }

    pub(crate) fn severity(&self) -> Severity {
        Severity::Critical
    }
}

fn pool_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"error opening pool '([^']+)'|pool (?:\()?([A-Za-z0-9_.\-]+)(?:\))? not found")
            .ok()
    })
    .as_ref()
}

/// The first of `texts` the message contains (case-sensitive, as the tools print them).
fn any(message: &str, texts: &[&str]) -> bool {
    texts.iter().any(|t| message.contains(t))
}

/// A mount or provisioning failure's cause, or `None` for a text no signature knows.
/// Order matters: a missing pool and a missing image both say `(2) No such file`.
pub(crate) fn classify(message: &str) -> Option<Cause> {
    if message.contains("Multi-Attach error") {
        return Some(Cause::MultiAttach);
    }
    if let Some(c) = pool_re().and_then(|re| re.captures(message)) {
        let pool = c
            .get(1)
            .or_else(|| c.get(2))
            .map(|m| m.as_str().to_string());
        return Some(Cause::PoolMissing(pool));
    }
    if any(
        message,
        &[
            "feature set mismatch",
            "map failed: (6) No such device or address",
            "unsupported features",
        ],
    ) {
        return Some(Cause::FeaturesUnsupported);
    }
    let lower = message.to_ascii_lowercase();
    let secret = lower.contains("secret")
        && any(
            &lower,
            &[
                "not found",
                "failed to get",
                "cannot get",
                "couldn't get",
                "wrong type",
                "of type",
                "missing",
            ],
        );
    let connect = any(
        message,
        &[
            "error connecting to the cluster",
            "couldn't connect to the cluster",
            "failed to connect",
        ],
    );
    let timed_out = any(
        message,
        &[
            "(110) Connection timed out",
            "ret=-110",
            "Connection timed out",
            "monclient(hunting)",
            "timed out after",
        ],
    ) || (lower.contains("monclient") && lower.contains("timed out"));
    if timed_out && !secret {
        return Some(Cause::MonUnreachable);
    }
    // A key Ceph refuses fails the connection itself; missing caps fail the operation.
    if secret
        || (connect
            && any(
                message,
                &[
                    "(13) Permission denied",
                    "ret=-13",
                    "(1) Operation not permitted",
                ],
            ))
        || any(
            message,
            &["AuthenticationError", "failed to authenticate", "bad key"],
        )
    {
        return Some(Cause::SecretInvalid);
    }
    if any(
        message,
        &[
            "Operation not permitted",
            "(13) Permission denied",
            "ret=-1,",
            "ret=-13",
        ],
    ) {
        return Some(Cause::CapsDenied);
    }
    if any(
        message,
        &[
            "map failed: (2) No such file or directory",
            "error opening image",
            "image not found",
            "ImageNotFound",
        ],
    ) {
        return Some(Cause::ImageMissing);
    }
    None
}

/// The kubelet found an empty device and formats it before the first mount: normal.
pub(crate) fn is_first_format(message: &str) -> bool {
    any(
        message,
        &[
            "Bad magic number in super-block",
            "appears to be unformatted, attempting to format",
        ],
    ) && classify(message).is_none()
}

/// RBD image feature bits beyond `layering`, as `rbd info` names them.
const FEATURES: &[(u64, &str)] = &[
    (1 << 1, "striping"),
    (1 << 2, "exclusive-lock"),
    (1 << 3, "object-map"),
    (1 << 4, "fast-diff"),
    (1 << 5, "deep-flatten"),
    (1 << 6, "journaling"),
    (1 << 7, "data-pool"),
    (1 << 8, "operations"),
];

/// The image's features a plain kernel client (`layering` only) cannot map.
pub(crate) fn features_beyond_layering(bits: u64) -> Vec<&'static str> {
    FEATURES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// A message with its per-attempt names (`kubernetes-dynamic-pvc-<uuid>`) made equal, so
/// that one failure retried with a new image name each time is quoted once.
pub(crate) fn normalized(message: &str) -> String {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    match RE
        .get_or_init(|| {
            Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").ok()
        })
        .as_ref()
    {
        Some(re) => re.replace_all(message, "<uuid>").into_owned(),
        None => message.to_string(),
    }
}

/// Every pool name Ceph reports (RBD pools and the pools `ceph df` lists).
pub(crate) fn ceph_pools(ix: &Index) -> Option<BTreeSet<String>> {
    let d = ix.ceph_data()?;
    let mut pools: BTreeSet<String> = d.rbd_pools.iter().map(|p| p.name.clone()).collect();
    pools.extend(d.df.pools.iter().map(|p| p.name.clone()));
    Some(pools)
}

/// The Ceph fact of a missing pool: `pool 'X' is not among the cluster's pools (a, b)`.
pub(crate) fn pool_fact(pool: &str, ix: &Index) -> Option<String> {
    let pools = ceph_pools(ix)?;
    let list = pools.iter().cloned().collect::<Vec<_>>().join(", ");
    Some(if pools.contains(pool) {
        format!("Ceph: pool '{pool}' exists now (pools: {list}): the next retry should succeed")
    } else {
        format!("Ceph: pool '{pool}' is not among the cluster's pools ({list})")
    })
}

/// What the failing client's user may do, when kcops can read it: only its own user's
/// caps are known (read for fencing).
pub(crate) fn caps_fact(user: &str, ix: &Index) -> String {
    let entity = format!("client.{user}");
    if let Some(report) = ix.ceph
        && report.entity == entity
        && let Some(data) = report.data.as_ref()
        && let crate::model::ceph::FencePermission::Denied { caps: Some(caps) } = &data.fencing
    {
        return format!("Ceph: {entity} has caps {caps}");
    }
    format!("Ceph: kcops does not read the caps of {entity}; `ceph auth get {entity}` shows them")
}

/// The fix that gives `user` what RBD volumes need on `pool`.
pub(crate) fn caps_fix(user: &str, pool: &str) -> String {
    format!("ceph auth caps client.{user} mon 'profile rbd' osd 'profile rbd pool={pool}'")
}

/// The volume a failure is about, as far as the claim, PV and class say.
#[derive(Debug, Default, Clone)]
pub(crate) struct Volume {
    pub claim: Option<String>,
    pub pv: Option<String>,
    pub class: Option<String>,
    pub pool: Option<String>,
    pub image: Option<String>,
    /// The Ceph user (without `client.`) that failed: the PV's `user` for a mount,
    /// the class's `adminId` for provisioning.
    pub user: Option<String>,
    pub monitors: Vec<String>,
    /// `namespace/name` of the Secret holding the user's key.
    pub secret: Option<String>,
}

impl Volume {
    /// From a PV (in-tree `rbd` or ceph-csi) and the claim bound to it.
    pub(crate) fn of_pv(pv: &PersistentVolume, claim: Option<&str>) -> Volume {
        let spec = pv.spec.as_ref();
        let mut v = Volume {
            claim: claim.map(str::to_string),
            pv: pv.metadata.name.clone(),
            class: spec.and_then(|s| s.storage_class_name.clone()),
            ..Volume::default()
        };
        if let Some((pool, image)) = rbd_image(pv) {
            v.pool = Some(pool.to_string());
            v.image = Some(image.to_string());
        }
        if let Some(rbd) = spec.and_then(|s| s.rbd.as_ref()) {
            v.user = Some(rbd.user.clone().unwrap_or_else(|| "admin".to_string()));
            v.monitors = rbd.monitors.clone();
            v.secret = rbd.secret_ref.as_ref().and_then(|r| {
                let name = r.name.as_deref()?;
                Some(format!(
                    "{}/{name}",
                    r.namespace.as_deref().unwrap_or("<pod's namespace>")
                ))
            });
        }
        if let Some(csi) = spec.and_then(|s| s.csi.as_ref()) {
            v.secret = csi.node_stage_secret_ref.as_ref().map(|r| {
                format!(
                    "{}/{}",
                    r.namespace.as_deref().unwrap_or_default(),
                    r.name.as_deref().unwrap_or_default()
                )
            });
        }
        v
    }

    /// From a pending claim's class: what the provisioner uses.
    pub(crate) fn of_class(
        claim: &str,
        class_name: Option<&str>,
        class: Option<&StorageClass>,
    ) -> Volume {
        let param = |k: &str| class.and_then(|c| c.parameters.as_ref()?.get(k).cloned());
        let secret = match (param("adminSecretNamespace"), param("adminSecretName")) {
            (ns, Some(n)) => Some(format!(
                "{}/{n}",
                ns.unwrap_or_else(|| "default".to_string())
            )),
            _ => match (
                param("csi.storage.k8s.io/provisioner-secret-namespace"),
                param("csi.storage.k8s.io/provisioner-secret-name"),
            ) {
                (Some(ns), Some(n)) => Some(format!("{ns}/{n}")),
                _ => None,
            },
        };
        Volume {
            claim: Some(claim.to_string()),
            class: class_name.map(str::to_string),
            pool: param("pool"),
            user: param("adminId").or_else(|| {
                class
                    .filter(|c| c.provisioner == "kubernetes.io/rbd")
                    .map(|_| "admin".to_string())
            }),
            monitors: param("monitors")
                .map(|m| m.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default(),
            secret,
            ..Volume::default()
        }
    }

    fn spec(&self) -> String {
        format!(
            "{}/{}",
            self.pool.as_deref().unwrap_or("<pool>"),
            self.image.as_deref().unwrap_or("<image>")
        )
    }
}

/// What failed: a pod that cannot mount, or a claim that cannot be provisioned.
pub(crate) struct Failing<'a> {
    pub subject: ObjRef,
    pub namespace: &'a str,
    pub node: Option<&'a str>,
    /// The failure events, newest first, one per distinct (normalized) message.
    pub events: Vec<&'a Event>,
    pub volume: Volume,
    /// Extra evidence lines the caller already has (the claim's status and class).
    pub context: Vec<String>,
}

/// One finding for the failure's cause, with the Ceph fact that proves it.
pub(crate) fn finding(cause: &Cause, f: Failing, ix: &Index) -> Finding {
    let v = &f.volume;
    let what = f.subject.to_string();
    let on = f.node.map(|n| format!(" on {n}")).unwrap_or_default();
    let mut evidence = f.context.clone();
    evidence.extend(f.events.iter().map(|e| {
        let count = e
            .count
            .filter(|c| *c > 1)
            .map(|c| format!(" (x{c})"))
            .unwrap_or_default();
        format!("{}{count}", event_line(e))
    }));
    if let (Some(pv), Some(claim)) = (&v.pv, &v.claim) {
        evidence.push(format!(
            "claim {claim} is bound to {pv} = RBD image {}",
            v.spec()
        ));
    }
    let class = v
        .class
        .as_deref()
        .map(|c| format!("class {c}"))
        .unwrap_or_else(|| "the volume".to_string());
    let pool = v.pool.as_deref().unwrap_or("<pool>");
    let user = v.user.as_deref().unwrap_or("<user>");
    let (explanation, fix) = match cause {
        Cause::PoolMissing(named) => {
            let pool = named.as_deref().unwrap_or(pool);
            if let Some(fact) = pool_fact(pool, ix) {
                evidence.push(fact);
            }
            (
                format!("{what} cannot get an RBD image: pool '{pool}', named by {class}, does not exist in the Ceph cluster, so every attempt fails the same way."),
                format!("Create the pool (`ceph osd pool create {pool}` then `rbd pool init {pool}`) or point {class} at an existing pool (a class cannot be edited: recreate it); the provisioner retries by itself."),
            )
        }
        Cause::CapsDenied => {
            evidence.push(format!("Ceph user client.{user} on pool {pool}"));
            evidence.push(caps_fact(user, ix));
            (
                format!("{what}{on}: Ceph refused the RBD operation to client.{user} (Operation not permitted / Permission denied): the user's caps do not allow RBD on pool {pool}. This is not a lock: nothing holds the image."),
                format!("`{}`; the next retry succeeds.", caps_fix(user, pool)),
            )
        }
        Cause::FeaturesUnsupported => {
            let image = v.image.as_deref().unwrap_or("<image>");
            let feats = ix
                .ceph_data()
                .and_then(|d| d.images.iter().find(|i| Some(i.pool.as_str()) == v.pool.as_deref() && i.name == image))
                .map(|i| features_beyond_layering(i.features));
            let list = match &feats {
                Some(f) if !f.is_empty() => {
                    evidence.push(format!("Ceph: image {} has features layering, {}", v.spec(), f.join(", ")));
                    f.join(" ")
                }
                Some(_) => {
                    evidence.push(format!("Ceph: image {} has only layering now: the next retry should succeed", v.spec()));
                    String::new()
                }
                None => "exclusive-lock object-map fast-diff deep-flatten".to_string(),
            };
            (
                format!("The kernel RBD client{on} cannot map image {} of {what}: the image has features beyond layering that this kernel does not support (\"feature set mismatch\")." , v.spec()),
                format!("Disable them on the image: `rbd feature disable {} {list}`; and so that new images map, set `imageFeatures: layering` in {class}'s parameters (or `rbd_default_features = 1` in ceph.conf).", v.spec()),
            )
        }
        Cause::SecretInvalid => {
            let secret = v.secret.as_deref().unwrap_or("<namespace>/<secret>");
            evidence.push(format!("Ceph user client.{user}, key from Secret {secret}"));
            (
                format!("{what}{on}: the Ceph key could not be used: the Secret {secret} is missing, in another namespace than the one referenced, not of type kubernetes.io/rbd, or holds a key Ceph rejects for client.{user}."),
                format!("`kubectl get secret -n {} {}` must exist with type kubernetes.io/rbd and key `key` = `ceph auth get-key client.{user}` (base64 in data); recreate it with `kubectl create secret generic {} --type=kubernetes.io/rbd --from-literal=key=$(ceph auth get-key client.{user}) -n {}`.",
                    secret.split('/').next().unwrap_or_default(),
                    secret.rsplit('/').next().unwrap_or_default(),
                    secret.rsplit('/').next().unwrap_or_default(),
                    secret.split('/').next().unwrap_or_default()),
            )
        }
        Cause::MonUnreachable => {
            if !v.monitors.is_empty() {
                evidence.push(format!("monitors in {class}: {}", v.monitors.join(", ")));
            }
            if let Some(r) = ix.ceph {
                evidence.push(match &r.error {
                    Some(e) => format!("Ceph: kcops cannot reach the cluster either: {e}"),
                    None => format!("Ceph: kcops reaches the cluster through {} (check the class's addresses against it)", r.conf),
                });
            }
            (
                format!("{what}{on}: the Ceph monitors named in {class} do not answer (connection timed out), so no image can be created or mapped."),
                format!("Check the monitor addresses in {class} against `ceph mon dump`, and that port 6789/3300 is reachable from the nodes (`nc -zv <mon> 6789`)."),
            )
        }
        Cause::ImageMissing => {
            if let (Some(pool), Some(image)) = (&v.pool, &v.image)
                && let Some(d) = ix.ceph_data()
            {
                let exists = d.images.iter().any(|i| &i.pool == pool && &i.name == image);
                evidence.push(if exists {
                    format!("Ceph: image {pool}/{image} exists now: the next retry should succeed")
                } else {
                    format!("Ceph: pool {pool} has no image {image}")
                });
            }
            (
                format!("{what}{on}: RBD image {} referenced by {} does not exist, so it cannot be mapped.", v.spec(), v.pv.as_deref().map(|p| format!("PV {p}")).unwrap_or_else(|| "the volume".to_string())),
                format!("Create it (`rbd create {} --size <size> --image-feature layering`) or fix the image name in the PV; the kubelet formats an empty image on first mount.", v.spec()),
            )
        }
        Cause::MultiAttach => (
            format!("{what}{on} cannot attach {}: the ReadWriteOnce volume is still attached to another node, and attaches to one node at a time.", v.claim.as_deref().map(|c| format!("claim {c}")).unwrap_or_else(|| "its volume".to_string())),
            "Find the other pod using the claim (`kubectl get pods -A -o wide` and its volumes); stop it, or wait for the attach/detach controller to detach a volume from a node that is gone (6 minutes). `kubectl get volumeattachment` shows where it is attached.".to_string(),
        ),
    };
    Finding {
        id: cause.id(),
        severity: cause.severity(),
        object: what,
        subject: Some(f.subject),
        namespace: Some(f.namespace.to_string()),
        node: f.node.map(str::to_string),
        evidence,
        explanation,
        fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::diagnose::diagnose;
    use crate::diagnose::fixtures::*;
    use crate::model::snapshot::Snapshot;
    use serde_json::json;

    const IMG: &str = "foo";

    /// A healthy cluster: node2 Ready, claim default/data bound to the in-tree RBD
    /// image rbd/foo (user kube, Secret default/ceph-secret), Ceph data with the image.
    fn healthy() -> Snapshot {
        let mut s = snapshot();
        s.nodes.push(node_at("node2", "True", "198.18.1.12"));
        s.pvcs.push(from(
            json!({"metadata": {"name": "data", "namespace": "default"},
            "spec": {"volumeName": "ceph-pv"}, "status": {"phase": "Bound"}}),
        ));
        s.pvs.push(from(json!({"metadata": {"name": "ceph-pv"},
            "spec": {"claimRef": {"namespace": "default", "name": "data"},
                     "rbd": {"monitors": ["10.47.136.60:6789"], "pool": "rbd", "image": IMG,
                             "user": "kube", "secretRef": {"name": "ceph-secret"}}},
            "status": {"phase": "Bound"}})));
        s.ceph = Some(ceph_report(ceph_data(vec![image(
            "rbd",
            IMG,
            vec![],
            vec![],
        )])));
        s
    }

    /// `healthy()` plus a pod on node2 whose newest mount failure says `msg`.
    fn mount_failing(msg: &str) -> Snapshot {
        let mut s = healthy();
        let p = using_claim(creating_pod("default", "ceph-pod1", "node2", 20), "data");
        s.events
            .push(pod_event(&p, "Warning", "FailedMount", msg, 1));
        s.pods.push(p);
        s
    }

    fn one(s: &Snapshot, id: &str, object: &str) -> Finding {
        let f = diagnose(s);
        assert_eq!(ids(&f), [(id, object.to_string())], "{f:#?}");
        f.into_iter().next().unwrap_or_else(|| unreachable!())
    }

    #[test]
    fn healthy_has_no_finding() {
        assert!(diagnose(&healthy()).is_empty());
    }

    #[test]
    fn features_name_the_image_features_and_both_fixes() {
        let mut s = mount_failing(
            "MountVolume.SetUp failed for volume \"ceph-pv\" : rbd: map failed exit status 6 rbd: sysfs write failed\nRBD image feature set mismatch. You can disable features unsupported by the kernel with \"rbd feature disable\".\nrbd: map failed: (6) No such device or address",
        );
        if let Some(d) = s
            .ceph
            .as_mut()
            .map(std::sync::Arc::make_mut)
            .and_then(|r| r.data.as_mut())
        {
            d.images[0].features = 1 | 4 | 8 | 16 | 32;
        }
        let f = one(&s, "rbd.features-unsupported", "Pod default/ceph-pod1");
        assert!(f.evidence.contains(&"Ceph: image rbd/foo has features layering, exclusive-lock, object-map, fast-diff, deep-flatten".to_string()), "{:?}", f.evidence);
        assert!(
            f.fix.contains(
                "`rbd feature disable rbd/foo exclusive-lock object-map fast-diff deep-flatten`"
            ),
            "{}",
            f.fix
        );
        assert!(f.fix.contains("imageFeatures: layering"), "{}", f.fix);
    }

    #[test]
    fn a_static_pv_whose_image_is_missing() {
        let mut s = mount_failing(
            "rbd: failed to setup mount /var/lib/kubelet/pods/ea84/volumes/kubernetes.io~rbd/ceph-pv rbd: map failed exit status 2 rbd: sysfs write failed\nrbd: map failed: (2) No such file or directory",
        );
        if let Some(d) = s
            .ceph
            .as_mut()
            .map(std::sync::Arc::make_mut)
            .and_then(|r| r.data.as_mut())
        {
            d.images.clear();
        }
        let f = one(&s, "rbd.image-missing", "Pod default/ceph-pod1");
        assert!(
            f.evidence
                .contains(&"Ceph: pool rbd has no image foo".to_string()),
            "{:?}",
            f.evidence
        );
        assert!(f.fix.contains("rbd create rbd/foo"), "{}", f.fix);
    }

    #[test]
    fn caps_denied_is_not_a_lock() {
        let f = one(
            &mount_failing(
                "MountVolume.WaitForAttach failed for volume \"ceph-pv\" : rbd: map failed exit status 1, rbd output: rbd: sysfs write failed\nrbd: map failed: (1) Operation not permitted",
            ),
            "rbd.caps-denied",
            "Pod default/ceph-pod1",
        );
        assert!(
            f.evidence
                .contains(&"Ceph user client.kube on pool rbd".to_string()),
            "{:?}",
            f.evidence
        );
        assert_eq!(
            f.fix,
            "`ceph auth caps client.kube mon 'profile rbd' osd 'profile rbd pool=rbd'`; the next retry succeeds."
        );
        assert!(!f.explanation.contains("locked"));
    }

    #[test]
    fn secret_and_monitors() {
        let f = one(
            &mount_failing(
                "MountVolume.SetUp failed for volume \"ceph-pv\" : couldn't get secret default/ceph-secret err: secrets \"ceph-secret\" not found",
            ),
            "rbd.secret-invalid",
            "Pod default/ceph-pod1",
        );
        assert!(
            f.evidence.contains(
                &"Ceph user client.kube, key from Secret <pod's namespace>/ceph-secret".to_string()
            ),
            "{:?}",
            f.evidence
        );
        let f = one(
            &mount_failing(
                "MountVolume.WaitForAttach failed for volume \"ceph-pv\" : rbd: map failed exit status 110, rbd output: 2016-11-07 monclient(hunting): authenticate timed out after 300",
            ),
            "rbd.mon-unreachable",
            "Pod default/ceph-pod1",
        );
        assert!(
            f.evidence
                .contains(&"monitors in the volume: 10.47.136.60:6789".to_string()),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn multi_attach() {
        let mut s = healthy();
        let p = using_claim(creating_pod("default", "ceph-pod1", "node2", 20), "data");
        s.events.push(pod_event(&p, "Warning", "FailedAttachVolume",
            "Multi-Attach error for volume \"ceph-pv\" Volume is already exclusively attached to one node and can't be attached to another", 1));
        s.pods.push(p);
        one(&s, "pod.multi-attach", "Pod default/ceph-pod1");
    }

    #[test]
    fn a_first_format_of_an_empty_image_is_no_finding() {
        let s = mount_failing(
            "fsck.ext2: Bad magic number in super-block while trying to open /dev/rbd1",
        );
        assert!(diagnose(&s).is_empty(), "{:?}", diagnose(&s));
    }

    #[test]
    fn a_missing_pool_is_named_once_not_per_image() {
        let mut s = healthy();
        s.storage_classes.push(from(json!({"metadata": {"name": "fast"},
            "provisioner": "kubernetes.io/rbd",
            "parameters": {"monitors": "10.47.136.60:6789", "pool": "kube", "adminId": "admin",
                           "adminSecretName": "ceph-secret", "adminSecretNamespace": "kube-system"}})));
        s.pvcs.push(from(json!({"metadata": {"name": "data-web-0", "namespace": "default", "creationTimestamp": ago(30)},
            "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}})));
        for (i, uuid) in [
            "0f3b6a5e-1c2d-11e7-9a4b-00163e1625a9",
            "1f3b6a5e-1c2d-11e7-9a4b-00163e1625a9",
            "2f3b6a5e-1c2d-11e7-9a4b-00163e1625a9",
        ]
        .iter()
        .enumerate()
        {
            s.events.push(object_event("PersistentVolumeClaim", "default", "data-web-0", "Warning", "ProvisioningFailed",
                &format!("Failed to provision volume with StorageClass \"fast\": failed to create rbd image: exit status 2, command output: 2016-11-07 rbd: error opening pool 'kube': (2) No such file or directory [image kubernetes-dynamic-pvc-{uuid}]"),
                i as i64 + 1));
        }
        let f = one(
            &s,
            "rbd.pool-missing",
            "PersistentVolumeClaim default/data-web-0",
        );
        let events = f
            .evidence
            .iter()
            .filter(|l| l.starts_with("ProvisioningFailed"))
            .count();
        assert_eq!(events, 1, "{:?}", f.evidence);
        assert!(
            f.evidence
                .contains(&"Ceph: pool 'kube' is not among the cluster's pools (rbd)".to_string()),
            "{:?}",
            f.evidence
        );
        assert!(f.fix.contains("ceph osd pool create kube"), "{}", f.fix);
    }

    #[test]
    fn in_tree_and_csi_wordings_are_classified() {
        let cases: &[(&str, Option<Cause>)] = &[
            // The in-tree provisioner (kube-controller-manager running `rbd create`).
            (
                "Failed to provision volume with StorageClass \"fast\": failed to create rbd image: exit status 2, command output: rbd: error opening pool 'kube': (2) No such file or directory",
                Some(Cause::PoolMissing(Some("kube".to_string()))),
            ),
            // ceph-csi.
            (
                "failed to provision volume with StorageClass \"csi-rbd\": rpc error: code = NotFound desc = pool (kube) not found in Ceph cluster",
                Some(Cause::PoolMissing(Some("kube".to_string()))),
            ),
            // The old kubelet's map failure with a kernel too old for the features.
            (
                "MountVolume.SetUp failed for volume \"ceph-pv\" : rbd: map failed exit status 6 rbd: sysfs write failed\nRBD image feature set mismatch. You can disable features unsupported by the kernel with \"rbd feature disable\".\nIn some cases useful info is found in syslog - try \"dmesg | tail\" or so.\nrbd: map failed: (6) No such device or address",
                Some(Cause::FeaturesUnsupported),
            ),
            (
                "MountVolume.WaitForAttach failed for volume \"pvc-1\" : rbd: map failed exit status 6, rbd output: rbd: sysfs write failed\nrbd: map failed: (6) No such device or address",
                Some(Cause::FeaturesUnsupported),
            ),
            // The image of a static PV does not exist.
            (
                "rbd: failed to setup mount /var/lib/kubelet/pods/ea84/volumes/kubernetes.io~rbd/ceph-pv rbd: map failed exit status 2 rbd: sysfs write failed\nIn some cases useful info is found in syslog - try \"dmesg | tail\" or so.\nrbd: map failed: (2) No such file or directory",
                Some(Cause::ImageMissing),
            ),
            (
                "MountVolume.MountDevice failed for volume \"pvc-1\" : rpc error: code = Internal desc = image not found: RBD image not found",
                Some(Cause::ImageMissing),
            ),
            // Missing caps: create on the pool, map by the kubelet.
            (
                "Failed to provision volume with StorageClass \"fast\": failed to create rbd image: exit status 1, command output: rbd: create error: (1) Operation not permitted",
                Some(Cause::CapsDenied),
            ),
            (
                "MountVolume.WaitForAttach failed for volume \"pvc-1\" : rbd: map failed exit status 13, rbd output: rbd: sysfs write failed\nrbd: map failed: (13) Permission denied",
                Some(Cause::CapsDenied),
            ),
            // The Secret.
            (
                "MountVolume.SetUp failed for volume \"ceph-pv\" : couldn't get secret default/ceph-secret err: secrets \"ceph-secret\" not found",
                Some(Cause::SecretInvalid),
            ),
            (
                "Failed to provision volume with StorageClass \"fast\": failed to get admin secret from [\"kube-system\"/\"ceph-secret\"]: Cannot get secret of type kubernetes.io/rbd",
                Some(Cause::SecretInvalid),
            ),
            (
                "rbd: couldn't connect to the cluster!\nerror connecting to the cluster: (13) Permission denied",
                Some(Cause::SecretInvalid),
            ),
            // The monitors.
            (
                "failed to create rbd image: exit status 1, command output: 2024-01-01 monclient(hunting): authenticate timed out after 300\nrbd: couldn't connect to the cluster!",
                Some(Cause::MonUnreachable),
            ),
            (
                "rpc error: code = Internal desc = failed to get connection: connecting failed: rados: ret=-110, Connection timed out",
                Some(Cause::MonUnreachable),
            ),
            (
                "Multi-Attach error for volume \"pvc-1\" Volume is already exclusively attached to one node and can't be attached to another",
                Some(Cause::MultiAttach),
            ),
            ("rbd: image x is locked by other nodes", None),
            (
                "timeout expired waiting for volumes to attach or mount for pod",
                None,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&classify(text), want, "{text}");
        }
    }

    #[test]
    fn a_first_format_is_normal() {
        assert!(is_first_format(
            "fsck.ext2: Bad magic number in super-block while trying to open /dev/rbd1"
        ));
        assert!(is_first_format(
            "Disk \"/dev/rbd1\" appears to be unformatted, attempting to format as type: \"ext4\""
        ));
        assert!(!is_first_format(
            "rbd: map failed: (2) No such file or directory"
        ));
    }

    #[test]
    fn features_and_uuids() {
        assert_eq!(
            features_beyond_layering(1 | 4 | 8 | 16 | 32),
            ["exclusive-lock", "object-map", "fast-diff", "deep-flatten"]
        );
        assert!(features_beyond_layering(1).is_empty());
        assert_eq!(
            normalized("rbd image kubernetes-dynamic-pvc-0f3b6a5e-1c2d-11e7-9a4b-00163e1625a9 x"),
            "rbd image kubernetes-dynamic-pvc-<uuid> x"
        );
    }
}
