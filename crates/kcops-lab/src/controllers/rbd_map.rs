//! What the in-tree RBD plugin meets before its `rbd map` succeeds, played against the
//! real Ceph: the user's Secret, the image (missing: ENOENT), the user's caps on the
//! pool (EPERM/EACCES from Ceph itself) and the node kernel's feature set (from the
//! scenario's `rbdKernelFeatures`, against the image's real features). Each failure is
//! the Event message the kubelet writes, worded as the plugin and `rbd` word it.

use serde_json::Value;

use super::{Ctx, str_of};
use crate::rbd;

/// The `rbd map` failure text of the in-tree plugin: its prefix, then rbd's output.
fn map_failed(pv: &str, status: i32, output: &str) -> String {
    format!(
        "MountVolume.WaitForAttach failed for volume \"{pv}\" : rbd: map failed exit status \
         {status}, rbd output: {output}"
    )
}

const SYSLOG_HINT: &str = "In some cases useful info is found in syslog - try \"dmesg | tail\".";

/// `Ok` when the plugin would map the PV's image on `node`; else the FailedMount text.
pub(crate) async fn check(ctx: &Ctx, pod: &Value, pv: &Value, node: &str) -> Result<(), String> {
    let Some(ceph) = &ctx.ceph else {
        return Ok(());
    };
    let rbd_src = &pv["spec"]["rbd"];
    let Some(image) = rbd_src["image"].as_str() else {
        return Ok(()); // not an in-tree RBD volume
    };
    let pv_name = str_of(pv, &["metadata", "name"]);
    let pool = rbd_src["pool"].as_str().unwrap_or("rbd");
    let user = rbd_src["user"].as_str().unwrap_or("admin");
    if let Some(secret) = rbd_src["secretRef"]["name"].as_str() {
        let ns = rbd_src["secretRef"]["namespace"]
            .as_str()
            .unwrap_or_else(|| str_of(pod, &["metadata", "namespace"]));
        if ctx.store.get(&ctx.kinds.secrets, ns, secret).is_none() {
            return Err(format!(
                "MountVolume.NewMounter initialization failed for volume \"{pv_name}\" : \
                 couldn't get secret {ns}/{secret} err: secrets \"{secret}\" not found"
            ));
        }
    }
    let spec = format!("{pool}/{image}");
    let features = match rbd::image_features(ceph.user_rbd(Some(node), user), &spec).await {
        Ok(f) => f,
        Err(e) => {
            // `rbd map` fails in the kernel with the errno Ceph gave librbd here (the
            // CLI's own log lines carry times and thread ids, which krbd does not print).
            return Err(match rbd::cli_error(&e).and_then(|c| c.errno()) {
                Some(errno) if !rbd::cli_error(&e).is_some_and(|c| c.is_timeout()) => {
                    let why = nix::errno::Errno::from_raw(errno).desc();
                    map_failed(
                        pv_name,
                        errno,
                        &format!(
                            "rbd: sysfs write failed\n{SYSLOG_HINT}\nrbd: map failed: ({errno}) \
                             {why}"
                        ),
                    )
                }
                _ => format!("MountVolume.WaitForAttach failed for volume \"{pv_name}\" : {e:#}"),
            });
        }
    };
    let kernel = ctx
        .scenario
        .node(node)
        .and_then(|n| n.rbd_kernel_features.as_ref());
    if let Some(kernel) = kernel {
        let unsupported: Vec<&String> = features.iter().filter(|f| !kernel.contains(f)).collect();
        let mask: u64 = unsupported.iter().map(|f| rbd::feature_bit(f)).sum();
        if mask != 0 {
            let names: Vec<&str> = unsupported.iter().map(|f| f.as_str()).collect();
            return Err(map_failed(
                pv_name,
                6,
                &format!(
                    "rbd: image {image}: image uses unsupported features: {mask:#x}\nrbd: sysfs \
                     write failed\nRBD image feature set mismatch. You can disable features \
                     unsupported by the kernel with \"rbd feature disable {spec} {}\".\n\
                     {SYSLOG_HINT}\nrbd: map failed: (6) No such device or address",
                    names.join(" ")
                ),
            ));
        }
    }
    Ok(())
}
