//! Keeps a [`CephReport`] fresh in the background: one refresh every few seconds and
//! on demand ([`CephWatch::refresh_now`]), all through the Ceph thread, never on the UI
//! task. A failed refresh keeps the last good data and records the error, so the pane
//! shows stale data with its age instead of freezing or going blank.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::client::{CephClient, ConnectionState};
use super::error::CephError;
use crate::model::ceph::{CephData, CephReport, CsiUserCheck, FencePermission};

/// An address in TEST-NET-1 (RFC 5737) that is never blocklisted: removing it from the
/// blocklist changes nothing, but the mon checks our caps first, so the answer tells
/// whether we may blocklist.
pub const FENCE_PROBE_ADDR: &str = "192.0.2.1:0/1";

/// Fetches everything the pane and the findings read. Fails only when the cluster
/// cannot be asked at all (health is the first call); pools or images that cannot be
/// read are listed in `image_errors`.
pub async fn fetch(client: &CephClient) -> Result<CephData, CephError> {
    fetch_since(client, &CephReport::default()).await
}

/// [`fetch`] after `previous`: the fencing permission found on this connection is
/// kept rather than asked again ([`fencing_since`]).
async fn fetch_since(client: &CephClient, previous: &CephReport) -> Result<CephData, CephError> {
    let health = client.health().await?;
    let df = client.df().await?;
    let osd = client.osd_stat().await?;
    let pools = client.pools().await?;
    let blocklist = client.blocklist_ls().await?;
    let rbd_pools: Vec<_> = pools.into_iter().filter(|p| p.is_rbd()).collect();
    let mut images = Vec::new();
    let mut image_errors = Vec::new();
    for pool in &rbd_pools {
        match client.pool_images(&pool.name).await {
            Ok(found) => {
                images.extend(found.images);
                image_errors.extend(
                    found
                        .errors
                        .into_iter()
                        .map(|(image, e)| (format!("{}/{image}", pool.name), e.to_string())),
                );
            }
            Err(e) if e.is_unreachable() => return Err(e),
            Err(e) => image_errors.push((pool.name.clone(), e.to_string())),
        }
    }
    images.sort_by(|a, b| (&a.pool, &a.name).cmp(&(&b.pool, &b.name)));
    let own_addrs = match client.state() {
        ConnectionState::Connected { addrs, .. } => addrs,
        _ => Vec::new(),
    };
    let fencing = fencing_since(client, previous, &own_addrs).await;
    // Only ceph-csi's config check reads it: a failed dump costs that check, no more.
    let mon_map = match client
        .mon_command(serde_json::json!({"prefix": "mon dump", "format": "json"}))
        .await
    {
        Ok(out) => super::mon::parse_mon_dump(out.as_bytes()).ok(),
        Err(e) if e.is_unreachable() => return Err(e),
        Err(_) => None,
    };
    Ok(CephData {
        health,
        df,
        osd,
        rbd_pools,
        blocklist,
        images,
        image_errors,
        fencing,
        own_addrs,
        mon_map,
    })
}

/// The fencing permission, asked once per connection: the previous refresh's answer
/// while our client addresses are the same (a reconnect gets new ones), asked again
/// when there was no clear answer; never under `--read-only`
/// ([`CephSettings::fence_probe`](super::CephSettings)), where it stays `Unknown`.
async fn fencing_since(
    client: &CephClient,
    previous: &CephReport,
    own_addrs: &[String],
) -> FencePermission {
    if !client.settings().fence_probe {
        return FencePermission::Unknown;
    }
    match previous.data.as_ref() {
        Some(d)
            if !own_addrs.is_empty()
                && d.own_addrs == own_addrs
                && matches!(
                    d.fencing,
                    FencePermission::Allowed | FencePermission::Denied { .. }
                ) =>
        {
            d.fencing.clone()
        }
        _ => fence_permission(client).await,
    }
}

/// May our user blocklist? Asked without changing anything (see [`FENCE_PROBE_ADDR`]).
pub(crate) async fn fence_permission(client: &CephClient) -> FencePermission {
    match client.blocklist_rm(FENCE_PROBE_ADDR).await {
        Ok(()) => FencePermission::Allowed,
        Err(e) if e.is_permission_denied() => {
            let caps = client.auth_caps(&client.entity()).await.ok().map(|c| {
                c.caps
                    .iter()
                    .map(|(k, v)| format!("{k} '{v}'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            FencePermission::Denied { caps }
        }
        Err(e) => FencePermission::CheckFailed(e.to_string()),
    }
}

/// One refresh folded into the previous report.
pub async fn refresh(client: &CephClient, previous: &CephReport) -> CephReport {
    let result = fetch_since(client, previous).await;
    let now = jiff::Timestamp::now();
    let mut next = CephReport {
        entity: client.entity(),
        conf: client.settings().conf.display().to_string(),
        attempted_at: Some(now),
        ..previous.clone()
    };
    match result {
        Ok(data) => {
            next.fetched_at = Some(now);
            next.error = None;
            next.failure = None;
            next.data = Some(data);
        }
        Err(e) => {
            tracing::warn!("ceph refresh failed: {e}");
            next.error = Some(e.to_string());
            next.failure = Some(e.failure());
        }
    }
    next
}

/// The latest report and the task refreshing it (stopped on drop).
pub struct CephWatch {
    latest: Arc<Mutex<Arc<CephReport>>>,
    /// ceph-csi's users as last checked by the feed ([`CephWatch::set_csi_users`]),
    /// folded into every refresh's report.
    csi_users: Arc<Mutex<Option<Vec<CsiUserCheck>>>>,
    wake: Arc<Notify>,
    client: CephClient,
    task: JoinHandle<()>,
}

impl Drop for CephWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CephWatch {
    /// Refreshes every `every` and whenever [`CephWatch::refresh_now`] is called;
    /// `changed` is notified when the report changed.
    pub fn start(client: CephClient, changed: Arc<Notify>, every: Duration) -> CephWatch {
        let initial = CephReport {
            entity: client.entity(),
            conf: client.settings().conf.display().to_string(),
            ..CephReport::default()
        };
        let latest = Arc::new(Mutex::new(Arc::new(initial)));
        let wake = Arc::new(Notify::new());
        let csi_users = Arc::new(Mutex::new(None));
        let (slot, woken, c, csi) = (
            latest.clone(),
            wake.clone(),
            client.clone(),
            csi_users.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let previous = slot.lock().map(|l| l.clone()).unwrap_or_default();
                let mut next = refresh(&c, &previous).await;
                next.csi_users = csi.lock().map(|u| u.clone()).unwrap_or_default();
                // Only the data and the error matter for "changed"; times always move.
                let differs = next.data != previous.data
                    || next.error != previous.error
                    || next.csi_users != previous.csi_users
                    || previous.attempted_at.is_none();
                if let Ok(mut cur) = slot.lock() {
                    *cur = Arc::new(next);
                }
                if differs {
                    changed.notify_one();
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = woken.notified() => {}
                }
            }
        });
        CephWatch {
            latest,
            csi_users,
            wake,
            client,
            task,
        }
    }

    /// The feed's latest check of ceph-csi's users; shown from the next refresh on
    /// (asked for at once).
    pub(crate) fn set_csi_users(&self, users: Vec<CsiUserCheck>) {
        if let Ok(mut cur) = self.csi_users.lock() {
            *cur = Some(users);
        }
        self.refresh_now();
    }

    /// The latest report (empty until the first refresh finished).
    pub fn latest(&self) -> Arc<CephReport> {
        self.latest
            .lock()
            .map(|l| l.clone())
            .unwrap_or_else(|_| Arc::new(CephReport::default()))
    }

    /// Asks for a refresh now (after the wizard changed something, or on a key press).
    pub(crate) fn refresh_now(&self) {
        self.wake.notify_one();
    }

    pub fn client(&self) -> &CephClient {
        &self.client
    }

    /// Stops refreshing and, when this held the last handle, waits (off the async
    /// workers) for the Ceph thread to shut librados down, so the process can exit
    /// safely right after.
    pub async fn close(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        task.abort();
        let _ = task.await;
        let client = self.client.clone();
        drop(self);
        let _ = tokio::task::spawn_blocking(move || drop(client)).await;
    }
}
