//! A pod sandbox's namespaces, and processes started inside them: the pod's network
//! namespace (joined), a private mount namespace with the pod's volumes bind-mounted
//! at their `mountPath`s plus the lab's `/etc/hosts` and `/etc/resolv.conf`, and the
//! pod's hostname (UTS). The binaries are the host's: what a template calls must be
//! installed on the machine.
#![allow(unsafe_code)] // pre_exec: setns/unshare/mount/sethostname between fork and exec.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

/// A bind mount into the sandbox's mount namespace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mount {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
    /// The target lies inside an earlier mount, whose source already has it.
    pub nested: bool,
}

/// Where a pod's processes run.
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    /// Name of the pod's network namespace (`/run/netns/<name>`).
    pub netns: String,
    pub hostname: String,
    pub mounts: Vec<Mount>,
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| anyhow!("{s:?} contains a NUL byte"))
}

fn cpath(p: &Path) -> Result<CString> {
    cstring(&p.to_string_lossy())
}

/// Makes sure a mount target exists on the host's filesystem (a bind mount needs one
/// of the source's type). Missing directories are created, as a container runtime
/// creates them in the image's root.
fn ensure_target(m: &Mount) -> Result<()> {
    if m.source.is_dir() {
        if !m.target.is_dir() {
            std::fs::create_dir_all(&m.target)
                .with_context(|| format!("cannot create mount point {}", m.target.display()))?;
        }
    } else if !m.target.exists() {
        if let Some(parent) = m.target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&m.target, "")
            .with_context(|| format!("cannot create mount point {}", m.target.display()))?;
    }
    Ok(())
}

impl Sandbox {
    /// A command running `argv` in the sandbox with exactly `env`, in `cwd`.
    pub(crate) fn command(
        &self,
        argv: &[String],
        env: &[(String, String)],
        cwd: &str,
    ) -> Result<Command> {
        use std::os::unix::process::CommandExt;
        let program = argv.first().context("the container has no command")?;
        let netns = File::open(Path::new("/run/netns").join(&self.netns))
            .with_context(|| format!("pod network namespace {} is gone", self.netns))?;
        let mut mounts = Vec::new();
        for m in &self.mounts {
            if !m.nested {
                ensure_target(m)?;
            }
            mounts.push((cpath(&m.source)?, cpath(&m.target)?, m.read_only));
        }
        let hostname = cstring(&self.hostname)?;
        let cwd = cstring(cwd)?;
        let root = cstring("/")?;
        let mut cmd = Command::new(program);
        cmd.args(&argv[1..])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        // SAFETY: only raw system calls on data prepared above (no allocation) run
        // between fork and exec; errors are returned as the spawn's error.
        unsafe {
            cmd.pre_exec(move || {
                let check = |rc: libc::c_int| {
                    if rc == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                };
                check(libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET))?;
                check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS))?;
                check(libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                for (source, target, read_only) in &mounts {
                    check(libc::mount(
                        source.as_ptr(),
                        target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REC,
                        std::ptr::null(),
                    ))?;
                    if *read_only {
                        check(libc::mount(
                            std::ptr::null(),
                            target.as_ptr(),
                            std::ptr::null(),
                            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                            std::ptr::null(),
                        ))?;
                    }
                }
                check(libc::sethostname(
                    hostname.as_ptr(),
                    hostname.as_bytes().len(),
                ))?;
                check(libc::chdir(cwd.as_ptr()))?;
                Ok(())
            });
        }
        Ok(cmd)
    }

    /// Runs `argv` to completion inside the sandbox (an exec probe): success, or the
    /// reason it failed. Killed after `timeout`, as a probe that times out fails.
    pub(crate) async fn run(
        &self,
        argv: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<(), String> {
        let mut cmd = self.command(argv, env, "/").map_err(|e| format!("{e:#}"))?;
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let mut child: Child = crate::process::spawn_tied(cmd).map_err(|e| format!("{e:#}"))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("command exited with {status}")),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("command timed out after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
