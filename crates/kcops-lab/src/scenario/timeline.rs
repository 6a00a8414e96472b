//! The timeline: what happens to the lab cluster, and when (`at`, `waitFor`, one
//! action per entry, parsed by hand so each entry has exactly one action key).

#[allow(unused_imports)]
use super::*;

/// One timeline step: an action applied `at` after lab start (scaled by the lab's
/// speed factor), and not before `waitFor` holds if given.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub at: Duration,
    pub wait_for: Option<WaitFor>,
    pub action: TimelineAction,
}

/// Holds a timeline step back until enough matching pods are Ready, so a fast speed
/// factor cannot fire it before the state it acts on exists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitFor {
    pub namespace: String,
    pub selector: String,
    pub pods_ready: u32,
}

/// What a timeline step does. In YAML the action is the one key besides `at` and
/// `waitFor`.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineAction {
    /// The node turns NotReady (or Ready again); a NotReady node's kubelet stops
    /// acting, so it neither unmounts nor unlocks.
    SetNodeReady(SetNodeReady),
    DeletePods(DeletePods),
    Cordon(String),
    Uncordon(String),
    Scale(Scale),
    Event(EventSpec),
    /// A manifest, created or replaced.
    Apply(Value),
    /// Any object deleted, as `kubectl delete <kind> <name>` (a Secret, a class, ...).
    Delete(DeleteObject),
}

/// `delete: {kind: Secret, namespace: default, name: ceph-secret-user}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeleteObject {
    pub kind: String,
    /// Leave it out for cluster-scoped kinds; namespaced kinds default to `default`.
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    /// Grace period 0, as `--force --grace-period=0`.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetNodeReady {
    pub node: String,
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeletePods {
    pub namespace: String,
    /// A label selector (`app=web`, `tier in (a,b)`, ...).
    pub selector: String,
    /// Grace period 0: gone from the API at once, whatever the kubelet does.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scale {
    pub kind: ScaleKind,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub name: String,
    pub replicas: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ScaleKind {
    StatefulSet,
    Deployment,
    ReplicaSet,
}

/// An Event the timeline records (`kubectl get events`, `describe`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventSpec {
    pub namespace: String,
    pub involved_object: ObjectRef,
    #[serde(rename = "type", default = "default_event_type")]
    pub event_type: EventType,
    pub reason: String,
    pub message: String,
}

pub(super) fn default_event_type() -> EventType {
    EventType::Normal
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
    /// Defaults to the event's namespace (cluster-scoped kinds: leave it out).
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

// The timeline entry is `at` + optional `waitFor` + exactly one action key, so it is
// deserialized by hand: serde's `flatten` does not work with `deny_unknown_fields`,
// and a hand-written key seed lets "two actions" be reported at the second key's line.

pub(super) const ACTION_KEYS: [&str; 8] = [
    "setNodeReady",
    "deletePods",
    "cordon",
    "uncordon",
    "scale",
    "event",
    "apply",
    "delete",
];
pub(super) const ENTRY_KEYS: [&str; 10] = [
    "at",
    "waitFor",
    "setNodeReady",
    "deletePods",
    "cordon",
    "uncordon",
    "scale",
    "event",
    "apply",
    "delete",
];

pub(super) enum EntryKey {
    At,
    WaitFor,
    Action(&'static str),
}

pub(super) struct EntryKeySeed {
    action: Option<&'static str>,
}

impl<'de> DeserializeSeed<'de> for EntryKeySeed {
    type Value = EntryKey;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<EntryKey, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for EntryKeySeed {
    type Value = EntryKey;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a timeline key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<EntryKey, E> {
        match v {
            "at" => Ok(EntryKey::At),
            "waitFor" => Ok(EntryKey::WaitFor),
            _ => match ACTION_KEYS.iter().find(|k| **k == v) {
                Some(name) => match self.action {
                    Some(first) => Err(E::custom(format!(
                        "a timeline entry takes exactly one action, but has both \
                         `{first}` and `{name}`"
                    ))),
                    None => Ok(EntryKey::Action(name)),
                },
                None => Err(E::unknown_field(v, &ENTRY_KEYS)),
            },
        }
    }
}

impl<'de> Deserialize<'de> for TimelineEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

pub(super) struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = TimelineEntry;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a timeline entry: a mapping with `at` and one action")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TimelineEntry, A::Error> {
        let mut at = None;
        let mut wait_for = None;
        let mut action = None;
        let mut action_key = None;
        while let Some(k) = map.next_key_seed(EntryKeySeed { action: action_key })? {
            match k {
                EntryKey::At => {
                    if at.is_some() {
                        return Err(de::Error::duplicate_field("at"));
                    }
                    at = Some(map.next_value::<DurationValue>()?.0);
                }
                EntryKey::WaitFor => {
                    if wait_for.is_some() {
                        return Err(de::Error::duplicate_field("waitFor"));
                    }
                    wait_for = Some(map.next_value::<WaitFor>()?);
                }
                EntryKey::Action(name) => {
                    action_key = Some(name);
                    action = Some(match name {
                        "setNodeReady" => TimelineAction::SetNodeReady(map.next_value()?),
                        "deletePods" => TimelineAction::DeletePods(map.next_value()?),
                        "cordon" => TimelineAction::Cordon(map.next_value()?),
                        "uncordon" => TimelineAction::Uncordon(map.next_value()?),
                        "scale" => TimelineAction::Scale(map.next_value()?),
                        "event" => TimelineAction::Event(map.next_value()?),
                        "delete" => TimelineAction::Delete(map.next_value()?),
                        _ => TimelineAction::Apply(map.next_value()?),
                    });
                }
            }
        }
        let at = at.ok_or_else(|| de::Error::missing_field("at"))?;
        let action = action.ok_or_else(|| {
            de::Error::custom(format!(
                "a timeline entry needs one action: one of `{}`",
                ACTION_KEYS.join("`, `")
            ))
        })?;
        Ok(TimelineEntry {
            at,
            wait_for,
            action,
        })
    }
}
