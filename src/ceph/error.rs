//! Errors of the Ceph client. Each says what failed, where, and Ceph's errno in Ceph's
//! own style (`(13) Permission denied`), so findings can match on the kind
//! ([`CephError::is_permission_denied`], ...) and people recognise the text from the
//! `ceph`/`rbd` CLIs. No variant ever carries a key.

use std::time::Duration;

pub(crate) const EPERM: i32 = libc::EPERM;
pub const ENOENT: i32 = libc::ENOENT;
pub const EACCES: i32 = libc::EACCES;
pub const EBUSY: i32 = libc::EBUSY;
pub const EINVAL: i32 = libc::EINVAL;
pub const ERANGE: i32 = libc::ERANGE;
pub const ETIMEDOUT: i32 = libc::ETIMEDOUT;
/// librados' EBLOCKLISTED: this client was blocklisted and must reconnect.
pub(crate) const ESHUTDOWN: i32 = libc::ESHUTDOWN;

/// `(13) Permission denied`, as Ceph's tools print an errno. Accepts either sign.
pub(crate) fn errno_text(errno: i32) -> String {
    let e = errno.saturating_abs();
    format!("({e}) {}", nix::errno::Errno::from_raw(e).desc())
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CephError {
    /// Missing or unusable settings: conf file, keyring, user id. The message names
    /// the file (and line) and the option that sets it.
    #[error("{0}")]
    Config(String),

    /// No session with the monitors could be established.
    #[error("cannot connect to Ceph as {entity} (mon {mons}): {}{}", errno_text(*errno), hint_suffix(hint))]
    Connect {
        entity: String,
        mons: String,
        errno: i32,
        hint: String,
    },

    /// A mon command was refused or failed; `status` is the mon's own explanation.
    #[error("`ceph {command}` failed: {}{}", errno_text(*errno), status_suffix(status))]
    Command {
        command: String,
        errno: i32,
        status: String,
    },

    /// A librados/librbd call on a pool or image failed.
    #[error("{op} {target} failed: {}{}", errno_text(*errno), hint_suffix(hint))]
    Rbd {
        op: String,
        target: String,
        errno: i32,
        hint: String,
    },

    /// No answer in time: the caller's per-request timeout, or librados' own op
    /// timeout when the mon or an OSD does not answer.
    #[error("Ceph did not answer {what} within {}s (cluster unreachable or slow)", after.as_secs())]
    Timeout { what: String, after: Duration },

    /// Ceph answered with something we cannot read.
    #[error("unexpected reply to {what}: {detail}")]
    Parse { what: String, detail: String },

    /// A caller's argument that cannot be sent (bad address, NUL in a name, ...).
    #[error("invalid {what}: {detail}")]
    Invalid { what: String, detail: String },

    /// The Ceph thread is gone, or failed while serving this request.
    #[error("the Ceph client thread stopped or failed while serving the request")]
    Stopped,
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!(" ({hint})")
    }
}

fn status_suffix(status: &str) -> String {
    let status = status.trim();
    if status.is_empty() {
        String::new()
    } else {
        format!(": {status}")
    }
}

impl CephError {
    /// The positive errno behind the error, when Ceph reported one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            CephError::Connect { errno, .. }
            | CephError::Command { errno, .. }
            | CephError::Rbd { errno, .. } => Some(errno.saturating_abs()),
            CephError::Timeout { .. } => Some(ETIMEDOUT),
            _ => None,
        }
    }

    /// The user lacks a capability (EACCES), or cephx refused the entity (EPERM):
    /// e.g. a user without blocklist rights breaking a stale lock, "rbd: releasing lock
    /// failed: (13) Permission denied".
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.errno(), Some(EACCES | EPERM))
    }

    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(ENOENT)
    }

    pub fn is_busy(&self) -> bool {
        self.errno() == Some(EBUSY)
    }

    /// Nobody answered in time (ours or librados' timeout).
    pub fn is_timeout(&self) -> bool {
        self.errno() == Some(ETIMEDOUT)
    }

    /// Ceph could not be reached or used at all (connect, settings, timeouts), as
    /// opposed to one request being refused. Findings say "Ceph unreachable" for these.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            CephError::Config(_)
                | CephError::Connect { .. }
                | CephError::Timeout { .. }
                | CephError::Stopped
        ) || self.is_timeout()
    }

    /// The kind of failure, for `ceph.unreachable` to name its cause. Settings errors
    /// are told apart by the words config.rs writes for them.
    pub fn failure(&self) -> crate::model::ceph::CephFailure {
        use crate::model::ceph::CephFailure as F;
        match self {
            CephError::Config(text) if text.contains("names no monitors") => F::NoMonitors,
            CephError::Config(text) if text.contains("keyring") => F::Keyring,
            CephError::Config(_) => F::Settings,
            e if e.is_permission_denied() => F::Refused,
            e if e.is_timeout() => F::NoAnswer,
            CephError::Connect { .. } => F::NoAnswer,
            _ => F::Other,
        }
    }

    /// This client has been blocklisted (EBLOCKLISTED = ESHUTDOWN): the connection is
    /// useless and must be replaced.
    pub(crate) fn is_blocklisted(&self) -> bool {
        self.errno() == Some(ESHUTDOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_like_ceph() {
        assert_eq!(errno_text(-13), "(13) Permission denied");
        let err = CephError::Command {
            command: "osd blocklist add 10.0.0.1:0/1".into(),
            errno: 13,
            status: "access denied\n".into(),
        };
        assert_eq!(
            err.to_string(),
            "`ceph osd blocklist add 10.0.0.1:0/1` failed: (13) Permission denied: access denied"
        );
        assert!(err.is_permission_denied());
        assert!(!err.is_unreachable());
        let t = CephError::Timeout {
            what: "health".into(),
            after: Duration::from_secs(10),
        };
        assert!(t.is_timeout() && t.is_unreachable());
        let c = CephError::Connect {
            entity: "client.admin".into(),
            mons: "v1:10.0.0.1:6789".into(),
            errno: 110,
            hint: String::new(),
        };
        assert_eq!(
            c.to_string(),
            "cannot connect to Ceph as client.admin (mon v1:10.0.0.1:6789): (110) Connection timed out"
        );
    }

    #[test]
    fn failures_are_told_apart() {
        use crate::model::ceph::CephFailure as F;
        let conf = |t: &str| CephError::Config(t.to_string()).failure();
        assert_eq!(
            conf("Ceph config /c names no monitors: set `mon host` in its [global] section"),
            F::NoMonitors
        );
        assert_eq!(
            conf("keyring /k (from --ceph-keyring / KCOPS_CEPH_KEYRING) is not found"),
            F::Keyring
        );
        assert_eq!(conf("cannot read Ceph config /c: denied"), F::Settings);
        let connect = |errno| {
            CephError::Connect {
                entity: "client.admin".into(),
                mons: "v1:10.0.0.1:6789".into(),
                errno,
                hint: String::new(),
            }
            .failure()
        };
        assert_eq!(connect(13), F::Refused);
        assert_eq!(connect(1), F::Refused);
        assert_eq!(connect(110), F::NoAnswer);
        assert_eq!(
            CephError::Parse {
                what: "x".into(),
                detail: "y".into()
            }
            .failure(),
            F::Other
        );
    }
}
