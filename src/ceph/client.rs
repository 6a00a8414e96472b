//! [`CephClient`]: the console's handle on the Ceph thread.
//!
//! Every method queues a request for the thread and awaits its reply, bounded by
//! `CephSettings::request_timeout`; nothing here blocks the calling task. The handle is
//! cheap to clone (pane, findings and wizard share one connection); the thread and its
//! connection end when the last clone is dropped.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{oneshot, watch};

use crate::ceph::calls::{self, Connection};
use crate::ceph::config::CephSettings;
use crate::ceph::error::CephError;
use crate::ceph::types::{
    AuthCaps, BlocklistEntry, DfReport, HealthReport, ImageInfo, ImageSpec, OsdStat, PoolInfo,
};
use crate::ceph::worker::{self, Call, Job};

/// The session as the pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    /// Connecting (first time, or again after a failure).
    Connecting,
    Connected {
        entity: String,
        mons: String,
        /// kcops' own client addresses (`ip:port/nonce`): how it appears in Ceph, and
        /// what fencing must never cover.
        addrs: Vec<String>,
        since: SystemTime,
    },
    /// The last connect failed or Ceph stopped answering; requests still retry.
    Down { error: CephError, since: SystemTime },
}

/// Details of every image in a pool, and the images that could not be read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoolImages {
    pub images: Vec<ImageInfo>,
    pub errors: Vec<(String, CephError)>,
}

struct Inner {
    jobs: Sender<Job>,
    state: watch::Receiver<ConnectionState>,
    settings: CephSettings,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The last handle closes the queue and waits for the thread to shut librados down:
/// a process that exits while librados is still tearing down its own threads aborts
/// ("Rust cannot catch foreign exceptions"). The wait is bounded by the request in
/// flight (the op timeout) plus the shutdown itself.
impl Drop for Inner {
    fn drop(&mut self) {
        let (closed, _) = std::sync::mpsc::channel();
        drop(std::mem::replace(&mut self.jobs, closed));
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// An asynchronous client for one Ceph cluster, as one user.
#[derive(Clone)]
pub struct CephClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CephClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephClient")
            .field("entity", &self.inner.settings.entity())
            .field("conf", &self.inner.settings.conf)
            .finish()
    }
}

impl CephClient {
    /// Starts the Ceph thread, which connects in the background. Returns at once:
    /// settings and connection problems (missing conf or keyring, unreachable mon)
    /// come back from the first requests and through [`CephClient::state`]. Fails
    /// only if the thread cannot be started.
    pub fn connect(settings: CephSettings) -> Result<CephClient, CephError> {
        let (jobs, rx) = std::sync::mpsc::channel();
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let thread = worker::spawn(settings.clone(), rx, state_tx)
            .map_err(|e| CephError::Config(format!("cannot start the Ceph client thread: {e}")))?;
        Ok(CephClient {
            inner: Arc::new(Inner {
                jobs,
                state,
                settings,
                thread: Some(thread),
            }),
        })
    }

    pub fn settings(&self) -> &CephSettings {
        &self.inner.settings
    }

    /// `client.<id>`: who we are to Ceph (for caps checks and messages).
    pub fn entity(&self) -> String {
        self.inner.settings.entity()
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.inner.state.borrow().clone()
    }

    /// A receiver that wakes on every state change (for dirty-marking the pane).
    pub fn subscribe(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.clone()
    }

    /// Queues `f` for the Ceph thread and awaits its result within the request
    /// timeout.
    async fn call<T, F>(&self, what: String, f: F) -> Result<T, CephError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, CephError> + Send + 'static,
    {
        let timeout = self.inner.settings.request_timeout;
        let (reply, rx) = oneshot::channel();
        let now = Instant::now();
        let job = Job {
            task: Box::new(Call { f, reply }),
            what: what.clone(),
            enqueued: now,
            deadline: now + timeout,
        };
        self.inner.jobs.send(job).map_err(|_| CephError::Stopped)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CephError::Stopped),
            Err(_) => Err(CephError::Timeout {
                what,
                after: timeout,
            }),
        }
    }

    /// `ceph health detail`: status and each check with its details.
    pub async fn health(&self) -> Result<HealthReport, CephError> {
        self.call("health detail".into(), calls::health).await
    }

    /// `ceph df`: totals and usage per pool.
    pub async fn df(&self) -> Result<DfReport, CephError> {
        self.call("df".into(), calls::df).await
    }

    /// `ceph osd stat`: OSDs up and in.
    pub async fn osd_stat(&self) -> Result<OsdStat, CephError> {
        self.call("osd stat".into(), calls::osd_stat).await
    }

    /// `ceph osd pool ls detail`: pools and their applications (find the RBD pools).
    pub async fn pools(&self) -> Result<Vec<PoolInfo>, CephError> {
        self.call("osd pool ls".into(), calls::pools).await
    }

    /// `ceph osd blocklist ls`: addresses and ranges, with expiry.
    pub async fn blocklist_ls(&self) -> Result<Vec<BlocklistEntry>, CephError> {
        self.call("osd blocklist ls".into(), calls::blocklist_ls)
            .await
    }

    /// The caps of `entity` (`client.kube`) from `ceph auth get`; the key is
    /// dropped and wiped, never returned or logged. Needs mon caps that allow
    /// `auth get` (an `allow r` user is refused with EACCES).
    pub async fn auth_caps(&self, entity: &str) -> Result<AuthCaps, CephError> {
        let entity = entity.to_string();
        self.call(format!("auth get {entity}"), move |c| {
            calls::auth_caps(c, &entity)
        })
        .await
    }

    /// [`CephClient::auth_caps`] plus whether the user's key is `expected` (a
    /// ceph-csi Secret's `userKey`); neither key is returned or logged.
    pub async fn auth_check_key(
        &self,
        entity: &str,
        expected: String,
    ) -> Result<(AuthCaps, bool), CephError> {
        let entity = entity.to_string();
        self.call(format!("auth get {entity}"), move |c| {
            let mut expected = expected.into_bytes();
            let result = calls::auth_check_key(c, &entity, &String::from_utf8_lossy(&expected));
            super::rados::wipe(&mut expected);
            result
        })
        .await
    }

    /// Names and ids of the images in `pool`, sorted by name.
    pub async fn list_images(&self, pool: &str) -> Result<Vec<ImageSpec>, CephError> {
        let pool = pool.to_string();
        self.call(format!("rbd ls {pool}"), move |c| {
            calls::list_images(c, &pool)
        })
        .await
    }

    /// Size, features, format, lockers (advisory and exclusive-lock owner) and
    /// watchers of one image. Uses a read-only open, so we never appear as a watcher.
    pub async fn image_info(&self, pool: &str, image: &str) -> Result<ImageInfo, CephError> {
        let (pool, image) = (pool.to_string(), image.to_string());
        self.call(format!("rbd info {pool}/{image}"), move |c| {
            calls::image_info(c, &pool, &image)
        })
        .await
    }

    /// [`CephClient::image_info`] for every image of `pool` in one request.
    pub async fn pool_images(&self, pool: &str) -> Result<PoolImages, CephError> {
        let pool = pool.to_string();
        self.call(format!("rbd images of {pool}"), move |c| {
            calls::pool_images(c, &pool)
        })
        .await
    }

    /// Addresses owning the image's exclusive lock (librbd's `lock_get_owners`).
    /// This opens the image read-write, so for the duration of the call kcops is a
    /// watcher of the image; prefer [`ImageInfo::exclusive_lock_owner`], which needs
    /// no such open.
    pub async fn lock_owners(&self, pool: &str, image: &str) -> Result<Vec<String>, CephError> {
        let (pool, image) = (pool.to_string(), image.to_string());
        self.call(format!("rbd lock owners {pool}/{image}"), move |c| {
            calls::lock_owners(c, &pool, &image)
        })
        .await
    }

    /// Fences a client: `ceph osd blocklist add <addr> <expire>`. `addr` is an
    /// `ip:port/nonce` from a lock or watcher (one client), or a bare IP (every client
    /// on that host). Refuses an address that covers kcops' own client. A user without
    /// blocklist rights gets a permission error naming the caps needed.
    pub async fn blocklist_add(&self, addr: &str, expire: Duration) -> Result<(), CephError> {
        let addr = addr.to_string();
        self.call(
            format!("osd blocklist add {addr} {}", expire.as_secs()),
            move |c| calls::blocklist_add(c, &addr, expire),
        )
        .await
    }

    /// `ceph osd blocklist rm <addr>`: lifts a fence early.
    pub async fn blocklist_rm(&self, addr: &str) -> Result<(), CephError> {
        let addr = addr.to_string();
        self.call(format!("osd blocklist rm {addr}"), move |c| {
            calls::blocklist_rm(c, &addr)
        })
        .await
    }

    /// Breaks the lock `cookie` held by `locker` (`client.4140`) on the image, as
    /// `rbd lock rm` does. librbd blocklists the holder first, so this needs blocklist
    /// rights (otherwise "rbd: releasing lock failed: (13) Permission denied", as for a
    /// `client.kube` with `mon 'allow r'`). ENOENT when no such lock exists (any more).
    pub async fn break_lock(
        &self,
        pool: &str,
        image: &str,
        locker: &str,
        cookie: &str,
    ) -> Result<(), CephError> {
        let (pool, image) = (pool.to_string(), image.to_string());
        let (locker, cookie) = (locker.to_string(), cookie.to_string());
        self.call(
            format!("rbd lock rm {pool}/{image} {cookie} {locker}"),
            move |c| calls::break_lock(c, &pool, &image, &locker, &cookie),
        )
        .await
    }

    /// Breaks the exclusive lock owned by `owner` (an address from
    /// [`CephClient::lock_owners`] or the owner's locker address). Opens the image
    /// read-write; blocklists the owner first.
    pub async fn break_exclusive_lock(
        &self,
        pool: &str,
        image: &str,
        owner: &str,
    ) -> Result<(), CephError> {
        let (pool, image, owner) = (pool.to_string(), image.to_string(), owner.to_string());
        self.call(format!("rbd lock break {pool}/{image} {owner}"), move |c| {
            calls::break_exclusive_lock(c, &pool, &image, &owner)
        })
        .await
    }

    /// Any mon command given as JSON (`{"prefix": "mon dump", "format": "json"}`),
    /// returning its output. Commands whose replies may hold secrets (`auth ...`,
    /// `config-key ...`) are refused.
    pub async fn mon_command(&self, command: serde_json::Value) -> Result<String, CephError> {
        let what = command
            .get("prefix")
            .and_then(|p| p.as_str())
            .unwrap_or("mon command")
            .to_string();
        self.call(what, move |c| calls::raw_mon_command(c, &command))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The console keeps one handle in its app state and moves clones into tasks.
    #[test]
    fn client_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<CephClient>();
    }
}
