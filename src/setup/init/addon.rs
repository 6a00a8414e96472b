//! The network add-on's manifest, made to agree with the cluster: flannel's shipped
//! manifest (`assets/kube-flannel.yml`) with net-conf.json's `Network` set to the pod
//! subnet and flanneld told the advertise address's interface (`--iface`), so it
//! does not pick the default route's; calico's `CALICO_IPV4POOL_CIDR` set likewise in
//! the manifest the operator gives (`--addon-manifest`: kcops ships flannel's only).

use serde_json::Value;

use super::form::Addon;
use crate::model::cidr::Cidr;

const FLANNEL: &str = include_str!("../../../assets/kube-flannel.yml");

/// Parses a multi-document manifest into its objects (empty documents skipped).
pub fn parse_documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| e.to_string())?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

fn containers_mut<'a>(obj: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    obj.pointer_mut("/spec/template/spec/containers")?
        .as_array_mut()?
        .iter_mut()
        .find(|c| c["name"] == name)
}

/// A network add-on's manifest the operator gave (`--addon-manifest`), read and
/// parsed before any screen, so a bad file is refused before anything runs.
#[derive(Debug, Clone)]
pub struct AddonManifest {
    pub path: std::path::PathBuf,
    pub docs: Vec<Value>,
}

impl AddonManifest {
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let docs = parse_documents(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if docs.is_empty() {
            return Err(format!("{}: no objects in the manifest", path.display()));
        }
        Ok(AddonManifest {
            path: path.to_path_buf(),
            docs,
        })
    }

    fn has_container(&self, name: &str) -> bool {
        self.docs
            .iter()
            .any(|d| d["kind"] == "DaemonSet" && container(d, name).is_some())
    }
}

fn container<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj.pointer("/spec/template/spec/containers")?
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

/// Whether the given manifest is the chosen add-on's (said before anything runs).
pub fn fits(addon: Addon, manifest: Option<&AddonManifest>) -> Result<(), String> {
    let Some(m) = manifest else { return Ok(()) };
    let (want, name) = match addon {
        Addon::Flannel => ("kube-flannel", "flannel"),
        Addon::Calico => ("calico-node", "calico"),
    };
    if m.has_container(want) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a {name} manifest: no DaemonSet with a {want} container",
            m.path.display()
        ))
    }
}

/// The add-on's objects set to agree with the cluster: flannel's (the given manifest
/// or the shipped one), calico's from the given manifest; `Ok(None)` for calico
/// without one (kcops then says how to apply it).
pub fn objects(
    addon: Addon,
    manifest: Option<&AddonManifest>,
    pod_subnet: &Cidr,
    iface: &str,
) -> Result<Option<Vec<Value>>, String> {
    fits(addon, manifest)?;
    match (addon, manifest) {
        (Addon::Flannel, m) => {
            let docs = match m {
                Some(m) => m.docs.clone(),
                None => parse_documents(FLANNEL)?,
            };
            flannel_docs(docs, pod_subnet, iface).map(Some)
        }
        (Addon::Calico, Some(m)) => {
            let mut docs = m.docs.clone();
            set_calico_pool(&mut docs, pod_subnet)?;
            Ok(Some(docs))
        }
        (Addon::Calico, None) => Ok(None),
    }
}

/// flannel's objects for `pod_subnet`, flanneld on `iface`.
pub fn flannel(pod_subnet: &Cidr, iface: &str) -> Result<Vec<Value>, String> {
    flannel_docs(parse_documents(FLANNEL)?, pod_subnet, iface)
}

fn flannel_docs(
    mut docs: Vec<Value>,
    pod_subnet: &Cidr,
    iface: &str,
) -> Result<Vec<Value>, String> {
    let mut network_set = false;
    let mut iface_set = false;
    for d in docs.iter_mut() {
        match d["kind"].as_str() {
            Some("ConfigMap") if d["metadata"]["name"] == "kube-flannel-cfg" => {
                let text = d["data"]["net-conf.json"].as_str().unwrap_or("{}");
                let mut conf: Value =
                    serde_json::from_str(text).map_err(|e| format!("net-conf.json: {e}"))?;
                conf["Network"] = Value::String(pod_subnet.to_string());
                d["data"]["net-conf.json"] =
                    Value::String(serde_json::to_string_pretty(&conf).map_err(|e| e.to_string())?);
                network_set = true;
            }
            Some("DaemonSet") => {
                if let Some(c) = containers_mut(d, "kube-flannel")
                    && let Some(args) = c["args"].as_array_mut()
                {
                    args.retain(|a| !a.as_str().is_some_and(|s| s.starts_with("--iface")));
                    args.push(Value::String(format!("--iface={iface}")));
                    iface_set = true;
                }
            }
            _ => {}
        }
    }
    if !(network_set && iface_set) {
        return Err("the flannel manifest has no kube-flannel-cfg or flanneld container".into());
    }
    Ok(docs)
}

/// Sets `CALICO_IPV4POOL_CIDR` of calico-node in a calico manifest's objects.
pub fn set_calico_pool(docs: &mut [Value], pod_subnet: &Cidr) -> Result<(), String> {
    for d in docs.iter_mut().filter(|d| d["kind"] == "DaemonSet") {
        if let Some(c) = containers_mut(d, "calico-node") {
            if !c["env"].is_array() {
                c["env"] = Value::Array(Vec::new());
            }
            let env = c["env"].as_array_mut().ok_or("env is not a list")?;
            env.retain(|e| e["name"] != "CALICO_IPV4POOL_CIDR");
            env.push(serde_json::json!({"name": "CALICO_IPV4POOL_CIDR", "value": pod_subnet.to_string()}));
            return Ok(());
        }
    }
    Err("no calico-node DaemonSet in the manifest".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flannel_gets_the_pod_subnet_and_the_interface() {
        let docs = flannel(&"10.50.0.0/16".parse().unwrap(), "eth1").unwrap();
        let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
        let conf: Value =
            serde_json::from_str(cm["data"]["net-conf.json"].as_str().unwrap()).unwrap();
        assert_eq!(conf["Network"], "10.50.0.0/16");
        assert_eq!(conf["Backend"]["Type"], "vxlan");
        let ds = docs.iter().find(|d| d["kind"] == "DaemonSet").unwrap();
        let args = ds.pointer("/spec/template/spec/containers/0/args").unwrap();
        assert_eq!(
            args,
            &serde_json::json!(["--ip-masq", "--kube-subnet-mgr", "--iface=eth1"])
        );
        assert_eq!(docs.len(), 6);
    }

    #[test]
    fn calico_pool_follows_the_pod_subnet() {
        let mut docs = parse_documents(
            "kind: DaemonSet\nmetadata: {name: calico-node}\nspec:\n  template:\n    spec:\n      containers:\n      - name: calico-node\n        env:\n        - {name: CALICO_IPV4POOL_CIDR, value: 192.168.0.0/16}\n",
        )
        .unwrap();
        set_calico_pool(&mut docs, &"10.60.0.0/16".parse().unwrap()).unwrap();
        let env = docs[0]
            .pointer("/spec/template/spec/containers/0/env")
            .unwrap();
        assert_eq!(
            env,
            &serde_json::json!([{"name": "CALICO_IPV4POOL_CIDR", "value": "10.60.0.0/16"}])
        );
        assert!(set_calico_pool(&mut [], &"10.60.0.0/16".parse().unwrap()).is_err());
    }

    const CALICO: &str = "kind: ConfigMap\nmetadata: {name: calico-config}\n---\nkind: DaemonSet\nmetadata: {name: calico-node, namespace: kube-system}\nspec:\n  template:\n    spec:\n      containers:\n      - name: calico-node\n        env:\n        - {name: CALICO_IPV4POOL_CIDR, value: 192.168.0.0/16}\n";

    fn manifest(text: &str) -> Result<AddonManifest, String> {
        let dir = std::env::temp_dir().join(format!("kcops-addon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("m-{}.yaml", text.len()));
        std::fs::write(&path, text).unwrap();
        AddonManifest::load(&path)
    }

    #[test]
    fn a_given_calico_manifest_is_applied_with_the_pod_subnet() {
        let m = manifest(CALICO).unwrap();
        let subnet: Cidr = "10.70.0.0/16".parse().unwrap();
        let docs = objects(Addon::Calico, Some(&m), &subnet, "eth0")
            .unwrap()
            .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            docs[1].pointer("/spec/template/spec/containers/0/env/0/value"),
            Some(&Value::String("10.70.0.0/16".into()))
        );
        // Without one there is nothing to apply; with flannel's, the shipped one.
        assert!(
            objects(Addon::Calico, None, &subnet, "eth0")
                .unwrap()
                .is_none()
        );
        assert!(
            objects(Addon::Flannel, None, &subnet, "eth0")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_manifest_of_the_other_add_on_or_a_bad_file_is_refused_with_its_path() {
        let m = manifest(CALICO).unwrap();
        let err = fits(Addon::Flannel, Some(&m)).unwrap_err();
        assert!(
            err.contains("is not a flannel manifest: no DaemonSet with a kube-flannel container"),
            "{err}"
        );
        let err = manifest("kind: [unclosed\n").unwrap_err();
        assert!(err.contains("m-16.yaml: did not find expected"), "{err}");
        let err =
            AddonManifest::load(std::path::Path::new("/nonexistent/calico.yaml")).unwrap_err();
        assert!(
            err.starts_with("cannot read /nonexistent/calico.yaml"),
            "{err}"
        );
    }
}
