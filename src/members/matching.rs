//! Which pod a registered member runs in: by name (etcd's `--name ${HOSTNAME}`), else
//! by the host of its peer URLs, a pod IP (`http://10.244.1.3:2380`) or a pod's DNS name
//! (`http://etcd-0.etcd:2380`, `etcd-0.etcd.default.svc.cluster.local`).

/// The host of a URL: `http://etcd-0.etcd:2380` -> `etcd-0.etcd`, `https://[::1]:2379`
/// -> `::1`.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Whether `host` is an IP address rather than a name.
pub fn is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// The index in `pods` (each `(name, pod IP)`) of the pod `name`/`peer_urls` runs in.
pub fn match_pod(name: &str, peer_urls: &[String], pods: &[(&str, Option<&str>)]) -> Option<usize> {
    if !name.is_empty()
        && let Some(i) = pods.iter().position(|(n, _)| *n == name)
    {
        return Some(i);
    }
    peer_urls.iter().map(|u| url_host(u)).find_map(|host| {
        if is_ip(host) {
            pods.iter().position(|(_, ip)| *ip == Some(host))
        } else {
            let first = host.split('.').next().unwrap_or(host);
            pods.iter().position(|(n, _)| *n == first)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(url_host("http://etcd-0.etcd:2380"), "etcd-0.etcd");
        assert_eq!(url_host("https://10.244.1.3:2379"), "10.244.1.3");
        assert_eq!(url_host("https://[fd00::3]:2379"), "fd00::3");
        assert_eq!(url_host("10.0.0.1:2379"), "10.0.0.1");
        assert!(is_ip("10.244.1.3") && is_ip("fd00::3") && !is_ip("etcd-0.etcd"));
    }

    #[test]
    fn members_match_pods_by_name_ip_or_dns_name() {
        let pods = [
            ("etcd-0", Some("10.244.1.3")),
            ("etcd-1", Some("10.244.2.2")),
            ("etcd-master", Some("192.168.1.10")),
        ];
        let urls = |u: &str| vec![u.to_string()];
        assert_eq!(match_pod("etcd-1", &[], &pods), Some(1));
        assert_eq!(
            match_pod("", &urls("http://10.244.1.3:2380"), &pods),
            Some(0)
        );
        assert_eq!(
            match_pod(
                "x",
                &urls("http://etcd-1.etcd.default.svc.cluster.local:2380"),
                &pods
            ),
            Some(1)
        );
        // kubeadm names a member after its node; its pod is etcd-<node> on the node's IP.
        assert_eq!(
            match_pod("master", &urls("https://192.168.1.10:2380"), &pods),
            Some(2)
        );
        assert_eq!(
            match_pod("etcd-2", &urls("http://10.244.1.9:2380"), &pods),
            None
        );
        assert_eq!(
            match_pod("etcd-2", &urls("http://etcd-2.etcd:2380"), &pods),
            None
        );
    }
}
