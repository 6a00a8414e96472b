//! The init form as plain data: its fields, their defaults from what the preflight
//! read, and the validation that refuses a form kubeadm or the network add-on would
//! turn into a broken cluster — a pod subnet the add-on does not use, overlapping
//! CIDRs, a subnet that overlaps the machine's own networks, an advertise address
//! that is not this machine's.

use std::net::IpAddr;

use crate::model::cidr::Cidr;
use crate::setup::preflight::network::{Candidate, DEFAULT_IMAGE_REPOSITORY};

/// The pod network add-on the wizard installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addon {
    Flannel,
    Calico,
}

impl Addon {
    pub fn name(self) -> &'static str {
        match self {
            Addon::Flannel => "flannel",
            Addon::Calico => "calico",
        }
    }

    /// The pod subnet the add-on's shipped manifest uses unchanged.
    pub fn default_pod_subnet(self) -> &'static str {
        match self {
            Addon::Flannel => "10.244.0.0/16",
            Addon::Calico => "192.168.0.0/16",
        }
    }

    pub fn parse(s: &str) -> Option<Addon> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flannel" => Some(Addon::Flannel),
            "calico" => Some(Addon::Calico),
            _ => None,
        }
    }
}

pub const DEFAULT_SERVICE_SUBNET: &str = "10.96.0.0/12";
pub const DEFAULT_KUBERNETES_VERSION: &str = "v1.32.0";
pub const DEFAULT_CRI_SOCKET: &str = "unix:///var/run/containerd/containerd.sock";

/// Which field a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    AdvertiseAddress,
    ControlPlaneEndpoint,
    KubernetesVersion,
    ImageRepository,
    CriSocket,
    Addon,
    PodSubnet,
    ServiceSubnet,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::AdvertiseAddress,
        Field::ControlPlaneEndpoint,
        Field::KubernetesVersion,
        Field::ImageRepository,
        Field::CriSocket,
        Field::Addon,
        Field::PodSubnet,
        Field::ServiceSubnet,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::AdvertiseAddress => "Advertise address",
            Field::ControlPlaneEndpoint => "Control-plane endpoint",
            Field::KubernetesVersion => "Kubernetes version",
            Field::ImageRepository => "Image repository",
            Field::CriSocket => "CRI socket",
            Field::Addon => "Network add-on",
            Field::PodSubnet => "Pod subnet",
            Field::ServiceSubnet => "Service subnet",
        }
    }
}

/// The form's values, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitForm {
    pub advertise_address: String,
    pub control_plane_endpoint: String,
    pub kubernetes_version: String,
    pub image_repository: String,
    pub cri_socket: String,
    pub addon: String,
    pub pod_subnet: String,
    pub service_subnet: String,
}

impl InitForm {
    /// Defaults: the only candidate address (none when there are several: the
    /// operator chooses), flannel and its subnet, kubeadm's service subnet.
    pub fn defaults(
        candidates: &[Candidate],
        image_repository: &str,
        cri_socket: Option<&str>,
    ) -> Self {
        InitForm {
            advertise_address: match candidates {
                [one] => one.address.ip.to_string(),
                _ => String::new(),
            },
            control_plane_endpoint: String::new(),
            kubernetes_version: DEFAULT_KUBERNETES_VERSION.into(),
            image_repository: if image_repository.is_empty() {
                DEFAULT_IMAGE_REPOSITORY.into()
            } else {
                image_repository.into()
            },
            cri_socket: cri_socket.unwrap_or(DEFAULT_CRI_SOCKET).into(),
            addon: Addon::Flannel.name().into(),
            pod_subnet: Addon::Flannel.default_pod_subnet().into(),
            service_subnet: DEFAULT_SERVICE_SUBNET.into(),
        }
    }

    pub fn get(&self, f: Field) -> &str {
        match f {
            Field::AdvertiseAddress => &self.advertise_address,
            Field::ControlPlaneEndpoint => &self.control_plane_endpoint,
            Field::KubernetesVersion => &self.kubernetes_version,
            Field::ImageRepository => &self.image_repository,
            Field::CriSocket => &self.cri_socket,
            Field::Addon => &self.addon,
            Field::PodSubnet => &self.pod_subnet,
            Field::ServiceSubnet => &self.service_subnet,
        }
    }

    /// Sets a field; changing the add-on moves a pod subnet still at the old add-on's
    /// default to the new one's (a typed subnet is kept, and validated).
    pub fn set(&mut self, f: Field, value: &str) {
        if f == Field::Addon
            && let (Some(old), Some(new)) = (Addon::parse(&self.addon), Addon::parse(value))
            && self.pod_subnet.trim() == old.default_pod_subnet()
        {
            self.pod_subnet = new.default_pod_subnet().into();
        }
        let v = value.to_string();
        match f {
            Field::AdvertiseAddress => self.advertise_address = v,
            Field::ControlPlaneEndpoint => self.control_plane_endpoint = v,
            Field::KubernetesVersion => self.kubernetes_version = v,
            Field::ImageRepository => self.image_repository = v,
            Field::CriSocket => self.cri_socket = v,
            Field::Addon => self.addon = v,
            Field::PodSubnet => self.pod_subnet = v,
            Field::ServiceSubnet => self.service_subnet = v,
        }
    }
}

/// A refused value, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: Field,
    pub message: String,
}

/// The machine the form is for: its own addresses and networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    pub candidates: Vec<Candidate>,
    /// Every network on the machine's links (the candidates' and others', e.g. docker0).
    pub networks: Vec<(String, Cidr)>,
}

/// A valid form, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSettings {
    pub advertise_address: IpAddr,
    /// The advertise address's interface (flannel's `--iface`).
    pub interface: String,
    pub control_plane_endpoint: Option<String>,
    pub kubernetes_version: String,
    pub image_repository: String,
    pub cri_socket: String,
    pub addon: Addon,
    pub pod_subnet: Cidr,
    pub service_subnet: Cidr,
}

/// Every problem of the form, or the parsed settings.
pub fn validate(form: &InitForm, machine: &Machine) -> Result<InitSettings, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut bad = |field: Field, message: String| problems.push(Problem { field, message });

    let address: Option<IpAddr> = match form.advertise_address.trim() {
        "" => {
            let choices: Vec<String> = machine
                .candidates
                .iter()
                .map(|c| format!("{} ({})", c.address.ip, c.interface))
                .collect();
            bad(
                Field::AdvertiseAddress,
                format!(
                    "choose the advertise address: one of {}",
                    choices.join(", ")
                ),
            );
            None
        }
        s => match s.parse::<IpAddr>() {
            Err(_) => {
                bad(
                    Field::AdvertiseAddress,
                    format!("{s:?} is not an IP address"),
                );
                None
            }
            Ok(ip) => Some(ip),
        },
    };
    let interface = address.and_then(|ip| {
        let found = machine
            .candidates
            .iter()
            .find(|c| c.address.ip == ip)
            .map(|c| c.interface.clone());
        if found.is_none() {
            bad(
                Field::AdvertiseAddress,
                format!("{ip} is not an address of this machine's interfaces"),
            );
        }
        found
    });
    let endpoint = form.control_plane_endpoint.trim();
    if !endpoint.is_empty() {
        let host = endpoint.rsplit_once(':').map_or(endpoint, |(h, p)| {
            if p.parse::<u16>().is_err() {
                bad(
                    Field::ControlPlaneEndpoint,
                    format!("{endpoint:?}: the port {p:?} is not a number"),
                );
            }
            h
        });
        if host.is_empty() || host.contains('/') || host.contains(' ') {
            bad(
                Field::ControlPlaneEndpoint,
                format!("{endpoint:?} is not host[:port]"),
            );
        }
    }
    let version = form.kubernetes_version.trim();
    if crate::setup::preflight::binaries::parse_version(version).is_none() {
        bad(
            Field::KubernetesVersion,
            format!("{version:?} is not a version like v1.32.0"),
        );
    }
    let repo = form.image_repository.trim();
    if repo.is_empty() || repo.contains(' ') {
        bad(
            Field::ImageRepository,
            "an image repository like registry.k8s.io".into(),
        );
    }
    let cri = form.cri_socket.trim();
    if !cri.starts_with("unix:///") {
        bad(
            Field::CriSocket,
            format!("{cri:?}: a socket like {DEFAULT_CRI_SOCKET}"),
        );
    }
    let addon = Addon::parse(&form.addon);
    if addon.is_none() {
        bad(
            Field::Addon,
            format!("{:?}: flannel or calico", form.addon.trim()),
        );
    }
    let parse = |field: Field, s: &str, bad: &mut dyn FnMut(Field, String)| match s.parse::<Cidr>()
    {
        Ok(c) if c.network().is_ipv4() => Some(c),
        Ok(c) => {
            bad(
                field,
                format!("{c}: only IPv4 subnets are set up by this wizard"),
            );
            None
        }
        Err(e) => {
            bad(field, e.to_string());
            None
        }
    };
    let pod = parse(Field::PodSubnet, &form.pod_subnet, &mut bad);
    let svc = parse(Field::ServiceSubnet, &form.service_subnet, &mut bad);
    // flannel's and calico's manifests are set to the pod subnet, so they agree on
    // it; what they cannot do is carve a subnet too small for two nodes' blocks.
    if let (Some(pod), Some(addon)) = (pod, addon) {
        match addon {
            Addon::Flannel if pod.prefix() >= 24 => bad(
                Field::PodSubnet,
                format!("{pod} is too small for flannel, which gives each node a /24"),
            ),
            Addon::Calico if pod.prefix() >= 26 => bad(
                Field::PodSubnet,
                format!("{pod} is too small for calico, which gives each node a /26 block"),
            ),
            _ => {}
        }
    }
    if let (Some(pod), Some(svc)) = (pod, svc)
        && pod.overlaps(&svc)
    {
        bad(
            Field::PodSubnet,
            format!("pod subnet {pod} overlaps the service subnet {svc}"),
        );
    }
    for (field, cidr) in [(Field::PodSubnet, pod), (Field::ServiceSubnet, svc)] {
        let Some(cidr) = cidr else { continue };
        for (link, net) in &machine.networks {
            if cidr.overlaps(net) {
                bad(
                    field,
                    format!("{cidr} overlaps this machine's network {net} on {link}"),
                );
            }
        }
    }
    match (address, interface, addon, pod, svc) {
        (
            Some(advertise_address),
            Some(interface),
            Some(addon),
            Some(pod_subnet),
            Some(service_subnet),
        ) if problems.is_empty() => Ok(InitSettings {
            advertise_address,
            interface,
            control_plane_endpoint: (!endpoint.is_empty()).then(|| endpoint.to_string()),
            kubernetes_version: version.to_string(),
            image_repository: repo.to_string(),
            cri_socket: cri.to_string(),
            addon,
            pod_subnet,
            service_subnet,
        }),
        _ => Err(problems),
    }
}

/// The pod subnet an add-on's manifest must carry for this form: what the review
/// page says the manifest was changed to.
pub fn addon_subnet_note(s: &InitSettings) -> Option<String> {
    (s.pod_subnet.to_string() != s.addon.default_pod_subnet()).then(|| {
        format!(
            "{}'s manifest will use {} instead of its default {}",
            s.addon.name(),
            s.pod_subnet,
            s.addon.default_pod_subnet()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host::IfAddr;

    fn machine() -> Machine {
        let cand = |i: &str, ip: &str| Candidate {
            interface: i.into(),
            address: IfAddr {
                ip: ip.parse().unwrap(),
                prefix: 24,
            },
        };
        Machine {
            candidates: vec![cand("eth0", "203.0.113.10"), cand("eth1", "10.0.0.5")],
            networks: vec![
                ("eth0".into(), "203.0.113.0/24".parse().unwrap()),
                ("eth1".into(), "10.0.0.0/24".parse().unwrap()),
                ("docker0".into(), "172.17.0.0/16".parse().unwrap()),
            ],
        }
    }

    fn form() -> InitForm {
        let mut f = InitForm::defaults(&machine().candidates, "", None);
        f.advertise_address = "10.0.0.5".into();
        f
    }

    fn problems(f: &InitForm) -> Vec<String> {
        validate(f, &machine())
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn two_candidates_leave_the_address_to_the_operator() {
        let f = InitForm::defaults(&machine().candidates, "", None);
        assert_eq!(f.advertise_address, "");
        assert_eq!(
            problems(&f),
            ["choose the advertise address: one of 203.0.113.10 (eth0), 10.0.0.5 (eth1)"]
        );
    }

    #[test]
    fn the_defaults_with_a_chosen_address_are_valid() {
        let s = validate(&form(), &machine()).unwrap();
        assert_eq!(s.interface, "eth1");
        assert_eq!(s.pod_subnet.to_string(), "10.244.0.0/16");
        assert_eq!(s.service_subnet.to_string(), "10.96.0.0/12");
        assert_eq!(addon_subnet_note(&s), None);
    }

    #[test]
    fn the_pod_subnet_follows_the_addon_until_typed() {
        let mut f = form();
        f.set(Field::Addon, "calico");
        assert_eq!(f.pod_subnet, "192.168.0.0/16");
        f.set(Field::PodSubnet, "10.50.0.0/16");
        f.set(Field::Addon, "flannel");
        assert_eq!(f.pod_subnet, "10.50.0.0/16");
    }

    #[test]
    fn overlapping_cidrs_are_refused() {
        let mut f = form();
        f.pod_subnet = "10.96.0.0/16".into();
        assert_eq!(
            problems(&f),
            ["pod subnet 10.96.0.0/16 overlaps the service subnet 10.96.0.0/12"]
        );
        let mut f = form();
        f.pod_subnet = "172.17.0.0/16".into();
        assert_eq!(
            problems(&f),
            ["172.17.0.0/16 overlaps this machine's network 172.17.0.0/16 on docker0"]
        );
        let mut f = form();
        f.service_subnet = "10.0.0.0/16".into();
        assert_eq!(
            problems(&f),
            ["10.0.0.0/16 overlaps this machine's network 10.0.0.0/24 on eth1"]
        );
    }

    #[test]
    fn a_pod_subnet_the_addon_cannot_use_is_refused() {
        let mut f = form();
        f.pod_subnet = "10.244.0.0/25".into();
        assert_eq!(
            problems(&f),
            ["10.244.0.0/25 is too small for flannel, which gives each node a /24"]
        );
        f.addon = "weave".into();
        assert_eq!(problems(&f), ["\"weave\": flannel or calico"]);
    }

    #[test]
    fn an_address_not_of_this_machine_is_refused() {
        let mut f = form();
        f.advertise_address = "192.0.2.1".into();
        assert_eq!(
            problems(&f),
            ["192.0.2.1 is not an address of this machine's interfaces"]
        );
        f.advertise_address = "10.0.0.5".into();
        f.control_plane_endpoint = "lb.example:x".into();
        f.kubernetes_version = "latest".into();
        assert_eq!(
            problems(&f),
            [
                "\"lb.example:x\": the port \"x\" is not a number",
                "\"latest\" is not a version like v1.32.0"
            ]
        );
    }
}
