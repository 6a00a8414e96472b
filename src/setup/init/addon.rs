//! The network add-on's manifest, made to agree with the cluster: flannel's shipped
//! manifest (`assets/kube-flannel.yml`) with net-conf.json's `Network` set to the pod
//! subnet and flanneld told the advertise address's interface (`--iface`), so it
//! does not pick the default route's; calico's `CALICO_IPV4POOL_CIDR` set likewise.

use serde_json::Value;

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

/// flannel's objects for `pod_subnet`, flanneld on `iface`.
pub fn flannel(pod_subnet: &Cidr, iface: &str) -> Result<Vec<Value>, String> {
    let mut docs = parse_documents(FLANNEL)?;
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
        return Err(
            "the shipped flannel manifest has no kube-flannel-cfg or flanneld container".into(),
        );
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
}
