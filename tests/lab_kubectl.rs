//! The real kubectl (`/usr/bin/kubectl`, v1.32) against the lab (scenario `healthy`,
//! `--no-ceph`): what it prints is compared with golden files in
//! `tests/golden/kubectl/<case>.txt`, and what it reads agrees with kube-rs.
//!
//! A golden that is missing or differs fails its test with a line diff. After a
//! deliberate change, rewrite the goldens and review them like code:
//!
//! ```text
//! KCOPS_UPDATE_GOLDEN=1 cargo test --test lab_kubectl
//! git diff tests/golden/kubectl
//! ```
//!
//! Only what must vary from run to run is normalized, and kubectl's column layout is
//! kept: tables are parsed at kubectl's column offsets (a self-check proves that
//! re-rendering an unchanged table gives kubectl's exact bytes), cells are normalized,
//! and the table is re-rendered with kubectl's tabwriter rules (minimum width 6,
//! padding 3). Normalized:
//! - ages (`AGE`, `LAST SEEN` cells) with `common::normalize_ages`;
//! - generated names: pod-template hashes (`web-HASH`), generated suffixes
//!   (`web-HASH-XXXXX`, `kube-proxy-XXXXX`) and UUIDs (`pvc-UUID`); rows whose names
//!   become equal are put in a stable order (an object's rows, e.g. its events, stay
//!   together and in their order);
//! - addresses: the lab id octet of node IPs (`127.LAB.1.11`, `198.18.LAB.11`) and pod
//!   IPs as a whole (`POD_IP`: handed out in pod start order, which is concurrent);
//! - klog timestamps in container logs (`IMMDD hh:mm:ss.uuuuuu`).
//!
//! The tests share one lab. Tests that change cluster state (cordon, scale, delete, the
//! watch's namespace) take `STATE` for writing and put everything back before they
//! release it; the others take it for reading. Events cannot be put back, so the golden
//! of `get events -n demo` is the namespace's events before any test touched it.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use common::{Lab, wait_for};
use regex::Regex;
use serde_json::Value;

// ---- the shared lab and its state lock ----

static STATE: RwLock<()> = RwLock::new(());

fn read_state() -> RwLockReadGuard<'static, ()> {
    STATE.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_state() -> RwLockWriteGuard<'static, ()> {
    STATE.write().unwrap_or_else(PoisonError::into_inner)
}

/// The lab, once every workload of the scenario runs and is ready.
fn lab() -> &'static Lab {
    let lab = common::shared("kubectl", "healthy", &["--no-ceph"]);
    static SETTLED: OnceLock<()> = OnceLock::new();
    SETTLED.get_or_init(|| {
        wait_for(
            "the healthy scenario to settle",
            Duration::from_secs(180),
            || settled(lab).then_some(()),
        )
    });
    lab
}

fn json_of(lab: &Lab, args: &[&str]) -> Option<Value> {
    let out = lab.kubectl(args);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn pod_ready(p: &Value) -> bool {
    p["status"]["phase"] == "Running"
        && p["metadata"]["deletionTimestamp"].is_null()
        && p["status"]["containerStatuses"]
            .as_array()
            .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c["ready"] == true))
}

/// 16 pods all running and ready (web 2, coredns 2, etcd 3, zk 3, two DaemonSets of 3),
/// workloads reporting it, and the six claims bound.
fn settled(lab: &Lab) -> bool {
    let Some(pods) = json_of(lab, &["get", "pods", "-A", "-o", "json"]) else {
        return false;
    };
    let pods = items(&pods);
    if pods.len() != 16 || !pods.iter().all(pod_ready) {
        return false;
    }
    let Some(workloads) = json_of(lab, &["get", "deploy,sts,ds", "-A", "-o", "json"]) else {
        return false;
    };
    let workloads = items(&workloads);
    let ready = |w: &Value| {
        let s = &w["status"];
        match w["kind"].as_str() {
            Some("DaemonSet") => {
                s["desiredNumberScheduled"].as_i64() == Some(3)
                    && s["numberReady"].as_i64() == Some(3)
            }
            _ => {
                w["spec"]["replicas"].as_i64().is_some()
                    && s["readyReplicas"] == w["spec"]["replicas"]
            }
        }
    };
    if workloads.len() != 6 || !workloads.iter().all(ready) {
        return false;
    }
    let Some(pvcs) = json_of(lab, &["get", "pvc", "-A", "-o", "json"]) else {
        return false;
    };
    let pvcs = items(&pvcs);
    pvcs.len() == 6 && pvcs.iter().all(|c| c["status"]["phase"] == "Bound")
}

// ---- golden files ----

fn golden_path(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/kubectl")
        .join(format!("{case}.txt"))
}

/// Compares `actual` with the golden of `case`, or rewrites it with KCOPS_UPDATE_GOLDEN=1.
fn assert_golden(case: &str, actual: &str) {
    let path = golden_path(case);
    if std::env::var("KCOPS_UPDATE_GOLDEN").as_deref() == Ok("1") {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        std::fs::write(&path, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => panic!(
            "golden file {} is missing ({e}).\nKCOPS_UPDATE_GOLDEN=1 cargo test --test lab_kubectl writes it; this run printed:\n{actual}",
            path.display()
        ),
    };
    if expected != actual {
        panic!(
            "kubectl output differs from {} (- golden, + this run):\n{}\nIf the change is intended: KCOPS_UPDATE_GOLDEN=1 cargo test --test lab_kubectl",
            path.display(),
            line_diff(&expected, actual)
        );
    }
}

/// A unified-style line diff (longest common subsequence; the texts are small).
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(the texts differ in their final newline)\n");
    }
    out
}

// ---- normalization ----

/// Generated-name alphabet of Kubernetes (and of the lab): no vowels, no 0/1/3.
const GEN: &str = "[bcdfghjklmnpqrstvwxz2456789]";

struct Normalizer {
    pod_ip: Regex,
    node_ip: Regex,
    netns_ip: Regex,
    uuid: Regex,
    pod_of_rs: Regex,
    rs_hash: Regex,
    suffix: Regex,
    klog: Regex,
}

impl Normalizer {
    fn new(lab: &Lab) -> Self {
        let id = lab.state.id;
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        Self {
            pod_ip: re(&format!(r"\b127\.{id}\.(\d{{1,3}})\.\d{{1,3}}\b")),
            node_ip: re(&format!(r"\b127\.{id}\.1\.(\d{{1,3}})\b")),
            netns_ip: re(&format!(r"\b198\.18\.{id}\.(\d{{1,3}})\b")),
            uuid: re(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"),
            pod_of_rs: re(&format!(r"\b([a-z0-9][-a-z0-9]*)-{GEN}{{10}}-{GEN}{{5}}\b")),
            rs_hash: re(&format!(r"\b([a-z0-9][-a-z0-9]*)-{GEN}{{10}}\b")),
            suffix: re(&format!(r"\b([a-z0-9][-a-z0-9]*)-{GEN}{{5}}\b")),
            klog: re(r"\b([IWEF])\d{4} \d{2}:\d{2}:\d{2}\.\d{6}\b"),
        }
    }

    /// Names, addresses and log timestamps in any text.
    fn text(&self, s: &str) -> String {
        let s = self.node_ip.replace_all(s, "127.LAB.1.${1}");
        let s = self.netns_ip.replace_all(&s, "198.18.LAB.${1}");
        // Third octet 0 is the API server's and Ceph's, 1 the nodes': the rest are pods'.
        let s = self
            .pod_ip
            .replace_all(&s, |c: &regex::Captures| match c[1].parse::<u8>() {
                Ok(0 | 1) => c[0].to_string(),
                _ => "POD_IP".to_string(),
            });
        let s = self.uuid.replace_all(&s, "UUID");
        let s = self.pod_of_rs.replace_all(&s, "${1}-HASH-XXXXX");
        let s = self.rs_hash.replace_all(&s, "${1}-HASH");
        let s = self.suffix.replace_all(&s, "${1}-XXXXX");
        self.klog
            .replace_all(&s, "${1}MMDD hh:mm:ss.uuuuuu")
            .into_owned()
    }

    /// One table cell: `text`, and ages in the age columns.
    fn cell(&self, column: &str, value: &str) -> String {
        let v = self.text(value);
        if matches!(column, "AGE" | "LAST SEEN" | "FIRST SEEN") {
            common::normalize_ages(&v)
        } else {
            v
        }
    }
}

fn normalizer(lab: &Lab) -> &'static Normalizer {
    static N: OnceLock<Normalizer> = OnceLock::new();
    N.get_or_init(|| Normalizer::new(lab))
}

// ---- kubectl's tables ----

#[derive(Debug, Clone, PartialEq)]
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// kubectl's tabwriter: `tabwriter.NewWriter(out, 6, 4, 3, ' ', 0)`.
const MIN_WIDTH: usize = 6;
const PADDING: usize = 3;

/// Splits kubectl's output into its tables (blank lines separate them, as with
/// `get sts,deploy,ds`) and each line into cells at the header's column offsets.
fn parse_tables(text: &str) -> Vec<Table> {
    let mut tables = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if !line.is_empty() {
            block.push(line);
            continue;
        }
        if block.is_empty() {
            continue;
        }
        let header: Vec<char> = block[0].chars().collect();
        // Columns start after 2+ spaces (cells are padded by 3; header words have 1).
        let mut starts = vec![0];
        let mut i = 0;
        while i < header.len() {
            if header[i] != ' ' {
                i += 1;
                continue;
            }
            let run = header[i..].iter().take_while(|c| **c == ' ').count();
            if run >= 2 && i + run < header.len() {
                starts.push(i + run);
            }
            i += run;
        }
        let cut = |line: &str| -> Vec<String> {
            let chars: Vec<char> = line.chars().collect();
            starts
                .iter()
                .enumerate()
                .map(|(k, &from)| {
                    let to = starts
                        .get(k + 1)
                        .copied()
                        .unwrap_or(chars.len())
                        .min(chars.len());
                    let cell: String = chars.get(from..to).unwrap_or_default().iter().collect();
                    if k + 1 < starts.len() {
                        cell.trim_end().to_string()
                    } else {
                        cell
                    }
                })
                .collect()
        };
        tables.push(Table {
            header: cut(block[0]),
            rows: block[1..].iter().map(|l| cut(l)).collect(),
        });
        block.clear();
    }
    tables
}

fn render_tables(tables: &[Table]) -> String {
    let mut out = String::new();
    for (n, t) in tables.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let cols = t.header.len();
        let widths: Vec<usize> = (0..cols)
            .map(|k| {
                let longest = std::iter::once(&t.header)
                    .chain(&t.rows)
                    .map(|r| r.get(k).map_or(0, |c| c.chars().count()))
                    .max()
                    .unwrap_or(0);
                (longest + PADDING).max(MIN_WIDTH)
            })
            .collect();
        for row in std::iter::once(&t.header).chain(&t.rows) {
            for (k, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if k + 1 < cols {
                    out.push_str(&" ".repeat(widths[k].saturating_sub(cell.chars().count())));
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Normalizes every cell, then orders rows whose names became equal: each object's
/// rows (consecutive, same raw name) stay together and in order, and such groups are
/// sorted by their normalized text.
fn normalize_table(n: &Normalizer, t: &Table) -> Table {
    let key_cols: Vec<usize> = t
        .header
        .iter()
        .enumerate()
        .filter(|(_, h)| matches!(h.as_str(), "NAMESPACE" | "NAME" | "OBJECT"))
        .map(|(k, _)| k)
        .collect();
    let key = |row: &Vec<String>| {
        key_cols
            .iter()
            .map(|k| row.get(*k).cloned().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let rows: Vec<(Vec<String>, Vec<String>)> = t
        .rows
        .iter()
        .map(|r| {
            (
                key(r),
                r.iter()
                    .enumerate()
                    .map(|(k, c)| n.cell(&t.header[k], c))
                    .collect(),
            )
        })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let norm_key = key(&rows[i].1);
        let end = i + rows[i..]
            .iter()
            .take_while(|r| key(&r.1) == norm_key)
            .count();
        let mut groups: Vec<Vec<Vec<String>>> = Vec::new();
        let mut last_raw: Option<&Vec<String>> = None;
        for (raw, cells) in &rows[i..end] {
            match (last_raw, groups.last_mut()) {
                (Some(prev), Some(g)) if prev == raw => g.push(cells.clone()),
                _ => groups.push(vec![cells.clone()]),
            }
            last_raw = Some(raw);
        }
        groups.sort();
        out.extend(groups.into_iter().flatten());
        i = end;
    }
    Table {
        header: t.header.clone(),
        rows: out,
    }
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `kubectl <args>` (which must succeed) as a normalized transcript entry: the command
/// line, then its tables.
fn table_entry(lab: &Lab, args: &[&str]) -> String {
    let raw = lab.kubectl_ok(args);
    let tables = parse_tables(&raw);
    assert!(
        !tables.is_empty(),
        "kubectl {args:?} printed no table: {raw:?}"
    );
    assert_eq!(
        render_tables(&tables),
        raw,
        "kubectl {args:?}: its output is not a table this test can re-render"
    );
    let n = normalizer(lab);
    let normalized: Vec<Table> = tables.iter().map(|t| normalize_table(n, t)).collect();
    format!(
        "$ kubectl {}\n{}",
        n.text(&args.join(" ")),
        render_tables(&normalized)
    )
}

/// Any kubectl command as a transcript entry: stdout, stderr lines marked `[stderr]`,
/// and a failing exit status.
fn command_entry(lab: &Lab, args: &[&str]) -> String {
    let n = normalizer(lab);
    let out = lab.kubectl(args);
    let mut text = format!(
        "$ kubectl {}\n{}",
        n.text(&args.join(" ")),
        n.text(&stdout_of(&out))
    );
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for line in stderr_of(&out).lines() {
        text.push_str(&format!("[stderr] {}\n", n.text(line)));
    }
    if !out.status.success() {
        text.push_str(&format!("[exit {}]\n", out.status.code().unwrap_or(-1)));
    }
    text
}

/// One `kubectl get` compared with its golden.
fn golden_get(case: &str, args: &[&str]) {
    let lab = lab();
    let _state = read_state();
    assert_golden(case, &table_entry(lab, args));
}

// ---- read-only gets ----

#[test]
fn get_nodes() {
    golden_get("get_nodes", &["get", "nodes"]);
}

/// The lab's v1.33 server and the machine's kubectl (gcloud's dispatcher, which runs
/// the kubectl 1.27..1.33 nearest the server) stay within kubectl's supported skew of
/// one minor version, so `kubectl version` names both without a warning.
#[test]
fn kubectl_version_is_within_skew() {
    let lab = lab();
    let _state = read_state();
    let v = json_of(lab, &["version", "-o", "json"])
        .unwrap_or_else(|| panic!("kubectl version -o json printed no JSON"));
    let minor = |side: &str| {
        v[side]["minor"]
            .as_str()
            .and_then(|m| m.parse::<i64>().ok())
            .unwrap_or_else(|| panic!("{side} has no minor version: {v}"))
    };
    assert_eq!(
        (
            v["serverVersion"]["gitVersion"].as_str(),
            minor("serverVersion")
        ),
        (Some(kcops_lab::api::discovery::GIT_VERSION), 33),
        "{v}"
    );
    assert!(
        (minor("clientVersion") - minor("serverVersion")).abs() <= 1,
        "{v}"
    );
    let out = lab.kubectl(&["version"]);
    let (stdout, stderr) = (stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!(
            "Server Version: {}",
            kcops_lab::api::discovery::GIT_VERSION
        )),
        "{stdout}"
    );
    assert!(!stderr.contains("WARNING"), "{stderr}");
}

#[test]
fn get_nodes_wide() {
    golden_get("get_nodes_wide", &["get", "nodes", "-o", "wide"]);
}

#[test]
fn get_pods_all_namespaces() {
    golden_get("get_pods_all_namespaces", &["get", "pods", "-A"]);
}

#[test]
fn get_pods_wide_demo() {
    golden_get(
        "get_pods_wide_demo",
        &["get", "pods", "-o", "wide", "-n", "demo"],
    );
}

#[test]
fn get_pv() {
    golden_get("get_pv", &["get", "pv"]);
}

#[test]
fn get_pvc_all_namespaces() {
    golden_get("get_pvc_all_namespaces", &["get", "pvc", "-A"]);
}

#[test]
fn get_storageclasses() {
    golden_get("get_sc", &["get", "sc"]);
}

#[test]
fn get_workloads_all_namespaces() {
    golden_get(
        "get_sts_deploy_ds_all_namespaces",
        &["get", "sts,deploy,ds", "-A"],
    );
}

#[test]
fn get_namespaces() {
    golden_get("get_ns", &["get", "ns"]);
}

/// `kubectl get events -n demo` as it was before any test changed the namespace; the
/// tests that change it take this snapshot first.
fn demo_events_at_start(lab: &Lab) -> &'static str {
    static EVENTS: OnceLock<String> = OnceLock::new();
    EVENTS.get_or_init(|| table_entry(lab, &["get", "events", "-n", "demo"]))
}

#[test]
fn get_events_demo() {
    let lab = lab();
    let _state = read_state();
    let events = demo_events_at_start(lab);
    assert_golden("get_events_demo", events);
    // Each pod's events in the order they happened (event names are `<object>.<hex ns>`).
    let reasons: Vec<&str> = events
        .lines()
        .filter(|l| l.contains("pod/web-"))
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(
        reasons,
        [
            "Scheduled",
            "Pulled",
            "Created",
            "Started",
            "Scheduled",
            "Pulled",
            "Created",
            "Started"
        ],
        "{events}"
    );
}

// ---- logs ----

/// The name of the one pod of `selector` in `ns` on `node`.
fn pod_on(lab: &Lab, ns: &str, selector: &str, node: &str) -> String {
    let field = format!("spec.nodeName={node}");
    let name = lab.kubectl_ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        selector,
        "--field-selector",
        &field,
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    assert!(!name.is_empty(), "no pod {selector} on {node} in {ns}");
    name
}

#[test]
fn logs_container_choice_tail_and_previous() {
    let lab = lab();
    let _state = read_state();
    let web = pod_on(lab, "demo", "app=web", "node1");
    let flannel = pod_on(lab, "kube-flannel", "app=flannel", "node1");
    let cases: Vec<Vec<&str>> = vec![
        vec!["logs", "-n", "demo", &web],
        vec!["logs", "-n", "demo", &web, "-c", "nginx", "--tail=1"],
        // No previous instance: the kubelet's error, relayed by the API server.
        vec!["logs", "-n", "demo", &web, "--previous"],
        // Init containers: kubectl names the default container; an init container's
        // (empty) log is there once it completed.
        vec!["logs", "-n", "kube-flannel", &flannel, "--tail=3"],
        vec![
            "logs",
            "-n",
            "kube-flannel",
            &flannel,
            "-c",
            "kube-flannel",
            "--tail=1",
        ],
        vec!["logs", "-n", "kube-flannel", &flannel, "-c", "install-cni"],
        vec![
            "logs",
            "-n",
            "kube-flannel",
            &flannel,
            "-c",
            "kube-flannel",
            "--previous",
        ],
        vec![
            "logs",
            "-n",
            "kube-flannel",
            &flannel,
            "-c",
            "no-such-container",
        ],
    ];
    let transcript: String = cases.iter().map(|args| command_entry(lab, args)).collect();
    assert_golden("logs", &transcript);

    // The same facts, spelled out.
    let previous = lab.kubectl(&["logs", "-n", "demo", &web, "--previous"]);
    assert_eq!(previous.status.code(), Some(1));
    assert_eq!(
        stderr_of(&previous),
        format!(
            "Error from server (BadRequest): previous terminated container \"nginx\" in pod \"{web}\" not found\n"
        )
    );
    assert_eq!(
        lab.kubectl_ok(&["logs", "-n", "demo", &web, "-c", "nginx", "--tail=1"]),
        format!("{web} started\n")
    );
    let tail = lab.kubectl_ok(&[
        "logs",
        "-n",
        "kube-flannel",
        &flannel,
        "-c",
        "kube-flannel",
        "--tail=2",
    ]);
    assert_eq!(tail.lines().count(), 2, "{tail}");
    assert!(
        tail.ends_with("main.go:535] Waiting for all goroutines to exit\n"),
        "{tail}"
    );
}

// ---- kube-rs agrees ----

#[test]
fn kubectl_and_kube_rs_see_the_same_objects() {
    use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::api::{Api, ListParams};

    let lab = lab();
    let _state = read_state();
    let from_kubectl = |args: &[&str]| -> BTreeSet<(String, String, String)> {
        let v: Value = serde_json::from_str(&lab.kubectl_ok(args))
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"));
        items(&v)
            .iter()
            .map(|o| {
                let m = &o["metadata"];
                let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
                (s("namespace"), s("name"), s("uid"))
            })
            .collect()
    };
    let key = |m: &ObjectMeta| {
        (
            m.namespace.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default(),
            m.uid.clone().unwrap_or_default(),
        )
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio: {e}"));
    let (pods, nodes, pvcs) = rt.block_on(async {
        let client = lab.client().await;
        let lp = ListParams::default();
        let pods = Api::<Pod>::all(client.clone())
            .list(&lp)
            .await
            .unwrap_or_else(|e| panic!("list pods: {e}"));
        let nodes = Api::<Node>::all(client.clone())
            .list(&lp)
            .await
            .unwrap_or_else(|e| panic!("list nodes: {e}"));
        let pvcs = Api::<PersistentVolumeClaim>::all(client)
            .list(&lp)
            .await
            .unwrap_or_else(|e| panic!("list pvcs: {e}"));
        (pods, nodes, pvcs)
    });
    let pods: BTreeSet<_> = pods.items.iter().map(|p| key(&p.metadata)).collect();
    assert_eq!(pods.len(), 16);
    assert_eq!(from_kubectl(&["get", "pods", "-A", "-o", "json"]), pods);
    let nodes: BTreeSet<_> = nodes.items.iter().map(|n| key(&n.metadata)).collect();
    assert_eq!(from_kubectl(&["get", "nodes", "-o", "json"]), nodes);
    let pvcs: BTreeSet<_> = pvcs.items.iter().map(|c| key(&c.metadata)).collect();
    assert_eq!(from_kubectl(&["get", "pvc", "-A", "-o", "json"]), pvcs);
    // And the names kubectl's table shows are those objects.
    let table = lab.kubectl_ok(&["get", "pods", "-A", "--no-headers"]);
    let shown: BTreeSet<(String, String)> = table
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect();
    assert_eq!(
        shown,
        pods.iter()
            .map(|(ns, name, _)| (ns.clone(), name.clone()))
            .collect()
    );
}

// ---- changes: cordon, scale, delete ----

/// Runs `undo` when dropped, so a failing test still restores the shared lab.
struct Restore<F: FnMut()>(F);

impl<F: FnMut()> Drop for Restore<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[test]
fn cordon_shows_scheduling_disabled() {
    let lab = lab();
    let _state = write_state();
    let _uncordon = Restore(|| {
        let _ = lab.kubectl(&["uncordon", "node2"]);
    });
    let mut transcript = command_entry(lab, &["cordon", "node2"]);
    let cordoned = table_entry(lab, &["get", "nodes"]);
    assert!(
        cordoned.lines().any(|l| l.starts_with("node2")
            && l.split_whitespace().nth(1) == Some("Ready,SchedulingDisabled")),
        "{cordoned}"
    );
    transcript.push_str(&cordoned);
    transcript.push_str(&command_entry(lab, &["uncordon", "node2"]));
    transcript.push_str(&table_entry(lab, &["get", "nodes"]));
    assert_golden("cordon_node2", &transcript);
}

/// Pods of `selector` in `ns`: (live and ready, terminating or unready).
fn pod_counts(lab: &Lab, ns: &str, selector: &str) -> Option<(usize, usize)> {
    let pods = items(&json_of(
        lab,
        &["get", "pods", "-n", ns, "-l", selector, "-o", "json"],
    )?);
    let ready = pods.iter().filter(|p| pod_ready(p)).count();
    Some((ready, pods.len() - ready))
}

/// Exactly `want` web pods, all ready, and the Deployment says so.
fn web_pods_are(lab: &Lab, want: usize) -> bool {
    let Some(d) = json_of(lab, &["get", "deploy", "web", "-n", "demo", "-o", "json"]) else {
        return false;
    };
    let n = Some(want as i64);
    pod_counts(lab, "demo", "app=web") == Some((want, 0))
        && d["status"]["readyReplicas"].as_i64() == n
        && d["status"]["replicas"].as_i64() == n
}

fn wait_web_pods(lab: &Lab, want: usize) {
    wait_for(
        &format!("{want} ready web pods and no others"),
        Duration::from_secs(60),
        || web_pods_are(lab, want).then_some(()),
    );
}

/// Polls like `wait_for` but never panics: for clean-up that runs in `Drop`.
fn poll(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        if std::time::Instant::now() > deadline {
            eprintln!("clean-up did not finish within {timeout:?}");
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    true
}

#[test]
fn scale_deployment_to_three_and_back() {
    let lab = lab();
    let _state = write_state();
    demo_events_at_start(lab);
    let _back = Restore(|| {
        let _ = lab.kubectl(&["scale", "deploy", "web", "-n", "demo", "--replicas=2"]);
        poll(Duration::from_secs(60), || web_pods_are(lab, 2));
    });
    let mut transcript = command_entry(
        lab,
        &["scale", "deploy", "web", "-n", "demo", "--replicas=3"],
    );
    wait_web_pods(lab, 3);
    transcript.push_str(&table_entry(lab, &["get", "deploy", "web", "-n", "demo"]));
    transcript.push_str(&table_entry(lab, &["get", "pods", "-n", "demo"]));
    transcript.push_str(&command_entry(
        lab,
        &["scale", "deploy", "web", "-n", "demo", "--replicas=2"],
    ));
    wait_web_pods(lab, 2);
    transcript.push_str(&table_entry(lab, &["get", "deploy", "web", "-n", "demo"]));
    assert_golden("scale_deploy_web", &transcript);
    let events = lab.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "demo",
        "--field-selector",
        "involvedObject.kind=Deployment",
        "-o",
        "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
    ]);
    let n = normalizer(lab);
    assert!(n.text(&events).contains("Scaled up replica set web-HASH from 2 to 3\nScaled down replica set web-HASH from 3 to 2\n"), "{events}");
}

#[test]
fn deleted_pod_is_replaced() {
    let lab = lab();
    let _state = write_state();
    demo_events_at_start(lab);
    let _settle = Restore(|| {
        poll(Duration::from_secs(60), || web_pods_are(lab, 2));
    });
    let victim = pod_on(lab, "demo", "app=web", "node2");
    let out = lab.kubectl(&["delete", "pod", &victim, "-n", "demo"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), format!("pod \"{victim}\" deleted\n"));
    wait_for(
        "the victim gone and a replacement ready",
        Duration::from_secs(60),
        || {
            let pods = items(&json_of(
                lab,
                &["get", "pods", "-n", "demo", "-l", "app=web", "-o", "json"],
            )?);
            let gone = !pods
                .iter()
                .any(|p| p["metadata"]["name"] == victim.as_str());
            (gone && pods.len() == 2 && pods.iter().all(pod_ready)).then_some(())
        },
    );
    wait_web_pods(lab, 2);
    let n = normalizer(lab);
    let mut transcript = format!(
        "$ kubectl delete pod {} -n demo\n{}",
        n.text(&victim),
        n.text(&stdout_of(&out))
    );
    // The ReplicaSet spreads its pods: the replacement takes the freed node.
    transcript.push_str(&table_entry(
        lab,
        &["get", "pods", "-n", "demo", "-o", "wide"],
    ));
    assert_golden("delete_web_pod", &transcript);
    let field = format!("involvedObject.name={victim}");
    let killing = lab.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "demo",
        "--field-selector",
        &field,
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ]);
    assert!(
        killing.contains("Killing: Stopping container nginx\n"),
        "{killing}"
    );
}

// ---- get -w ----

/// A kubectl child whose stdout and stderr lines are collected as they come.
struct Streaming {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Streaming {
    fn start(lab: &Lab, args: &[&str]) -> Streaming {
        let mut child = Command::new("kubectl")
            .args(args)
            .env("KUBECONFIG", &lab.state.kubeconfig)
            .env("HOME", &lab.home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
        let collect = |pipe: Box<dyn Read + Send>| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(line);
                }
            });
            lines
        };
        let stdout = collect(Box::new(
            child.stdout.take().unwrap_or_else(|| panic!("no stdout")),
        ));
        let stderr = collect(Box::new(
            child.stderr.take().unwrap_or_else(|| panic!("no stderr")),
        ));
        Streaming {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> Vec<String> {
        self.stdout
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// With `-v=6`, kubectl logs the watch request once the server answered it.
    fn watching(&self) -> bool {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            // kubectl 1.32 logs ` 200 OK`, 1.33 `status="200 OK"`.
            .any(|l| l.contains("watch=true") && l.contains("200 OK"))
    }

    fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout()
    }
}

const WATCH_NS: &str = "kubectl-watch";

#[test]
fn get_pods_watch_streams_a_pods_life() {
    let lab = lab();
    let _state = write_state();
    let manifest = lab.runtime_dir.join("kubectl-watch-ns.yaml");
    std::fs::write(
        &manifest,
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {WATCH_NS}\n"),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", manifest.display()));
    let created = lab.kubectl_ok(&["create", "-f", &manifest.display().to_string()]);
    assert_eq!(created, format!("namespace/{WATCH_NS} created\n"));
    let _cleanup = Restore(|| {
        let _ = lab.kubectl(&["delete", "ns", WATCH_NS]);
        poll(Duration::from_secs(60), || {
            !lab.kubectl(&["get", "ns", WATCH_NS]).status.success()
        });
    });

    let plain = Streaming::start(lab, &["get", "pods", "-w", "-n", WATCH_NS, "-v=6"]);
    let typed = Streaming::start(
        lab,
        &[
            "get",
            "pods",
            "-w",
            "-n",
            WATCH_NS,
            "--output-watch-events",
            "-v=6",
        ],
    );
    wait_for(
        "both watches to be established",
        Duration::from_secs(30),
        || (plain.watching() && typed.watching()).then_some(()),
    );

    let run = lab.kubectl_ok(&["run", "w1", "-n", WATCH_NS, "--image=nginx:1.27.5"]);
    assert_eq!(run, "pod/w1 created\n");
    wait_for(
        "the watch to show w1 ready",
        Duration::from_secs(60),
        || {
            typed
                .stdout()
                .iter()
                .any(|l| {
                    l.split_whitespace()
                        .take(4)
                        .eq(["MODIFIED", "w1", "1/1", "Running"])
                })
                .then_some(())
        },
    );
    let deleted = lab.kubectl_ok(&["delete", "pod", "w1", "-n", WATCH_NS]);
    assert_eq!(deleted, "pod \"w1\" deleted\n");
    wait_for(
        "the watch to show w1 deleted",
        Duration::from_secs(60),
        || {
            typed
                .stdout()
                .iter()
                .any(|l| l.starts_with("DELETED"))
                .then_some(())
        },
    );
    wait_for(
        "both watches to print every event",
        Duration::from_secs(10),
        || (plain.stdout().len() == typed.stdout().len()).then_some(()),
    );
    let plain = plain.stop();
    let typed = typed.stop();
    let shown = format!(
        "kubectl get pods -w:\n{}\nkubectl get pods -w --output-watch-events:\n{}",
        plain.join("\n"),
        typed.join("\n")
    );

    // The header once, then one row per event.
    assert_eq!(
        plain[0], "NAME   READY   STATUS    RESTARTS   AGE",
        "{shown}"
    );
    assert_eq!(
        typed[0].split_whitespace().collect::<Vec<_>>(),
        ["EVENT", "NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{shown}"
    );
    assert!(
        plain[1..]
            .iter()
            .chain(&typed[1..])
            .all(|l| !l.contains("NAME")),
        "a header repeats: {shown}"
    );
    let rows = |lines: &[String], skip: usize| -> Vec<Vec<String>> {
        lines[1..]
            .iter()
            .map(|l| {
                l.split_whitespace()
                    .skip(skip)
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    };
    let plain_rows = rows(&plain, 0);
    assert!(
        plain_rows
            .iter()
            .all(|r| r.len() == 5 && r[0] == "w1" && r[3] == "0"),
        "{shown}"
    );
    assert_eq!(plain_rows[0][4], "0s", "a new pod is 0s old: {shown}");
    // kubectl prints what the server's Table rows say: the same events in both watches.
    let without_age = |rs: Vec<Vec<String>>| {
        rs.into_iter()
            .map(|mut r| r.drain(..4).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_age(rows(&typed, 1)),
        without_age(plain_rows.clone()),
        "{shown}"
    );
    let kinds: Vec<&str> = typed[1..]
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(kinds.first(), Some(&"ADDED"), "{shown}");
    assert_eq!(kinds.last(), Some(&"DELETED"), "{shown}");
    assert!(
        kinds[1..kinds.len() - 1].iter().all(|k| *k == "MODIFIED"),
        "{shown}"
    );

    // The life of a pod as a v1.33 cluster shows it: scheduled, created, started, ready,
    // deleted (Terminating), its container stopped (the kubelet gives a deleted pod a
    // terminal phase since 1.27, so `0/1 Completed`), then the DELETED event.
    let mut states: Vec<(String, String)> = plain_rows
        .iter()
        .map(|r| (r[1].clone(), r[2].clone()))
        .collect();
    states.dedup();
    let want = [
        ("0/1", "Pending"),
        ("0/1", "ContainerCreating"),
        ("0/1", "Running"),
        ("1/1", "Running"),
        ("1/1", "Terminating"),
        ("0/1", "Completed"),
    ];
    assert_eq!(
        states,
        want.map(|(a, b)| (a.to_string(), b.to_string())),
        "{shown}"
    );
}
