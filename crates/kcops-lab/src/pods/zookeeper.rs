//! ZooKeeper member pods: the kubernetes-zookeeper image's scripts (`start-zookeeper`,
//! `zookeeper-ready`) do not exist on a host, so the lab ships stand-ins that do what
//! they do with the machine's ZooKeeper, and mounts them where the image has them
//! (`/usr/local/bin`), with a writable `/opt/zookeeper` of the pod's own for the
//! generated `conf/` (each server writes its own `zoo.cfg`, as in its image).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::sandbox::Mount;
use crate::controllers::Ctx;
use crate::scenario::MemberKind;

/// The stand-ins, as files of the same names in the pod's `/usr/local/bin`.
const SCRIPTS: [(&str, &str); 2] = [
    ("start-zookeeper", include_str!("zookeeper/start-zookeeper")),
    ("zookeeper-ready", include_str!("zookeeper/zookeeper-ready")),
];

/// The jar the stand-in starts (Debian's `zookeeper` package).
pub(crate) const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";

/// Whether the scenario marks this pod's StatefulSet `kind: zookeeper`.
pub(crate) fn is_member(ctx: &Ctx, pod: &Value) -> bool {
    matches!(
        crate::controllers::kubelet::member_kind_of(ctx, pod),
        Some((MemberKind::Zookeeper, _))
    )
}

/// Writes the stand-ins under the pod's directory and says where they are mounted.
pub(crate) fn image_mounts(pod_dir: &Path) -> Result<Vec<Mount>> {
    let bin = pod_dir.join("zookeeper-bin");
    let opt = pod_dir.join("zookeeper-opt");
    for dir in [&bin, &opt] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for (name, text) in SCRIPTS {
        let path = bin.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(vec![
        Mount {
            source: bin,
            target: "/usr/local/bin".into(),
            read_only: true,
            nested: false,
        },
        Mount {
            source: opt,
            target: "/opt/zookeeper".into(),
            read_only: false,
            nested: false,
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_are_written_executable_and_mounted_where_the_image_has_them() {
        let dir = std::env::temp_dir().join(format!("kcops-zk-standins-{}", std::process::id()));
        let mounts = image_mounts(&dir).expect("write stand-ins");
        let targets: Vec<_> = mounts.iter().map(|m| m.target.clone()).collect();
        assert_eq!(
            targets,
            vec![Path::new("/usr/local/bin"), Path::new("/opt/zookeeper")]
        );
        for (name, _) in SCRIPTS {
            let meta = std::fs::metadata(dir.join("zookeeper-bin").join(name)).expect("script");
            assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
