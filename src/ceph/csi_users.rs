//! ceph-csi's users checked against Ceph with kcops' own connection: for each Secret
//! the ceph-csi StorageClasses name, `auth get client.<userID>` says whether the user
//! exists, whether the Secret's `userKey` is its key, and its caps (judged against the
//! classes' pools by `diagnose::csi`). Keys are compared and wiped, never kept.

use super::client::CephClient;
use crate::model::ceph::{CsiUserCheck, CsiUserOutcome, SecretRead};

/// Asks Ceph about every Secret's user, one `auth get` each.
pub async fn check(client: &CephClient, reads: Vec<SecretRead>) -> Vec<CsiUserCheck> {
    let mut out = Vec::with_capacity(reads.len());
    for read in reads {
        let mut check = CsiUserCheck {
            namespace: read.namespace,
            name: read.name,
            classes: read.classes,
            user_id: None,
            outcome: CsiUserOutcome::Unchecked,
        };
        check.outcome = match read.user {
            Err(e) => CsiUserOutcome::SecretUnreadable(e),
            Ok((id, key)) => {
                let entity = format!("client.{id}");
                check.user_id = Some(id);
                match client.auth_check_key(&entity, key).await {
                    Ok((caps, key_matches)) => CsiUserOutcome::Checked {
                        key_matches,
                        caps: caps.caps,
                    },
                    Err(e) if e.is_not_found() => CsiUserOutcome::NoSuchUser,
                    Err(e) if e.is_permission_denied() => CsiUserOutcome::Denied(e.to_string()),
                    Err(e) => CsiUserOutcome::Failed(e.to_string()),
                }
            }
        };
        out.push(check);
    }
    out
}
