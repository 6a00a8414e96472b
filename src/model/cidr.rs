//! IP ranges as the network checks compare them: kubeadm's podSubnet, node podCIDRs,
//! flannel's Network, calico's IPPools, host-local ranges. Plain data, no IO.
//!
//! Kubernetes accepts IPv4 and IPv6 ranges in the same fields (dual stack), so both
//! are handled; a range never contains one of the other family.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP range `address/prefix` whose host bits are cleared on parsing (so that
/// `10.244.1.1/24`, as flannel writes FLANNEL_SUBNET, reads as `10.244.1.0/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all = if width == 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        all & !((1u128 << (width - prefix)) - 1)
    }
}

fn from_bits(v: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(std::net::Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(std::net::Ipv6Addr::from(v))
    }
}

impl Cidr {
    pub fn new(address: IpAddr, prefix: u8) -> Option<Cidr> {
        let (v, width) = bits(address);
        if prefix > width {
            return None;
        }
        Some(Cidr {
            network: from_bits(v & mask(prefix, width), width == 32),
            prefix,
        })
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn width(&self) -> u8 {
        bits(self.network).1
    }

    /// Whether `ip` lies in this range (always false across families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v, width) = bits(ip);
        width == self.width() && v & mask(self.prefix, width) == bits(self.network).0
    }

    /// Whether `other` lies wholly inside this range.
    pub(crate) fn contains_cidr(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network)
    }

    /// Whether the two ranges share any address.
    pub(crate) fn overlaps(&self, other: &Cidr) -> bool {
        self.contains_cidr(other) || other.contains_cidr(self)
    }

    /// How many addresses the range spans (saturating for huge IPv6 ranges).
    pub fn size(&self) -> u128 {
        let host_bits = u32::from(self.width() - self.prefix);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    /// Addresses host-local hands out in this range by default: all but the network
    /// address, the gateway (the first host address, the bridge's) and, for IPv4, the
    /// broadcast address — `.2` to `.254` of a /24, 253 addresses.
    pub(crate) fn host_local_capacity(&self) -> u128 {
        let reserved = if self.width() == 32 { 3 } else { 2 };
        self.size().saturating_sub(reserved)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why a CIDR did not parse, in words for evidence lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(pub String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| CidrError(format!("{s:?} is not a CIDR (no /prefix)")))?;
        let address: IpAddr = addr
            .parse()
            .map_err(|_| CidrError(format!("{s:?} is not a CIDR: bad address {addr:?}")))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| CidrError(format!("{s:?} is not a CIDR: bad prefix {prefix:?}")))?;
        Cidr::new(address, prefix)
            .ok_or_else(|| CidrError(format!("{s:?} is not a CIDR: prefix too long")))
    }
}

/// Parses a comma-separated list (`podSubnet: 10.244.0.0/16,fd00::/56`), skipping
/// empty items; the first bad item is the error.
pub(crate) fn parse_list(s: &str) -> Result<Vec<Cidr>, CidrError> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_clears_host_bits() {
        assert_eq!(c("10.244.1.1/24").to_string(), "10.244.1.0/24");
        assert_eq!(c("10.244.0.0/16").prefix(), 16);
        assert_eq!(c("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(c("fd00::1/64").to_string(), "fd00::/64");
        assert!("10.244.0.0".parse::<Cidr>().is_err());
        assert!("10.244.0.0/33".parse::<Cidr>().is_err());
        assert!("10.244.0/16".parse::<Cidr>().is_err());
        assert!("".parse::<Cidr>().is_err());
    }

    #[test]
    fn containment() {
        let net = c("10.244.0.0/16");
        assert!(net.contains_cidr(&c("10.244.1.0/24")));
        assert!(!net.contains_cidr(&c("192.168.0.0/16")));
        assert!(!c("10.244.1.0/24").contains_cidr(&net));
        assert!(net.overlaps(&c("10.0.0.0/8")));
        assert!(net.contains("10.244.3.7".parse().unwrap()));
        assert!(!net.contains("10.245.0.1".parse().unwrap()));
        assert!(!net.contains("fd00::1".parse().unwrap()));
        assert!(c("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn sizes() {
        assert_eq!(c("10.244.1.0/24").size(), 256);
        assert_eq!(c("10.244.1.0/24").host_local_capacity(), 253);
        assert_eq!(c("10.244.1.0/32").host_local_capacity(), 0);
        assert_eq!(c("::/0").size(), u128::MAX);
        assert_eq!(
            parse_list("10.244.0.0/16, fd00::/56").unwrap(),
            [c("10.244.0.0/16"), c("fd00::/56")]
        );
        assert_eq!(parse_list("").unwrap(), []);
        assert!(parse_list("10.244.0.0/16,x").is_err());
    }
}
