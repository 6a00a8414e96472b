//! Removing network links through netlink (rtnetlink), never by spawning `ip`: what a
//! reset does to the links a pod network leaves behind (`cni0`, `flannel.1`, `cali*`,
//! `tunl0`, `vxlan.calico`). Acts in the network namespace of the calling process.

use futures::TryStreamExt;

/// The kernel's "no such device": the link is gone.
const ENODEV: i32 = 19;

/// Why a netlink request failed, in words.
fn words(e: rtnetlink::Error) -> String {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io().to_string(),
        other => other.to_string(),
    }
}

fn is_no_device(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code().abs() == ENODEV)
}

/// A netlink handle whose connection runs on the current tokio runtime.
fn handle() -> Result<rtnetlink::Handle, String> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| format!("cannot open a netlink socket: {e}"))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// The link's index, or `None` when there is no link of that name.
pub async fn link_index(name: &str) -> Result<Option<u32>, String> {
    let h = handle()?;
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(msg.header.index)),
        Ok(None) => Ok(None),
        Err(e) if is_no_device(&e) => Ok(None),
        Err(e) => Err(format!("cannot look up link {name}: {}", words(e))),
    }
}

/// What a removal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// Deleted, and a lookup afterwards no longer finds it.
    Deleted,
    /// There was no such link when the step ran.
    AlreadyGone,
}

/// Deletes link `name` and re-checks that it is gone.
pub async fn remove_link(name: &str) -> Result<Removed, String> {
    let Some(index) = link_index(name).await? else {
        return Ok(Removed::AlreadyGone);
    };
    let h = handle()?;
    match h.link().del(index).execute().await {
        Ok(()) => {}
        // Removed meanwhile (deleting a bridge's port can take its vxlan with it).
        Err(e) if is_no_device(&e) => {}
        Err(e) => return Err(format!("cannot delete link {name}: {}", words(e))),
    }
    match link_index(name).await? {
        None => Ok(Removed::Deleted),
        Some(_) => Err(format!("link {name} is still there after its deletion")),
    }
}
