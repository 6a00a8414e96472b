//! `kubeadm certs renew all`: every leaf certificate kubeadm made under the machine's
//! `/etc/kubernetes/pki` made again, valid for a year from today, with kubeadm's
//! output. (The lab's kubeconfigs carry tokens, not client certificates, so those
//! lines only say what kubeadm says.)

use anyhow::{Result, bail};

use super::{Machine, host, say};

/// kubeadm's leaf certificates: file under pki/, the name in kubeadm's output.
const LEAVES: [(&str, &str); 7] = [
    ("apiserver", "certificate for serving the Kubernetes API"),
    (
        "apiserver-etcd-client",
        "certificate the apiserver uses to access etcd",
    ),
    (
        "apiserver-kubelet-client",
        "certificate for the API server to connect to kubelet",
    ),
    (
        "etcd/healthcheck-client",
        "certificate for liveness probes to healthcheck etcd",
    ),
    (
        "etcd/peer",
        "certificate for etcd nodes to communicate with each other",
    ),
    ("etcd/server", "certificate for serving etcd"),
    (
        "front-proxy-client",
        "certificate for the front proxy client",
    ),
];

pub(super) fn renew(m: &Machine, what: &str) -> Result<()> {
    if what != "all" {
        bail!("the lab's kubeadm renews \"all\" only, not {what:?}");
    }
    let pki = m.root.join("etc/kubernetes/pki");
    if !pki.join("ca.crt").exists() {
        bail!(
            "failed to load existing certificate ca: open /etc/kubernetes/pki/ca.crt: no such file or directory"
        );
    }
    say(
        "[renew] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace \"kube-system\"...",
    );
    say(
        "[renew] Use 'kubeadm init phase upload-config --config your-config-file' to re-upload it.",
    );
    say("");
    say(
        "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself renewed",
    );
    for (file, words) in LEAVES {
        if !pki.join(format!("{file}.crt")).exists() {
            continue;
        }
        host::write_cert_pair(&m.root, file, file, false)?;
        say(&format!("{words} renewed"));
    }
    say("certificate embedded in the kubeconfig file for the controller manager to use renewed");
    say("certificate embedded in the kubeconfig file for the scheduler manager to use renewed");
    say("certificate embedded in the kubeconfig file for the super-admin renewed");
    say("");
    say(
        "Done renewing certificates. You must restart the kube-apiserver, kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates.",
    );
    Ok(())
}
