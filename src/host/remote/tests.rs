//! The scripts run for real (`sh`) against a planted host root, so what the parser
//! reads is what a debug pod would print.

use std::path::Path;
use std::process::Command;

use super::*;
use crate::host::probe::HostProbe;
use crate::host::probe::tests::{GONE, LIVE, cat, plant_flannel_node, tmp, write};

/// Runs `script` with `args` as a debug pod would, the host being `root`.
fn run(script: &str, root: &Path, args: &[String]) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("kcops-test")
        .args(args)
        .env("KCOPS_HOST", root)
        .env(
            "KCOPS_SANDBOXES",
            format!("cat {}", root.join("sandboxes").display()),
        )
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_dumped_host_reads_exactly_as_the_local_probe_reads_it() {
    let root = tmp("remote-dump");
    plant_flannel_node(&root);
    let local = HostProbe::new(&root, Some("node1".into()))
        .with_sandboxes_command(cat(&root.join("sandboxes")))
        .run();
    let dump = HostDump::parse(&run(PROBE_SCRIPT, &root, &[])).unwrap();
    let remote = dump.report("node1", "debug pod");
    assert_eq!(remote.subnet_env, local.subnet_env);
    assert_eq!(remote.cni_configs, local.cni_configs);
    assert_eq!(remote.ipam, local.ipam);
    assert_eq!(remote.ip_forward, local.ip_forward);
    assert_eq!(remote.links, local.links);
    assert_eq!(
        remote.sandboxes.found().map(|s| &s.ids),
        local.sandboxes.found().map(|s| &s.ids)
    );
    let nets = remote.ipam.found().unwrap();
    let leaked: Vec<String> = remote
        .leaked(&nets[0])
        .unwrap()
        .iter()
        .map(|r| r.ip.to_string())
        .collect();
    assert_eq!(leaked, ["10.244.1.3"]);
    assert_eq!(remote.root, "/ of node1 (debug pod)");
}

#[test]
fn a_missing_file_and_a_failed_sandbox_list_are_said_apart() {
    let root = tmp("remote-missing");
    write(&root, "etc/hostname", "node2\n");
    let out = Command::new("sh")
        .arg("-c")
        .arg(PROBE_SCRIPT)
        .env("KCOPS_HOST", &root)
        .env(
            "KCOPS_SANDBOXES",
            "echo 'crictl: connect: connection refused' >&2; exit 1",
        )
        .output()
        .unwrap();
    let dump = HostDump::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let r = dump.report("node2", "debug pod");
    assert!(!r.root_looks_empty);
    assert_eq!(r.subnet_env, Probe::Missing);
    assert!(
        matches!(&r.sandboxes, Probe::Error(e) if e.contains("connection refused")),
        "{:?}",
        r.sandboxes
    );
}

#[test]
fn output_cut_short_or_stopped_is_an_error_not_an_empty_host() {
    assert_eq!(
        HostDump::parse("@@kcops dir /etc\n"),
        Err(RemoteError::Truncated)
    );
    assert_eq!(
        HostDump::parse("@@kcops fatal the debug image has no base64\n"),
        Err(RemoteError::Fatal("the debug image has no base64".into()))
    );
    assert_eq!(
        parse_release("@@kcops released 10.0.0.2\n"),
        Err(RemoteError::Truncated)
    );
}

#[test]
fn the_release_script_deletes_only_what_is_still_leaked_under_the_lock() {
    let root = tmp("remote-release");
    plant_flannel_node(&root);
    let moved = "2222222222222222222222222222222222222222222222222222222222222222";
    write(
        &root,
        "var/lib/cni/networks/cbr0/10.244.1.4",
        &format!("{moved}\r\neth0"),
    );
    let approved = vec![
        ("10.244.1.3".to_string(), GONE.to_string()),
        // Its sandbox came back (listed live).
        ("10.244.1.2".to_string(), LIVE.to_string()),
        // Reserved again by another sandbox since the operator looked.
        ("10.244.1.4".to_string(), GONE.to_string()),
        ("10.244.1.9".to_string(), GONE.to_string()),
    ];
    let args = release_args("cbr0", &approved).unwrap();
    let done = parse_release(&run(RELEASE_SCRIPT, &root, &args)).unwrap();
    assert_eq!(done.released, ["10.244.1.3"]);
    let kept: Vec<&str> = done.skipped.iter().map(|(ip, _)| ip.as_str()).collect();
    assert_eq!(kept, ["10.244.1.2", "10.244.1.4", "10.244.1.9"]);
    assert!(done.skipped[0].1.contains("live"), "{:?}", done.skipped);
    assert!(done.skipped[1].1.contains(moved), "{:?}", done.skipped);
    let dir = root.join("var/lib/cni/networks/cbr0");
    assert!(!dir.join("10.244.1.3").exists());
    assert!(dir.join("10.244.1.2").exists() && dir.join("10.244.1.4").exists());
}

#[test]
fn the_release_stops_when_the_live_sandboxes_cannot_be_listed() {
    let root = tmp("remote-nolist");
    plant_flannel_node(&root);
    let args = release_args("cbr0", &[("10.244.1.3".into(), GONE.into())]).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(RELEASE_SCRIPT)
        .arg("kcops-test")
        .args(&args)
        .env("KCOPS_HOST", &root)
        .env("KCOPS_SANDBOXES", "exit 1")
        .output()
        .unwrap();
    let err = parse_release(&String::from_utf8_lossy(&out.stdout)).unwrap_err();
    assert!(
        err.to_string().contains("cannot list the live sandboxes"),
        "{err}"
    );
    assert!(root.join("var/lib/cni/networks/cbr0/10.244.1.3").exists());
}

#[test]
fn release_arguments_cannot_name_other_paths() {
    assert!(release_args("../etc", &[]).is_err());
    assert!(release_args("cbr0", &[("../../etc/passwd".into(), GONE.into())]).is_err());
    assert!(release_args("cbr0", &[("10.0.0.2".into(), "x; rm -rf /".into())]).is_err());
    assert_eq!(
        release_args("cbr0", &[("10.0.0.2".into(), "ab12".into())]).unwrap(),
        ["cbr0", "10.0.0.2=ab12"]
    );
}

#[test]
fn ip_o_addr_lines_give_interface_addresses() {
    let (name, a) = parse_ip_o_addr("3: cni0    inet 10.244.1.1/24 brd 10.244.1.255 scope global cni0\\       valid_lft forever").unwrap();
    assert_eq!(
        (name.as_str(), a.ip.to_string().as_str(), a.prefix),
        ("cni0", "10.244.1.1", 24)
    );
    assert!(parse_ip_o_addr("3: cni0    link/ether 6a:06:6e:ec:4e:1f").is_none());
    let (name, _) = parse_ip_o_addr("5: veth1@if3    inet6 fe80::1/64 scope link").unwrap();
    assert_eq!(name, "veth1");
}
