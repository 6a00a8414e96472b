//! The machine the init form is for: its candidate advertise addresses and every
//! network on its links (a subnet overlapping one of them is refused).

use crate::host::read::{LocalRoot, read_host};
use crate::model::cidr::Cidr;
use crate::model::host::Probe;
use crate::setup::preflight::network::candidate_addresses;

use super::form::Machine;

pub(crate) fn read(root: &LocalRoot) -> Machine {
    let candidates = candidate_addresses(root)
        .found()
        .cloned()
        .unwrap_or_default();
    let report = read_host(root, &root.0.display().to_string(), None, Probe::Missing);
    let networks = report
        .links
        .found()
        .map(|links| {
            links
                .iter()
                .filter(|l| l.name != "lo")
                .flat_map(|l| {
                    l.addresses
                        .iter()
                        .filter(|a| a.ip.is_ipv4() && !a.ip.is_loopback())
                        .filter_map(|a| Cidr::new(a.ip, a.prefix))
                        .map(|c| (l.name.clone(), c))
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap_or_default();
    Machine {
        candidates,
        networks,
    }
}
