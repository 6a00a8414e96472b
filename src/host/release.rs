//! Releasing leaked host-local IPAM reservations: deleting
//! `/var/lib/cni/networks/<network>/<ip>` files whose sandbox no longer exists.
//!
//! A wrong deletion hands one address to two pods, so the files the operator approved
//! are checked again at the moment of deletion: under the directory's `lock` file
//! (host-local takes the same flock before it reserves or releases an address), with
//! the live sandboxes listed anew, a file is deleted only if it still names the same
//! sandbox and that sandbox is still not live. Anything else is skipped and said so.

use std::fs::OpenOptions;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use super::probe::HostProbe;
use crate::model::host::Probe;

/// One reservation the operator approved for release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    pub ip: String,
    pub sandbox: String,
}

/// What a release did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Released {
    pub released: Vec<String>,
    /// `(ip, why it was kept)`.
    pub skipped: Vec<(String, String)>,
}

impl Released {
    /// `released 250 of 251; kept 10.244.1.9 (its sandbox is live now)`.
    pub fn summary(&self, total: usize) -> String {
        let mut text = format!("released {} of {total}", self.released.len());
        if !self.skipped.is_empty() {
            let kept: Vec<String> = self
                .skipped
                .iter()
                .take(5)
                .map(|(ip, why)| format!("{ip} ({why})"))
                .collect();
            text.push_str(&format!("; kept {}", kept.join(", ")));
            if self.skipped.len() > 5 {
                text.push_str(&format!(" and {} more", self.skipped.len() - 5));
            }
        }
        text
    }
}

/// How long to wait for host-local to let go of the lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// A network name as a single path component (`cbr0`), never `..` or a path.
fn valid_network(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn lock(dir: &Path) -> Result<Flock<std::fs::File>, String> {
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                file = f;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err((_, e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
    }
}

/// Deletes the approved reservations of `network` that are still leaked, holding the
/// network directory's lock; `probe` lists the live sandboxes for the second check.
pub fn release(
    probe: &HostProbe,
    network: &str,
    approved: &[Approved],
) -> Result<Released, String> {
    if !valid_network(network) {
        return Err(format!("{network:?} is not a CNI network name"));
    }
    let dir = probe.root.join("var/lib/cni/networks").join(network);
    if !dir.is_dir() {
        return Err(format!("{} does not exist", dir.display()));
    }
    let _lock = lock(&dir)?;
    let live = match probe.live_sandboxes() {
        Probe::Found(l) => l,
        Probe::Error(e) => {
            return Err(format!(
                "cannot list the live sandboxes ({e}); nothing released"
            ));
        }
        Probe::Missing => {
            return Err("cannot list the live sandboxes; nothing released".to_string());
        }
    };
    let mut out = Released::default();
    for a in approved {
        if a.ip.parse::<IpAddr>().is_err() {
            out.skipped
                .push((a.ip.clone(), "not an IP address".to_string()));
            continue;
        }
        let path = dir.join(&a.ip);
        let holder = match std::fs::read_to_string(&path) {
            Ok(text) => text.lines().next().unwrap_or_default().trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.skipped.push((a.ip.clone(), "already gone".to_string()));
                continue;
            }
            Err(e) => {
                out.skipped.push((a.ip.clone(), format!("unreadable: {e}")));
                continue;
            }
        };
        if holder != a.sandbox {
            out.skipped.push((
                a.ip.clone(),
                format!(
                    "now reserved by sandbox {}",
                    holder.get(..12).unwrap_or(&holder)
                ),
            ));
            continue;
        }
        if live.contains(&a.sandbox) {
            out.skipped
                .push((a.ip.clone(), "its sandbox is live now".to_string()));
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => out.released.push(a.ip.clone()),
            Err(e) => out
                .skipped
                .push((a.ip.clone(), format!("cannot delete: {e}"))),
        }
    }
    tracing::info!(
        network,
        released = out.released.len(),
        skipped = out.skipped.len(),
        "released leaked host-local reservations"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::probe::tests::cat;

    /// The test's list of live sandboxes, printed by the probe's sandboxes command.
    const LAB_SANDBOXES_FILE: &str = "sandboxes";

    fn root(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("kcops-release-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("var/lib/cni/networks/cbr0")).unwrap();
        std::fs::create_dir_all(d.join("var/lib/kcops-lab")).unwrap();
        d
    }

    fn id(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn releases_only_what_is_still_leaked() {
        let r = root("still");
        let net = r.join("var/lib/cni/networks/cbr0");
        for (ip, sandbox) in [
            ("10.244.1.2", id('a')), // live all along
            ("10.244.1.3", id('b')), // leaked
            ("10.244.1.4", id('c')), // leaked, but live by the second check
            ("10.244.1.5", id('d')), // leaked, re-reserved by another sandbox since
            ("10.244.1.6", id('e')), // leaked
        ] {
            std::fs::write(net.join(ip), format!("{sandbox}\r\neth0")).unwrap();
        }
        std::fs::write(net.join("lock"), "").unwrap();
        std::fs::write(r.join(LAB_SANDBOXES_FILE), format!("{}\n", id('a'))).unwrap();
        let probe = HostProbe::new(&r, Some("node1".into()))
            .with_sandboxes_command(cat(&r.join(LAB_SANDBOXES_FILE)));
        let approved: Vec<Approved> = [
            ("10.244.1.3", 'b'),
            ("10.244.1.4", 'c'),
            ("10.244.1.5", 'd'),
            ("10.244.1.6", 'e'),
            ("10.244.1.7", 'f'),
            ("../../etc", 'g'),
        ]
        .into_iter()
        .map(|(ip, c)| Approved {
            ip: ip.into(),
            sandbox: id(c),
        })
        .collect();
        // Between the plan and its execution, c became live and 10.244.1.5 changed hands.
        std::fs::write(
            r.join(LAB_SANDBOXES_FILE),
            format!("{}\n{}\n", id('a'), id('c')),
        )
        .unwrap();
        std::fs::write(net.join("10.244.1.5"), format!("{}\r\neth0", id('9'))).unwrap();
        let out = release(&probe, "cbr0", &approved).unwrap();
        assert_eq!(out.released, ["10.244.1.3", "10.244.1.6"]);
        assert_eq!(
            out.skipped,
            [
                (
                    "10.244.1.4".to_string(),
                    "its sandbox is live now".to_string()
                ),
                (
                    "10.244.1.5".to_string(),
                    "now reserved by sandbox 999999999999".to_string()
                ),
                ("10.244.1.7".to_string(), "already gone".to_string()),
                ("../../etc".to_string(), "not an IP address".to_string()),
            ]
        );
        for kept in ["10.244.1.2", "10.244.1.4", "10.244.1.5", "lock"] {
            assert!(net.join(kept).exists(), "{kept}");
        }
        assert!(!net.join("10.244.1.3").exists());
        assert_eq!(
            out.summary(6),
            "released 2 of 6; kept 10.244.1.4 (its sandbox is live now), 10.244.1.5 (now reserved by sandbox 999999999999), 10.244.1.7 (already gone), ../../etc (not an IP address)"
        );
        let _ = std::fs::remove_dir_all(&r);
    }

    #[test]
    fn nothing_is_released_without_the_live_list_or_the_lock() {
        let r = root("refuse");
        let net = r.join("var/lib/cni/networks/cbr0");
        std::fs::write(net.join("10.244.1.3"), format!("{}\r\neth0", id('b'))).unwrap();
        let approved = [Approved {
            ip: "10.244.1.3".into(),
            sandbox: id('b'),
        }];
        // No sandbox list (no lab file, not root /, no command).
        std::fs::remove_dir_all(r.join("var/lib/kcops-lab")).unwrap();
        let probe = HostProbe::new(&r, Some("node1".into()))
            .with_sandboxes_command(cat(&r.join(LAB_SANDBOXES_FILE)));
        let err = release(&probe, "cbr0", &approved).unwrap_err();
        assert!(err.contains("nothing released"), "{err}");
        assert!(net.join("10.244.1.3").exists());
        // Not a network name.
        assert!(release(&probe, "../x", &approved).is_err());
        assert!(release(&probe, "nope", &approved).is_err());
        // The lock held by someone else (host-local at work) is waited for, then refused.
        std::fs::create_dir_all(r.join("var/lib/kcops-lab")).unwrap();
        std::fs::write(r.join(LAB_SANDBOXES_FILE), "").unwrap();
        let held = Flock::lock(
            std::fs::File::create(net.join("lock")).unwrap(),
            FlockArg::LockExclusive,
        )
        .unwrap();
        let err = release(&probe, "cbr0", &approved).unwrap_err();
        assert!(err.starts_with("cannot lock"), "{err}");
        drop(held);
        let out = release(&probe, "cbr0", &approved).unwrap();
        assert_eq!(out.released, ["10.244.1.3"]);
        let _ = std::fs::remove_dir_all(&r);
    }
}
