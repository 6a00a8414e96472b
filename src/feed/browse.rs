//! The generic resource browser's data (`:svc`, `:cm`, `:secrets`, `:<kind>`): the
//! resource found in the API server's discovery by any name kubectl accepts (plural,
//! singular, kind, short name), listed as the server-side Table kubectl prints
//! (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), with the objects in the
//! rows for describe and YAML. Listed again every few seconds while it is shown.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;
use serde_json::Value;
use tokio::sync::mpsc;

use super::FeedMsg;

/// How often a shown list is asked for again.
const EVERY: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(10);

/// A resource kind the API server serves, as discovery names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `""` for the core group.
    pub group: String,
    pub version: String,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
}

impl Resource {
    /// The list URL, in `namespace` when one is given and the kind is namespaced.
    fn url(&self, namespace: Option<&str>) -> String {
        let base = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace.filter(|_| self.namespaced) {
            Some(ns) => format!("{base}/namespaces/{ns}/{}", self.plural),
            None => format!("{base}/{}", self.plural),
        }
    }

    /// Whether the kind holds values nobody may see by accident (Secrets).
    pub fn is_secret(&self) -> bool {
        self.group.is_empty() && self.plural == "secrets"
    }
}

/// One listed object: its cells as the server printed them, and the object.
#[derive(Debug, Clone)]
pub struct ResourceRow {
    pub namespace: String,
    pub name: String,
    pub cells: Vec<String>,
    pub object: Value,
}

/// A listed resource kind: the columns kubectl prints (priority 0) and the rows.
#[derive(Debug, Clone)]
pub struct ResourceTable {
    pub resource: Resource,
    pub columns: Vec<String>,
    pub rows: Vec<ResourceRow>,
}

/// Why a `:<kind>` shows nothing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BrowseError {
    #[error("the API server lists no resource called {0:?}")]
    Unknown(String),
    #[error("{0}")]
    Api(String),
    #[error(
        "the API server does not serve metrics.k8s.io (no metrics-server): CPU and memory are not available"
    )]
    NoMetrics,
}

/// Finds `word` among the resources the API server serves: a plural, singular or
/// short name, or a kind (case-insensitive), in the preferred version of each group.
pub async fn resolve(client: &::kube::Client, word: &str) -> Result<Resource, BrowseError> {
    let api = |e: ::kube::Error| BrowseError::Api(e.to_string());
    let word = word.to_lowercase();
    let core = client.list_core_api_resources("v1").await.map_err(api)?;
    if let Some(r) = pick(&core.resources, &word) {
        return Ok(resource("", "v1", r));
    }
    let groups = client.list_api_groups().await.map_err(api)?;
    for g in &groups.groups {
        let Some(v) = g.preferred_version.as_ref().or(g.versions.first()) else {
            continue;
        };
        let Ok(list) = client.list_api_group_resources(&v.group_version).await else {
            continue;
        };
        if let Some(r) = pick(&list.resources, &word) {
            return Ok(resource(&g.name, &v.version, r));
        }
    }
    Err(BrowseError::Unknown(word))
}

/// The top-level resource (not a subresource such as `pods/log`) named `word`.
fn pick<'a>(resources: &'a [APIResource], word: &str) -> Option<&'a APIResource> {
    resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .find(|r| {
            r.name == word
                || r.singular_name == word
                || r.kind.to_lowercase() == word
                || r.short_names.iter().flatten().any(|s| s == word)
        })
}

fn resource(group: &str, version: &str, r: &APIResource) -> Resource {
    Resource {
        group: group.to_owned(),
        version: version.to_owned(),
        plural: r.name.clone(),
        kind: r.kind.clone(),
        namespaced: r.namespaced,
    }
}

/// Lists `resource` as the server's Table, with the objects.
pub async fn list(
    client: &::kube::Client,
    resource: &Resource,
    namespace: Option<&str>,
) -> Result<ResourceTable, BrowseError> {
    let url = format!("{}?includeObject=Object", resource.url(namespace));
    let req = http::Request::get(url)
        .header(
            http::header::ACCEPT,
            "application/json;as=Table;g=meta.k8s.io;v=v1",
        )
        .body(Vec::new())
        .map_err(|e| BrowseError::Api(e.to_string()))?;
    let table: Value = client
        .request(req)
        .await
        .map_err(|e| BrowseError::Api(e.to_string()))?;
    Ok(parse_table(resource.clone(), &table))
}

/// The priority-0 columns and their cells (what `kubectl get` prints without `-o
/// wide`), with a NAMESPACE column first for a namespaced kind.
pub fn parse_table(resource: Resource, table: &Value) -> ResourceTable {
    let defs = table["columnDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shown: Vec<usize> = defs
        .iter()
        .enumerate()
        .filter(|(_, d)| d["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut columns: Vec<String> = shown
        .iter()
        .map(|i| defs[*i]["name"].as_str().unwrap_or_default().to_uppercase())
        .collect();
    if resource.namespaced {
        columns.insert(0, "NAMESPACE".into());
    }
    let rows = table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let meta = &row["object"]["metadata"];
            let namespace = meta["namespace"].as_str().unwrap_or_default().to_owned();
            let name = meta["name"].as_str().unwrap_or_default().to_owned();
            let mut cells: Vec<String> =
                shown.iter().map(|i| cell_text(&row["cells"][*i])).collect();
            if resource.namespaced {
                cells.insert(0, namespace.clone());
            }
            let mut object = row["object"].clone();
            if let Some(m) = object["metadata"].as_object_mut() {
                m.remove("managedFields");
            }
            ResourceRow {
                namespace,
                name,
                cells,
                object,
            }
        })
        .collect();
    ResourceTable {
        resource,
        columns,
        rows,
    }
}

/// A cell as kubectl prints it (strings as they are, numbers without quotes).
fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

/// Resolves `word` and lists it now and every few seconds, answering with
/// [`FeedMsg::Resources`] tagged `id`, until the task is aborted (another kind is
/// shown, or the browser left).
pub(crate) fn spawn<M: From<FeedMsg> + Send + 'static>(
    client: ::kube::Client,
    word: String,
    namespace: Option<String>,
    id: u64,
    tx: mpsc::Sender<M>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let send = |result| FeedMsg::Resources { id, result }.into();
        let resource = match tokio::time::timeout(TIMEOUT, resolve(&client, &word)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let _ = tx.send(send(Err(e))).await;
                return;
            }
            Err(_) => {
                let e = BrowseError::Api("discovery timed out".into());
                let _ = tx.send(send(Err(e))).await;
                return;
            }
        };
        loop {
            let answer =
                tokio::time::timeout(TIMEOUT, list(&client, &resource, namespace.as_deref()))
                    .await
                    .unwrap_or_else(|_| Err(BrowseError::Api("listing timed out".into())));
            if tx.send(send(answer.map(Arc::new))).await.is_err() {
                return;
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_keeps_what_kubectl_prints() {
        let services = Resource {
            group: "".into(),
            version: "v1".into(),
            plural: "services".into(),
            kind: "Service".into(),
            namespaced: true,
        };
        assert_eq!(
            services.url(Some("demo")),
            "/api/v1/namespaces/demo/services"
        );
        let table = serde_json::json!({
            "columnDefinitions": [
                {"name": "Name", "priority": 0}, {"name": "Type", "priority": 0},
                {"name": "Selector", "priority": 1}, {"name": "Ports", "priority": 0},
            ],
            "rows": [{"cells": ["kube-dns", "ClusterIP", "k8s-app=kube-dns", 53],
                "object": {"metadata": {"namespace": "kube-system", "name": "kube-dns",
                    "managedFields": [{}]}}}],
        });
        let t = parse_table(services, &table);
        assert_eq!(t.columns, ["NAMESPACE", "NAME", "TYPE", "PORTS"]);
        assert_eq!(
            t.rows[0].cells,
            ["kube-system", "kube-dns", "ClusterIP", "53"]
        );
        assert!(t.rows[0].object["metadata"].get("managedFields").is_none());
    }
}

/// `:top`: the pods' CPU and memory from metrics.k8s.io as `kubectl top pods`
/// prints them, or [`BrowseError::NoMetrics`] when the API server does not serve it
/// (no metrics-server): then nothing pretends to know.
pub(crate) fn spawn_top<M: From<FeedMsg> + Send + 'static>(
    client: ::kube::Client,
    id: u64,
    tx: mpsc::Sender<M>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let answer = tokio::time::timeout(TIMEOUT, top(&client))
                .await
                .unwrap_or_else(|_| Err(BrowseError::Api("metrics timed out".into())));
            let stop = matches!(answer, Err(BrowseError::NoMetrics));
            let msg = FeedMsg::Resources {
                id,
                result: answer.map(Arc::new),
            };
            if tx.send(msg.into()).await.is_err() || stop {
                return;
            }
            tokio::time::sleep(EVERY).await;
        }
    })
}

async fn top(client: &::kube::Client) -> Result<ResourceTable, BrowseError> {
    let groups = client
        .list_api_groups()
        .await
        .map_err(|e| BrowseError::Api(e.to_string()))?;
    let Some(version) = groups
        .groups
        .iter()
        .find(|g| g.name == "metrics.k8s.io")
        .and_then(|g| g.preferred_version.as_ref().or(g.versions.first()))
    else {
        return Err(BrowseError::NoMetrics);
    };
    let req = http::Request::get(format!("/apis/{}/pods", version.group_version))
        .body(Vec::new())
        .map_err(|e| BrowseError::Api(e.to_string()))?;
    let list: Value = client
        .request(req)
        .await
        .map_err(|e| BrowseError::Api(e.to_string()))?;
    Ok(metrics_table(&list))
}

/// PodMetrics as rows: CPU and memory summed over the containers.
fn metrics_table(list: &Value) -> ResourceTable {
    let sum = |containers: &Value, what: &str| -> String {
        let parts: Vec<String> = containers
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["usage"][what].as_str().map(str::to_owned))
            .collect();
        match parts.as_slice() {
            [one] => one.clone(),
            [] => "<none>".into(),
            many => {
                let total: f64 = many.iter().filter_map(|q| quantity(q)).sum();
                if what == "cpu" {
                    format!("{}m", (total * 1000.0).round())
                } else {
                    format!("{}Mi", (total / 1048576.0).round())
                }
            }
        }
    };
    let rows = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let namespace = m["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let name = m["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let cells = vec![
                namespace.clone(),
                name.clone(),
                sum(&m["containers"], "cpu"),
                sum(&m["containers"], "memory"),
            ];
            ResourceRow {
                namespace,
                name,
                cells,
                object: m.clone(),
            }
        })
        .collect();
    ResourceTable {
        resource: Resource {
            group: "metrics.k8s.io".into(),
            version: "v1beta1".into(),
            plural: "pods".into(),
            kind: "PodMetrics".into(),
            namespaced: true,
        },
        columns: ["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"]
            .map(str::to_owned)
            .to_vec(),
        rows,
    }
}

/// A quantity's value (`250m` = 0.25, `64Mi` = 67108864); `None` when unreadable.
fn quantity(q: &str) -> Option<f64> {
    let at = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(at);
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1048576.0,
        "Gi" => 1073741824.0,
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

#[cfg(test)]
mod top_tests {
    #[test]
    fn pod_metrics_sum_their_containers() {
        let list = serde_json::json!({"items": [
            {"metadata": {"namespace": "demo", "name": "web-0"},
             "containers": [{"usage": {"cpu": "250m", "memory": "64Mi"}}]},
            {"metadata": {"namespace": "demo", "name": "web-1"},
             "containers": [{"usage": {"cpu": "250m", "memory": "64Mi"}},
                            {"usage": {"cpu": "1", "memory": "64Mi"}}]},
        ]});
        let t = super::metrics_table(&list);
        assert_eq!(t.rows[0].cells, ["demo", "web-0", "250m", "64Mi"]);
        assert_eq!(t.rows[1].cells, ["demo", "web-1", "1250m", "128Mi"]);
    }
}
