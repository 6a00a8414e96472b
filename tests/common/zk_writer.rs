//! A ZooKeeper client that writes a znode every 200 ms from the console node's
//! network namespace while a membership change runs, as an application would: which
//! writes were acknowledged and when, to prove afterwards that none was lost and the
//! ensemble never stopped taking writes for long.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zookeeper_client::{Acls, Client, CreateMode};

/// Every acknowledged write: its sequence number and when the server answered.
pub struct Acks {
    pub acked: Vec<(u32, Instant)>,
    pub failed: Vec<(u32, String)>,
    pub started: Instant,
}

impl Acks {
    /// The longest time without an acknowledged write (from the start to the end).
    pub fn longest_gap(&self, ended: Instant) -> Duration {
        let mut last = self.started;
        let mut gap = Duration::ZERO;
        for (_, at) in &self.acked {
            gap = gap.max(at.duration_since(last));
            last = *at;
        }
        gap.max(ended.duration_since(last))
    }
}

pub struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Acks>,
}

/// Runs `f` on a thread inside network namespace `netns` with its own runtime.
fn in_netns<T: Send + 'static>(
    netns: &str,
    f: impl FnOnce(&tokio::runtime::Runtime) -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/run/netns/{netns}");
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        f(&rt)
    })
}

async fn connect(server: &str) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(server)
        .await
        .unwrap_or_else(|e| panic!("connect to {server}: {e}"))
}

impl Writer {
    /// Starts writing `/kcops-writer/w-<n>` through `server` (`ip:2181`).
    pub fn start(netns: &str, server: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let server = server.to_string();
        let handle = in_netns(netns, move |rt| {
            rt.block_on(async move {
                let zk = connect(&server).await;
                let dir = zk.create(
                    "/kcops-writer",
                    b"",
                    &CreateMode::Persistent.with_acls(Acls::anyone_all()),
                );
                match dir.await {
                    Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
                    Err(e) => panic!("create /kcops-writer: {e}"),
                }
                let mut acks = Acks {
                    acked: Vec::new(),
                    failed: Vec::new(),
                    started: Instant::now(),
                };
                let mut n = 0u32;
                while !flag.load(Ordering::SeqCst) {
                    let path = format!("/kcops-writer/w-{n:06}");
                    let write = zk.create(
                        &path,
                        n.to_string().as_bytes(),
                        &CreateMode::Persistent.with_acls(Acls::anyone_all()),
                    );
                    match tokio::time::timeout(Duration::from_secs(5), write).await {
                        Ok(Ok(_)) => acks.acked.push((n, Instant::now())),
                        Ok(Err(e)) => acks.failed.push((n, e.to_string())),
                        Err(_) => acks.failed.push((n, "no answer within 5s".into())),
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                acks
            })
        });
        Writer { stop, handle }
    }

    /// Stops writing; the acknowledgements.
    pub fn stop(self) -> Acks {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .join()
            .unwrap_or_else(|_| panic!("the writer thread panicked"))
    }
}

/// The sequence numbers of `/kcops-writer/w-*` as a fresh session through `server`
/// reads them.
pub fn stored(netns: &str, server: &str) -> Vec<u32> {
    let server = server.to_string();
    in_netns(netns, move |rt| {
        rt.block_on(async move {
            let zk = connect(&server).await;
            zk.sync("/kcops-writer")
                .await
                .unwrap_or_else(|e| panic!("sync: {e}"));
            let mut out: Vec<u32> = zk
                .list_children("/kcops-writer")
                .await
                .unwrap_or_else(|e| panic!("list /kcops-writer: {e}"))
                .into_iter()
                .filter_map(|c| c.strip_prefix("w-")?.parse().ok())
                .collect();
            out.sort();
            out
        })
    })
    .join()
    .unwrap_or_else(|_| panic!("the reader thread panicked"))
}
