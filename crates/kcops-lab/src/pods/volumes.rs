//! Where a pod's volumes come from on the machine: a PVC is the lab's data dir for that
//! claim (keyed by its UID, so it outlives the pod), `emptyDir` a directory of the
//! pod's, `configMap` its keys as files, `hostPath` the path under the node's host root.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::controllers::{Ctx, str_of};

/// The pod's own directory in the lab (hosts file, emptyDirs, configMap copies).
pub(crate) fn pod_dir(ctx: &Ctx, uid: &str) -> PathBuf {
    ctx.paths.root.join("pods").join(uid)
}

fn mkdir(p: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
    Ok(p.to_path_buf())
}

/// The directory (or file) on the machine that volume `name` of `pod` is.
pub(crate) fn source(ctx: &Ctx, pod: &Value, node: &str, name: &str) -> Result<PathBuf> {
    let ns = str_of(pod, &["metadata", "namespace"]);
    let uid = str_of(pod, &["metadata", "uid"]);
    let Some(vol) = pod["spec"]["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == name))
    else {
        bail!("volume {name:?} is mounted but not declared");
    };
    if let Some(claim) = vol["persistentVolumeClaim"]["claimName"].as_str() {
        let pvc = ctx
            .store
            .get(&ctx.kinds.pvcs, ns, claim)
            .with_context(|| format!("persistentvolumeclaim {claim:?} not found"))?;
        return mkdir(&ctx.paths.etcd_data(&pvc.uid));
    }
    if let Some(path) = vol["hostPath"]["path"].as_str() {
        let root = ctx.paths.host_root(node);
        let p = root.join(path.trim_start_matches('/'));
        if vol["hostPath"]["type"] == "FileOrCreate" && !p.exists() {
            if let Some(parent) = p.parent() {
                mkdir(parent)?;
            }
            std::fs::write(&p, "").with_context(|| format!("cannot create {}", p.display()))?;
            return Ok(p);
        }
        if p.is_file() {
            return Ok(p);
        }
        return mkdir(&p);
    }
    let dir = pod_dir(ctx, uid).join("volumes").join(name);
    if let Some(cm) = vol["configMap"]["name"].as_str() {
        mkdir(&dir)?;
        let data = ctx
            .store
            .get_value(&ctx.kinds.configmaps, ns, cm)
            .map(|v| v["data"].clone())
            .unwrap_or(Value::Null);
        let items: Vec<(String, String)> = match vol["configMap"]["items"].as_array() {
            Some(items) => items
                .iter()
                .filter_map(|i| Some((i["key"].as_str()?.into(), i["path"].as_str()?.into())))
                .collect(),
            None => data
                .as_object()
                .map(|m| m.keys().map(|k| (k.clone(), k.clone())).collect())
                .unwrap_or_default(),
        };
        for (key, path) in items {
            let file = dir.join(path.trim_start_matches('/'));
            if let Some(parent) = file.parent() {
                mkdir(parent)?;
            }
            std::fs::write(&file, data[&key].as_str().unwrap_or_default())
                .with_context(|| format!("cannot write {}", file.display()))?;
        }
        return Ok(dir);
    }
    // emptyDir, and anything the lab does not model, is an empty directory.
    mkdir(&dir)
}

/// Whether volume `name` of `pod` is the node's whole filesystem (`hostPath: /`).
pub(crate) fn is_host_root(pod: &Value, name: &str) -> bool {
    pod["spec"]["volumes"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == name))
        .and_then(|v| v["hostPath"]["path"].as_str())
        .is_some_and(|p| p.trim_end_matches('/').is_empty())
}

/// The machine's programs and libraries the node's host root lacks.
const MACHINE_DIRS: [&str; 10] = [
    "bin",
    "sbin",
    "lib",
    "lib64",
    "usr/bin",
    "usr/sbin",
    "usr/lib",
    "usr/lib64",
    "usr/libexec",
    "usr/share",
];

/// The lab's `crictl`: the node's live sandboxes, as `crictl pods -q` lists them.
const CRICTL: &str = "#!/bin/sh\n\
# kcops lab stand-in for crictl: the node's live pod sandboxes.\n\
case \"$*\" in\n\
  \"pods -q\"|\"pods --quiet\") [ -f /var/lib/kcops-lab/sandboxes ] && cat /var/lib/kcops-lab/sandboxes; exit 0 ;;\n\
  *) echo \"crictl (kcops lab): only 'crictl pods -q' is available\" >&2; exit 1 ;;\n\
esac\n";

/// With the node's host root mounted at `mount_path`, the machine's /bin, /sbin, /lib,
/// /lib64 and /usr (but /usr/local) go read-only under it, and its /dev, so `chroot <mount_path> sh
/// -c ...` works; `usr/local/bin/crictl` is the lab's stand-in. Symlinked directories
/// (a merged /usr) become the same symlinks.
pub(crate) fn machine_binaries(
    ctx: &Ctx,
    node: &str,
    mount_path: &str,
) -> Result<Vec<super::sandbox::Mount>> {
    let root = ctx.paths.host_root(node);
    let mut mounts = Vec::new();
    for dir in MACHINE_DIRS {
        let machine = Path::new("/").join(dir);
        let Ok(meta) = std::fs::symlink_metadata(&machine) else {
            continue;
        };
        let inside = root.join(dir);
        if meta.file_type().is_symlink() {
            if std::fs::symlink_metadata(&inside).is_err() {
                let target = std::fs::read_link(&machine)?;
                if let Some(parent) = inside.parent() {
                    mkdir(parent)?;
                }
                std::os::unix::fs::symlink(target, &inside)
                    .with_context(|| format!("cannot create {}", inside.display()))?;
            }
            continue;
        }
        mkdir(&inside)?;
        mounts.push(super::sandbox::Mount {
            source: machine,
            target: Path::new(mount_path).join(dir),
            read_only: true,
            nested: true,
        });
    }
    // The machine's devices (writable: /dev/null), as a debug pod's /host has them.
    mkdir(&root.join("dev"))?;
    mounts.push(super::sandbox::Mount {
        source: "/dev".into(),
        target: Path::new(mount_path).join("dev"),
        read_only: false,
        nested: true,
    });
    let crictl = root.join("usr/local/bin/crictl");
    mkdir(root.join("usr/local/bin").as_path())?;
    std::fs::write(&crictl, CRICTL)
        .with_context(|| format!("cannot write {}", crictl.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&crictl, std::fs::Permissions::from_mode(0o755))?;
    Ok(mounts)
}
