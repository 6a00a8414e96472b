//! Whether a cephx user's caps are enough for ceph-csi on a pool. ceph-csi documents
//! `mon 'profile rbd' osd 'profile rbd pool=<pool>' mgr 'profile rbd pool=<pool>'`;
//! equivalent grants count too: `allow *`, `profile rbd` without a pool, `allow rwx`
//! on the pool or on every pool (`allow rw` on the mon, which is what lets the
//! node plugin blocklist a dead client's address to take over its lock).

/// One grant of a caps string (`allow rwx pool=rbd`, `profile rbd`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Grant {
    /// `allow <perms>`, on one pool or on all (`None`).
    Allow { perms: String, pool: Option<String> },
    /// `profile <name>`, on one pool or on all.
    Profile { name: String, pool: Option<String> },
    /// Anything else (`allow class-read object_prefix ...`, a namespace): counts for nothing.
    Other,
}

/// Splits a caps string into its grants (comma separated; `pool=X` or `pool X`).
pub(super) fn parse(caps: &str) -> Vec<Grant> {
    caps.split(',').map(grant).collect()
}

fn grant(text: &str) -> Grant {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut pool = None;
    let mut rest = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let w = words[i];
        if let Some(p) = w.strip_prefix("pool=") {
            pool = Some(p.trim_matches(|c| c == '"' || c == '\'').to_string());
        } else if w == "pool" && i + 1 < words.len() {
            i += 1;
            pool = Some(words[i].trim_matches(|c| c == '"' || c == '\'').to_string());
        } else {
            rest.push(w);
        }
        i += 1;
    }
    match (words.first().copied(), rest.as_slice()) {
        (Some("allow"), [perms]) => Grant::Allow {
            perms: perms.to_string(),
            pool,
        },
        (Some("profile"), [name]) => Grant::Profile {
            name: name.to_string(),
            pool,
        },
        _ => Grant::Other,
    }
}

fn on_pool(granted: &Option<String>, pool: Option<&str>) -> bool {
    match (granted, pool) {
        (None, _) => true,
        (Some(g), Some(p)) => g == p,
        (Some(_), None) => false,
    }
}

fn allows(perms: &str, needed: &str) -> bool {
    perms == "*" || needed.chars().all(|c| perms.contains(c))
}

/// Whether `caps` of daemon `daemon` (`mon`, `osd`, `mgr`) are enough for ceph-csi on
/// `pool` (every pool when `None`).
pub(super) fn enough(daemon: &str, caps: &str, pool: Option<&str>) -> bool {
    let needed = match daemon {
        "mon" => "rw",
        _ => "rwx",
    };
    parse(caps).iter().any(|g| match g {
        Grant::Allow { perms, pool: gp } => {
            allows(perms, needed) && (daemon == "mon" || on_pool(gp, pool))
        }
        Grant::Profile { name, pool: gp } => {
            name == "rbd" && (daemon == "mon" || on_pool(gp, pool))
        }
        Grant::Other => false,
    })
}

/// The daemons whose caps fall short for `pool`, in `mon`, `osd`, `mgr` order.
pub(super) fn short(
    caps: &std::collections::BTreeMap<String, String>,
    pool: Option<&str>,
) -> Vec<&'static str> {
    ["mon", "osd", "mgr"]
        .into_iter()
        .filter(|d| !caps.get(*d).is_some_and(|c| enough(d, c, pool)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_parse() {
        assert_eq!(
            parse("allow class-read object_prefix rbd_children, allow rwx pool=rbd"),
            vec![
                Grant::Other,
                Grant::Allow {
                    perms: "rwx".into(),
                    pool: Some("rbd".into())
                }
            ]
        );
        assert_eq!(
            parse("profile rbd pool rbd"),
            vec![Grant::Profile {
                name: "rbd".into(),
                pool: Some("rbd".into())
            }]
        );
        assert_eq!(
            parse("allow *"),
            vec![Grant::Allow {
                perms: "*".into(),
                pool: None
            }]
        );
    }

    #[test]
    fn enough_for_the_pool() {
        let p = Some("rbd");
        assert!(enough("osd", "profile rbd pool=rbd", p));
        assert!(enough("osd", "profile rbd", p));
        assert!(enough("osd", "allow *", p));
        assert!(enough("osd", "allow rwx pool=rbd", p));
        assert!(enough(
            "osd",
            "allow class-read object_prefix rbd_children, allow rwx pool=rbd",
            p
        ));
        assert!(!enough("osd", "allow r pool=rbd", p));
        assert!(!enough("osd", "profile rbd pool=fast", p));
        assert!(!enough("osd", "allow rwx pool=fast", p));
        assert!(!enough("osd", "profile rbd-read-only pool=rbd", p));
        assert!(!enough("osd", "", p));
        assert!(enough("mon", "profile rbd", p));
        assert!(enough("mon", "allow *", p));
        assert!(!enough("mon", "allow r", p));
        assert!(enough("mgr", "profile rbd pool=rbd", p));
        assert!(!enough("mgr", "profile rbd pool=other", p));
    }

    #[test]
    fn short_lists_each_daemon_that_lacks() {
        let caps = |m: &str, o: &str| {
            [
                ("mon".to_string(), m.to_string()),
                ("osd".to_string(), o.to_string()),
            ]
            .into_iter()
            .collect()
        };
        assert_eq!(
            short(&caps("allow r", "allow r pool=rbd"), Some("rbd")),
            vec!["mon", "osd", "mgr"]
        );
        assert_eq!(
            short(&caps("profile rbd", "profile rbd pool=rbd"), Some("rbd")),
            vec!["mgr"]
        );
    }
}
