//! Child processes of the lab (Ceph daemons, etcd members, rbd clients).
//!
//! Every child gets `PR_SET_PDEATHSIG(SIGKILL)` so a crashed lab leaves nothing behind.
//! Linux delivers that signal when the *thread* that forked the child exits, not the
//! process, so all spawns go through one long-lived spawner thread.
#![allow(unsafe_code)] // pre_exec (prctl between fork and exec) and kill(2) on our own children's pids.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;
use std::sync::mpsc;

use anyhow::{Context, Result, anyhow};

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> &'static std::sync::Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<std::sync::Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let spawn_thread = std::thread::Builder::new()
            .name("kcops-lab-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            });
        if let Err(err) = spawn_thread {
            tracing::error!("cannot start the lab's spawner thread: {err}");
        }
        std::sync::Mutex::new(tx)
    })
}

/// Spawns `cmd` so that it dies with this process (parent-death signal, own process
/// group so a terminal's Ctrl-C reaches only the lab, which then stops it in order).
pub fn spawn_tied(mut cmd: Command) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let program = format!("{:?}", cmd.get_program());
    // SAFETY: only async-signal-safe calls (prctl, setpgid) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::setpgid(0, 0);
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner()
        .lock()
        .map_err(|_| anyhow!("lab spawner lock poisoned"))?
        .send((cmd, reply_tx))
        .map_err(|_| anyhow!("lab spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| anyhow!("lab spawner thread is gone"))?
        .with_context(|| format!("cannot start {program}"))
}

/// Writes `pid` to `<dir>/<name>.pid` so `lab down` can stop what a crashed lab left.
pub fn write_pidfile(dir: &Path, name: &str, pid: u32) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{name}.pid"));
    std::fs::write(&path, format!("{pid}\n"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Kills every process named by a pidfile in `dir` (SIGTERM, then SIGKILL after
/// `grace`) and removes the pidfiles. Missing processes are not an error.
pub fn kill_pidfiles(dir: &Path, grace: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut pids = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("pid") {
            continue;
        }
        if let Some(pid) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            pids.push(pid);
        }
        let _ = std::fs::remove_file(&path);
    }
    for pid in &pids {
        terminate(*pid, libc::SIGTERM);
    }
    let deadline = std::time::Instant::now() + grace;
    while std::time::Instant::now() < deadline && pids.iter().any(|p| alive(*p)) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for pid in pids.iter().filter(|p| alive(**p)) {
        terminate(*pid, libc::SIGKILL);
    }
}

/// Sends `sig` once to the process group `spawn_tied` gave the process (which
/// includes the process itself), or to the process alone when it leads no group.
/// Once: Ceph daemons treat a second SIGTERM as "die now" and lose memstore data.
pub fn terminate(pid: i32, sig: libc::c_int) {
    if pid <= 1 {
        return;
    }
    // SAFETY: kill(2) with the negative pid (its process group), then the pid alone.
    unsafe {
        if libc::kill(-pid, sig) != 0 {
            libc::kill(pid, sig);
        }
    }
}

/// Whether a process with this pid exists (and is not a zombie we already reaped).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    if !exists {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
