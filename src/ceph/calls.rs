//! What each request does, run on the Ceph thread against its connection: the
//! librados/librbd wrappers plus context for errors (what, where, and a hint when
//! Ceph's errno alone would puzzle an operator).

use std::time::Duration;

use crate::ceph::config::{self, CephSettings};
use crate::ceph::error::{CephError, EACCES, ENOENT, EPERM, ETIMEDOUT, errno_text};
use crate::ceph::holders::EntityAddr;
use crate::ceph::mon::{self, MonCmd};
use crate::ceph::rados::{Cluster, ConnectFailure, IoCtx, wipe};
use crate::ceph::rbd::{Image, OpenMode};
use crate::ceph::types::{
    AuthCaps, BlocklistEntry, DfReport, FEATURE_EXCLUSIVE_LOCK, HealthReport, ImageInfo, ImageSpec,
    LockerInfo, OsdStat, PoolInfo, WatcherInfo,
};

/// What a capability-less user needs to fence a client, for error hints.
pub(crate) const BLOCKLIST_CAPS_HINT: &str =
    "blocklisting needs mon caps `profile rbd` or `allow rw` (or `allow *`)";

/// A live session with the cluster, owned by the Ceph thread.
pub struct Connection {
    pub cluster: Cluster,
    pub entity: String,
    pub mons: String,
    /// Our own addresses, so we never fence ourselves.
    pub own_addrs: Vec<EntityAddr>,
}

/// Connects as the settings say; the generated conf is removed once librados read it.
pub(crate) fn connect(settings: &CephSettings) -> Result<Connection, CephError> {
    let conf = config::prepare(settings)?;
    let entity = settings.entity();
    let result = Cluster::connect(&entity, &conf.path);
    let mons = conf.mons.clone();
    let keyring = conf.keyring.as_ref().map_or_else(
        || "the key in the conf".to_string(),
        |k| k.display().to_string(),
    );
    drop(conf);
    let cluster = result.map_err(|failure| {
        let (errno, hint) = match failure {
            ConnectFailure::Create(r) => (r, "librados could not create a client".to_string()),
            ConnectFailure::ReadConf(r) => {
                return CephError::Config(format!(
                    "librados cannot read the client config made from {}: {}",
                    settings.conf.display(),
                    errno_text(r)
                ));
            }
            ConnectFailure::Connect(r) => (r, connect_hint(-r, settings, &keyring)),
        };
        CephError::Connect {
            entity: entity.clone(),
            mons: mons.clone(),
            errno: errno.saturating_abs(),
            hint,
        }
    })?;
    let own_addrs = match cluster.own_addrs() {
        Ok(text) => EntityAddr::parse_all(&text),
        Err(r) => {
            tracing::debug!(r, "cannot read our own Ceph address");
            Vec::new()
        }
    };
    tracing::info!(%entity, %mons, id = cluster.instance_id(), "connected to Ceph");
    Ok(Connection {
        cluster,
        entity,
        mons,
        own_addrs,
    })
}

fn connect_hint(errno: i32, settings: &CephSettings, keyring: &str) -> String {
    let conf = settings.conf.display();
    match errno {
        ETIMEDOUT => format!(
            "no monitor answered within {}s: check `mon host` in {conf}, that the mons run, and that this host reaches them",
            settings.op_timeout.as_secs()
        ),
        EACCES | EPERM => format!(
            "cephx refused {}: check that the key in {keyring} is the cluster's current key for it",
            settings.entity()
        ),
        ENOENT => format!("no key for {} in {keyring}", settings.entity()),
        libc::ECONNREFUSED => format!("the mons in {conf} refuse connections"),
        _ => String::new(),
    }
}

/// Runs a mon command; a negative return is an error carrying the mon's explanation.
fn mon_command(conn: &Connection, cmd: &MonCmd) -> Result<Vec<u8>, CephError> {
    let reply = conn
        .cluster
        .mon_command(&cmd.json, cmd.sensitive)
        .map_err(|_| CephError::Invalid {
            what: "mon command".into(),
            detail: format!("`{}` contains a NUL byte", cmd.display),
        })?;
    if reply.ret < 0 {
        let mut out = reply.out;
        wipe(&mut out);
        return Err(CephError::Command {
            command: cmd.display.clone(),
            errno: reply.ret.saturating_abs(),
            status: reply.status,
        });
    }
    if !reply.status.trim().is_empty() {
        tracing::debug!(command = %cmd.display, status = %reply.status.trim(), "mon status");
    }
    Ok(reply.out)
}

fn parsed<T>(cmd: &MonCmd, result: Result<T, String>) -> Result<T, CephError> {
    result.map_err(|detail| CephError::Parse {
        what: format!("`ceph {}`", cmd.display),
        detail,
    })
}

pub(crate) fn health(conn: &Connection) -> Result<HealthReport, CephError> {
    let cmd = mon::health();
    let out = mon_command(conn, &cmd)?;
    parsed(&cmd, mon::parse_health(&out))
}

pub(crate) fn df(conn: &Connection) -> Result<DfReport, CephError> {
    let cmd = mon::df();
    let out = mon_command(conn, &cmd)?;
    parsed(&cmd, mon::parse_df(&out))
}

pub(crate) fn osd_stat(conn: &Connection) -> Result<OsdStat, CephError> {
    let cmd = mon::osd_stat();
    let out = mon_command(conn, &cmd)?;
    parsed(&cmd, mon::parse_osd_stat(&out))
}

pub(crate) fn pools(conn: &Connection) -> Result<Vec<PoolInfo>, CephError> {
    let cmd = mon::pools();
    let out = mon_command(conn, &cmd)?;
    parsed(&cmd, mon::parse_pools(&out))
}

pub(crate) fn blocklist_ls(conn: &Connection) -> Result<Vec<BlocklistEntry>, CephError> {
    let cmd = mon::blocklist_ls();
    let out = mon_command(conn, &cmd)?;
    parsed(&cmd, mon::parse_blocklist(&out))
}

/// The caps of `entity`; the reply's key is wiped from memory after parsing.
pub(crate) fn auth_caps(conn: &Connection, entity: &str) -> Result<AuthCaps, CephError> {
    let cmd = mon::auth_get(entity);
    let mut out = mon_command(conn, &cmd)?;
    let result = mon::parse_auth_caps(&out);
    wipe(&mut out);
    parsed(&cmd, result)
}

/// The caps of `entity` and whether its key is `expected`; the reply is wiped.
pub(crate) fn auth_check_key(
    conn: &Connection,
    entity: &str,
    expected: &str,
) -> Result<(AuthCaps, bool), CephError> {
    let cmd = mon::auth_get(entity);
    let mut out = mon_command(conn, &cmd)?;
    let caps = mon::parse_auth_caps(&out);
    let key = mon::auth_key_is(&out, expected);
    wipe(&mut out);
    Ok((parsed(&cmd, caps)?, parsed(&cmd, key)?))
}

/// Any mon command whose reply cannot carry a secret; returns its output as text.
pub(crate) fn raw_mon_command(
    conn: &Connection,
    command: &serde_json::Value,
) -> Result<String, CephError> {
    let cmd = mon::raw(command).map_err(|detail| CephError::Invalid {
        what: "mon command".into(),
        detail,
    })?;
    let out = mon_command(conn, &cmd)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Adds `addr` to the OSD blocklist for `expire`, then waits for the new OSD map so a
/// following lock break sees the fence.
pub(crate) fn blocklist_add(
    conn: &Connection,
    addr: &str,
    expire: Duration,
) -> Result<(), CephError> {
    let parsed_addr = EntityAddr::parse(addr).ok_or_else(|| CephError::Invalid {
        what: "blocklist address".into(),
        detail: format!("{addr:?} is not `ip`, `ip:port` or `ip:port/nonce`"),
    })?;
    if let Some(own) = conn.own_addrs.iter().find(|own| parsed_addr.covers(own)) {
        return Err(CephError::Invalid {
            what: "blocklist address".into(),
            detail: format!(
                "{addr} would cut off kcops' own Ceph client ({own}); fence the holder's exact ip:port/nonce instead"
            ),
        });
    }
    let secs = expire.as_secs().max(1);
    mon_command(conn, &mon::blocklist_add(addr, secs)).map_err(|e| with_caps_hint(e, conn))?;
    if let Err(r) = conn.cluster.wait_for_latest_osdmap() {
        tracing::warn!(r, "blocklist added, but waiting for the new OSD map failed");
    }
    Ok(())
}

pub(crate) fn blocklist_rm(conn: &Connection, addr: &str) -> Result<(), CephError> {
    if EntityAddr::parse(addr).is_none() {
        return Err(CephError::Invalid {
            what: "blocklist address".into(),
            detail: format!("{addr:?} is not `ip`, `ip:port` or `ip:port/nonce`"),
        });
    }
    mon_command(conn, &mon::blocklist_rm(addr)).map_err(|e| with_caps_hint(e, conn))?;
    Ok(())
}

/// A permission error on a fencing command, with what the user needs.
fn with_caps_hint(err: CephError, conn: &Connection) -> CephError {
    match err {
        CephError::Command {
            command,
            errno,
            status,
        } if errno == EACCES || errno == EPERM => CephError::Command {
            command,
            errno,
            status: format!(
                "{} ({} may not blocklist: {BLOCKLIST_CAPS_HINT})",
                status.trim(),
                conn.entity
            ),
        },
        other => other,
    }
}

fn rbd_error(op: &str, target: &str, r: i32, hint: &str) -> CephError {
    let errno = r.saturating_abs();
    let hint = match errno {
        ENOENT if hint.is_empty() => "not found".to_string(),
        _ => hint.to_string(),
    };
    CephError::Rbd {
        op: op.to_string(),
        target: target.to_string(),
        errno,
        hint,
    }
}

fn open_pool<'c>(conn: &'c Connection, pool: &str) -> Result<IoCtx<'c>, CephError> {
    conn.cluster
        .ioctx(pool)
        .map_err(|r| rbd_error("opening pool", pool, r, ""))
}

fn open_image<'io>(
    io: &'io IoCtx<'_>,
    pool: &str,
    image: &str,
    mode: OpenMode,
) -> Result<Image<'io>, CephError> {
    Image::open(io, image, mode)
        .map_err(|r| rbd_error("opening image", &format!("{pool}/{image}"), r, ""))
}

pub(crate) fn list_images(conn: &Connection, pool: &str) -> Result<Vec<ImageSpec>, CephError> {
    let io = open_pool(conn, pool)?;
    let specs = crate::ceph::rbd::list_images(&io)
        .map_err(|r| rbd_error("listing images in", pool, r, ""))?;
    let mut out: Vec<ImageSpec> = specs
        .into_iter()
        .map(|s| ImageSpec {
            id: s.id,
            name: s.name,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Stat, features, lockers and watchers of one image, from a read-only open (no watch
/// of ours appears among the watchers).
pub(crate) fn image_info(
    conn: &Connection,
    pool: &str,
    image: &str,
) -> Result<ImageInfo, CephError> {
    let io = open_pool(conn, pool)?;
    read_image(&io, pool, image)
}

fn read_image(io: &IoCtx<'_>, pool: &str, image: &str) -> Result<ImageInfo, CephError> {
    let spec = format!("{pool}/{image}");
    let img = open_image(io, pool, image, OpenMode::ReadOnly)?;
    let err = |op: &str| {
        let spec = spec.clone();
        let op = op.to_string();
        move |r: i32| rbd_error(&op, &spec, r, "")
    };
    let stat = img.stat().map_err(err("reading the size of"))?;
    let features = img.features().map_err(err("reading the features of"))?;
    let format = img.format().map_err(err("reading the format of"))?;
    let id = img.id().map_err(err("reading the id of"))?;
    let lockers = img.lockers().map_err(err("listing the lockers of"))?;
    let watchers = img.watchers().map_err(err("listing the watchers of"))?;
    Ok(ImageInfo {
        pool: pool.to_string(),
        name: image.to_string(),
        id,
        size: stat.size,
        object_size: stat.obj_size,
        num_objects: stat.num_objs,
        order: stat.order,
        format,
        features,
        block_name_prefix: stat.block_name_prefix,
        lockers: lockers
            .lockers
            .into_iter()
            .map(|(locker, cookie, address)| LockerInfo {
                locker,
                cookie,
                address,
                tag: lockers.tag.clone(),
                exclusive: lockers.exclusive,
            })
            .collect(),
        watchers: watchers
            .into_iter()
            .map(|w| WatcherInfo {
                address: w.addr,
                client_id: w.id,
                cookie: w.cookie,
            })
            .collect(),
    })
}

/// Every image of a pool with its details; images that vanish meanwhile are skipped,
/// others that fail are reported beside the rest.
pub(crate) fn pool_images(
    conn: &Connection,
    pool: &str,
) -> Result<crate::ceph::client::PoolImages, CephError> {
    let names = list_images(conn, pool)?;
    let io = open_pool(conn, pool)?;
    let mut out = crate::ceph::client::PoolImages::default();
    for spec in names {
        match read_image(&io, pool, &spec.name) {
            Ok(info) => out.images.push(info),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                // A dead mon/OSD fails every image the same way: stop there.
                if e.is_timeout() {
                    return Err(e);
                }
                out.errors.push((spec.name, e));
            }
        }
    }
    Ok(out)
}

/// Addresses owning the image's exclusive lock. librbd answers this only on a
/// read-write open, which registers a watch: for the moment of the call we are one
/// of the image's watchers. Images without the exclusive-lock feature have no owner
/// and are not opened read-write.
pub(crate) fn lock_owners(
    conn: &Connection,
    pool: &str,
    image: &str,
) -> Result<Vec<String>, CephError> {
    let spec = format!("{pool}/{image}");
    let io = open_pool(conn, pool)?;
    {
        let ro = open_image(&io, pool, image, OpenMode::ReadOnly)?;
        let features = ro
            .features()
            .map_err(|r| rbd_error("reading the features of", &spec, r, ""))?;
        if features & FEATURE_EXCLUSIVE_LOCK == 0 {
            return Ok(Vec::new());
        }
    }
    let rw = open_image(&io, pool, image, OpenMode::ReadWrite)?;
    rw.lock_owners()
        .map_err(|r| rbd_error("reading the lock owner of", &spec, r, ""))
}

fn break_hint(errno: i32, entity: &str) -> String {
    match errno {
        EACCES | EPERM => format!(
            "librbd blocklists the lock holder before breaking its lock, and {entity} may not: {BLOCKLIST_CAPS_HINT}"
        ),
        ENOENT => "the lock is gone or held by someone else now".to_string(),
        libc::EBUSY => "the lock changed hands meanwhile; look again".to_string(),
        _ => String::new(),
    }
}

/// Breaks the lock `cookie` held by `locker` on the image. librbd first blocklists
/// the holder's address (default expiry, `rbd_blocklist_expire_seconds`), so the
/// user needs blocklist rights; a holder that is still alive loses its access.
pub(crate) fn break_lock(
    conn: &Connection,
    pool: &str,
    image: &str,
    locker: &str,
    cookie: &str,
) -> Result<(), CephError> {
    let spec = format!("{pool}/{image}");
    let io = open_pool(conn, pool)?;
    let img = open_image(&io, pool, image, OpenMode::ReadOnly)?;
    let lockers = img
        .lockers()
        .map_err(|r| rbd_error("listing the lockers of", &spec, r, ""))?;
    if !lockers
        .lockers
        .iter()
        .any(|(l, c, _)| l == locker && c == cookie)
    {
        return Err(rbd_error(
            "breaking the lock on",
            &spec,
            -ENOENT,
            &format!("no lock {cookie:?} held by {locker}"),
        ));
    }
    img.break_lock(locker, cookie).map_err(|r| {
        let target = format!("{spec} (lock {cookie:?} of {locker})");
        rbd_error(
            "breaking the lock on",
            &target,
            r,
            &break_hint(-r, &conn.entity),
        )
    })?;
    tracing::info!(image = %spec, locker, cookie, "broke RBD lock");
    Ok(())
}

/// Breaks the exclusive lock owned by `owner` (an address from [`lock_owners`]);
/// needs a read-write open, and blocklists the owner first like [`break_lock`].
pub(crate) fn break_exclusive_lock(
    conn: &Connection,
    pool: &str,
    image: &str,
    owner: &str,
) -> Result<(), CephError> {
    let spec = format!("{pool}/{image}");
    let io = open_pool(conn, pool)?;
    let img = open_image(&io, pool, image, OpenMode::ReadWrite)?;
    img.lock_break(owner).map_err(|r| {
        let target = format!("{spec} (exclusive lock of {owner})");
        rbd_error(
            "breaking the lock on",
            &target,
            r,
            &break_hint(-r, &conn.entity),
        )
    })?;
    tracing::info!(image = %spec, owner, "broke RBD exclusive lock");
    Ok(())
}
