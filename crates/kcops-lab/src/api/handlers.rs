//! Request handlers: get, list, create, update, patch, delete, and the subresources
//! (status, scale, log, eviction, binding).

use std::sync::Arc;

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use hyper::{Method, Response};
use serde_json::{Value, json};

use super::defaults;
use super::patch::{self, PatchType};
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{ApiRequest, ApiState, Body, Target, json_response, raw_json};
use super::status::{self, ApiError};
use super::store::{self, Entry, Key};
use super::table::{self, IncludeObject};

pub async fn handle(
    state: &Arc<ApiState>,
    t: Target,
    req: ApiRequest,
) -> Result<Response<Body>, ApiError> {
    match (&req.method, t.name.is_some(), t.sub.as_deref()) {
        (&Method::GET, false, _) if req.flag("watch") => {
            super::watch::serve(state.clone(), t, &req)
        }
        (&Method::GET, false, _) => list(state, &t, &req),
        (&Method::GET, true, None | Some("status")) => get(state, &t, &req),
        (&Method::GET, true, Some("scale")) => get_scale(state, &t),
        (&Method::GET, true, Some("log")) => super::watch::pod_log(state.clone(), &t, &req),
        (&Method::POST, false, None) => create(state, &t, &req),
        (&Method::POST, true, Some("eviction")) => evict(state, &t, &req),
        (&Method::POST, true, Some("binding")) => bind(state, &t, &req),
        (&Method::PUT, true, None | Some("status") | Some("finalize")) => update(state, &t, &req),
        (&Method::PUT, true, Some("scale")) => update_scale(state, &t, &req, None),
        (&Method::PATCH, true, Some("scale")) => {
            let pt = PatchType::from_content_type(&req.content_type)?;
            update_scale(state, &t, &req, Some(pt))
        }
        (&Method::PATCH, true, None | Some("status")) => patch_object(state, &t, &req),
        (&Method::DELETE, true, None) => delete(state, &t, &req),
        (&Method::DELETE, false, None) => delete_collection(state, &t, &req),
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {})",
            req.method, t.rt.plural
        ))),
    }
}

fn name_of(t: &Target) -> &str {
    t.name.as_deref().unwrap_or_default()
}

fn ns_of(t: &Target) -> &str {
    if t.rt.namespaced {
        t.namespace.as_deref().unwrap_or_default()
    } else {
        ""
    }
}

fn fetch(state: &ApiState, t: &Target) -> Result<Arc<Entry>, ApiError> {
    state.store.get(&t.rt, ns_of(t), name_of(t)).ok_or_else(|| {
        ApiError::not_found(&t.rt.qualified(), &t.rt.group, &t.rt.plural, name_of(t))
    })
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn get(state: &ApiState, t: &Target, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let entry = fetch(state, t)?;
    if req.wants_table() {
        let mut tbl = table::table(
            &t.rt.plural,
            &[entry.value()],
            IncludeObject::parse(req.q("includeObject")),
            now(),
        );
        tbl["metadata"]["resourceVersion"] = json!(entry.rv.to_string());
        return Ok(json_response(200, &tbl));
    }
    Ok(raw_json(200, entry.raw.clone()))
}

/// Label and field selectors of a request, validated against the resource.
pub struct Filters {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filters {
    pub fn from_request(t: &Target, req: &ApiRequest) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(req.q("labelSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(req.q("fieldSelector").unwrap_or_default())
            .map_err(ApiError::bad_request)?;
        let supported = store::supported_fields(&t.rt.kind);
        for f in fields.fields() {
            if f != "metadata.name" && f != "metadata.namespace" && !supported.contains(&f) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {f}"
                )));
            }
        }
        Ok(Self { labels, fields })
    }

    pub fn matches(&self, e: &Entry) -> bool {
        self.labels.matches(&e.labels) && self.fields.matches(&e.fields)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    rv: u64,
    ns: String,
    name: String,
}

fn list(state: &ApiState, t: &Target, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let filters = Filters::from_request(t, req)?;
    let limit: usize = req.q("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let (after, at_rv) = match req.q("continue") {
        Some(tok) => {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(tok)
                .map_err(|_| {
                    ApiError::bad_request("continue key is not valid: illegal base64 data")
                })?;
            let c: ContinueToken = serde_json::from_slice(&bytes)
                .map_err(|_| ApiError::bad_request("continue key is not valid"))?;
            (Some((c.ns, c.name)), Some(c.rv))
        }
        None => (None, None),
    };
    let ns = t.namespace.as_deref().filter(|_| t.rt.namespaced);
    let page = match (filters.fields.node_name(), limit, &after) {
        // The kubelet's and scheduler's question, answered from the index.
        (Some(node), 0, None) if t.rt.kind == "Pod" => {
            let rv = state.store.current_rv();
            let mut items: Vec<Arc<Entry>> = state
                .store
                .pods_on_node(&t.rt, node)
                .into_iter()
                .filter(|e| {
                    ns.is_none_or(|n| e.field("metadata.namespace") == n) && filters.matches(e)
                })
                .collect();
            items.sort_by(|a, b| {
                (a.field("metadata.namespace"), a.field("metadata.name"))
                    .cmp(&(b.field("metadata.namespace"), b.field("metadata.name")))
            });
            store::Page {
                items,
                rv,
                next: None,
                remaining: 0,
            }
        }
        _ => state.store.list_page(
            &t.rt,
            ns,
            after.as_ref(),
            limit,
            at_rv,
            &|e| filters.matches(e),
            filters.is_empty(),
        )?,
    };
    let continue_token = page.next.as_ref().map(|k: &Key| {
        let tok = ContinueToken {
            rv: page.rv,
            ns: k.0.clone(),
            name: k.1.clone(),
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&tok).unwrap_or_default())
    });
    if req.wants_table() {
        let objects: Vec<Value> = page.items.iter().map(|e| e.value()).collect();
        let mut tbl = table::table(
            &t.rt.plural,
            &objects,
            IncludeObject::parse(req.q("includeObject")),
            now(),
        );
        tbl["metadata"]["resourceVersion"] = json!(page.rv.to_string());
        if let Some(c) = &continue_token {
            tbl["metadata"]["continue"] = json!(c);
        }
        return Ok(json_response(200, &tbl));
    }
    // Lists are assembled from the stored bytes: no re-serialization of every item.
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &continue_token {
        meta["continue"] = json!(c);
        // As the API server: only a list without selectors knows how many remain.
        if filters.is_empty() {
            meta["remainingItemCount"] = json!(page.remaining);
        }
    }
    let head = format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        t.rt.kind,
        t.rt.api_version(),
        meta
    );
    let mut buf = BytesMut::with_capacity(
        head.len() + page.items.iter().map(|e| e.raw.len() + 1).sum::<usize>() + 2,
    );
    buf.put_slice(head.as_bytes());
    for (i, e) in page.items.iter().enumerate() {
        if i > 0 {
            buf.put_u8(b',');
        }
        buf.put_slice(&e.raw);
    }
    buf.put_slice(b"]}");
    Ok(raw_json(200, buf.freeze()))
}

fn parse_body(req: &ApiRequest) -> Result<Value, ApiError> {
    // The lab decodes JSON and YAML only: a protobuf body (kubectl's typed `create <kind>`
    // generators send one) gets the apiserver's 415, not a misleading JSON parse error.
    if req.content_type.contains("protobuf") {
        return Err(ApiError::unsupported_media(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
        ));
    }
    if req.content_type.contains("yaml") {
        return serde_yaml_ng::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })
}

fn dry_run(req: &ApiRequest) -> bool {
    req.q("dryRun") == Some("All")
}

fn create(state: &ApiState, t: &Target, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let mut obj = parse_body(req)?;
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body must be an object"));
    }
    if let Some(kind) = obj.get("kind").and_then(|k| k.as_str())
        && kind != t.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({})",
            obj["apiVersion"].as_str().unwrap_or_default(),
            t.rt.api_version()
        )));
    }
    if !obj.get("metadata").is_some_and(|m| m.is_object()) {
        obj["metadata"] = json!({});
    }
    if t.rt.namespaced {
        let path_ns = t.namespace.clone().unwrap_or_else(|| "default".into());
        match obj["metadata"].get("namespace").and_then(|n| n.as_str()) {
            Some(body_ns) if !body_ns.is_empty() && body_ns != path_ns => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => obj["metadata"]["namespace"] = json!(path_ns),
        }
        let nst = state
            .store
            .registry
            .find("", "v1", "namespaces")
            .ok_or_else(|| ApiError::internal("namespaces type missing"))?;
        if state.store.get(&nst, "", &path_ns).is_none() {
            return Err(ApiError::not_found(
                "namespaces",
                "",
                "namespaces",
                &path_ns,
            ));
        }
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    defaults::apply(&t.rt.kind, &mut obj);
    if t.rt.kind == "CustomResourceDefinition" && !dry_run(req) {
        state.store.registry.register_crd(&obj).map_err(|e| {
            ApiError::invalid(
                &t.rt.qualified(),
                &t.rt.kind,
                obj["metadata"]["name"].as_str().unwrap_or_default(),
                e,
            )
        })?;
    }
    if dry_run(req) {
        return Ok(json_response(201, &obj));
    }
    let entry = state.store.create(&t.rt, obj)?;
    Ok(raw_json(201, entry.raw.clone()))
}

/// Keeps the status (main resource) or everything but the status (status subresource)
/// as stored, as the API server does for resources with a status subresource.
fn scope_to_subresource(t: &Target, before: &Value, after: &mut Value) {
    if !t.rt.has_subresource("status") {
        return;
    }
    if t.sub.as_deref() == Some("status") {
        let new_status = after.get("status").cloned();
        let new_meta = after["metadata"].clone();
        *after = before.clone();
        if let Some(s) = new_status {
            after["status"] = s;
        }
        // Status writers may still change labels/annotations? The real server does not.
        let _ = new_meta;
    } else if let Some(s) = before.get("status") {
        after["status"] = s.clone();
    }
}

fn update(state: &ApiState, t: &Target, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let obj = parse_body(req)?;
    let expect_rv = obj["metadata"]
        .get("resourceVersion")
        .and_then(|r| r.as_str())
        .and_then(|r| r.parse().ok());
    let body_name = obj["metadata"]
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or_default();
    if body_name != name_of(t) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            name_of(t)
        )));
    }
    let entry = state
        .store
        .mutate(&t.rt, ns_of(t), name_of(t), expect_rv, |current| {
            let before = current.clone();
            let mut next = obj;
            next["metadata"]["namespace"] = before["metadata"]
                .get("namespace")
                .cloned()
                .unwrap_or(Value::Null);
            if !t.rt.namespaced
                && let Some(m) = next["metadata"].as_object_mut()
            {
                m.remove("namespace");
            }
            for field in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                match before["metadata"].get(field) {
                    Some(v) => next["metadata"][field] = v.clone(),
                    None => {
                        if let Some(m) = next["metadata"].as_object_mut() {
                            m.remove(field);
                        }
                    }
                }
            }
            scope_to_subresource(t, &before, &mut next);
            *current = next;
            Ok(())
        })?;
    Ok(raw_json(200, entry.raw.clone()))
}

fn patch_object(
    state: &ApiState,
    t: &Target,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let pt = PatchType::from_content_type(&req.content_type)?;
    if dry_run(req) {
        let mut v = fetch(state, t)?.value();
        let before = v.clone();
        patch::apply(&mut v, pt, &req.body)?;
        scope_to_subresource(t, &before, &mut v);
        return Ok(json_response(200, &v));
    }
    let entry = state
        .store
        .mutate(&t.rt, ns_of(t), name_of(t), None, |current| {
            let before = current.clone();
            patch::apply(current, pt, &req.body)?;
            let rv = current["metadata"]
                .get("resourceVersion")
                .and_then(|r| r.as_str())
                .map(str::to_string);
            if let (Some(rv), Some(orig)) = (rv, before["metadata"]["resourceVersion"].as_str())
                && rv != orig
            {
                return Err(ApiError::conflict(
                    &t.rt.qualified(),
                    &t.rt.group,
                    &t.rt.plural,
                    name_of(t),
                ));
            }
            for field in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "name",
                "namespace",
            ] {
                if let Some(v) = before["metadata"].get(field) {
                    current["metadata"][field] = v.clone();
                }
            }
            scope_to_subresource(t, &before, current);
            Ok(())
        })?;
    Ok(raw_json(200, entry.raw.clone()))
}

fn scale_of(obj: &Value) -> Value {
    let selector = obj["spec"]
        .get("selector")
        .map(label_selector_string)
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"],
            "resourceVersion": obj["metadata"]["resourceVersion"],
            "creationTimestamp": obj["metadata"]["creationTimestamp"],
        },
        "spec": {"replicas": obj["spec"].get("replicas").cloned().unwrap_or(json!(1))},
        "status": {"replicas": obj["status"].get("replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
}

/// `matchLabels` (and expressions) as the string form Scale.status.selector uses.
pub fn label_selector_string(sel: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(m) = sel.get("matchLabels").and_then(|m| m.as_object()) {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or_default()));
        }
    }
    if let Some(exprs) = sel.get("matchExpressions").and_then(|m| m.as_array()) {
        for e in exprs {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            match e["operator"].as_str() {
                Some("In") => parts.push(format!("{key} in ({})", values.join(","))),
                Some("NotIn") => parts.push(format!("{key} notin ({})", values.join(","))),
                Some("Exists") => parts.push(key.to_string()),
                Some("DoesNotExist") => parts.push(format!("!{key}")),
                _ => {}
            }
        }
    }
    parts.join(",")
}

fn get_scale(state: &ApiState, t: &Target) -> Result<Response<Body>, ApiError> {
    let entry = fetch(state, t)?;
    Ok(json_response(200, &scale_of(&entry.value())))
}

fn update_scale(
    state: &ApiState,
    t: &Target,
    req: &ApiRequest,
    pt: Option<PatchType>,
) -> Result<Response<Body>, ApiError> {
    let current = fetch(state, t)?;
    let mut scale = scale_of(&current.value());
    let expect_rv = match pt {
        Some(pt) => {
            patch::apply(&mut scale, pt, &req.body)?;
            None
        }
        None => {
            scale = parse_body(req)?;
            scale["metadata"]
                .get("resourceVersion")
                .and_then(|r| r.as_str())
                .and_then(|r| r.parse().ok())
        }
    };
    let replicas = scale["spec"]
        .get("replicas")
        .and_then(|r| r.as_i64())
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            &t.rt.qualified(),
            "Scale",
            name_of(t),
            format!("spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    let entry = state
        .store
        .mutate(&t.rt, ns_of(t), name_of(t), expect_rv, |obj| {
            obj["spec"]["replicas"] = json!(replicas);
            Ok(())
        })?;
    Ok(json_response(200, &scale_of(&entry.value())))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct DeleteOptions {
    grace_period_seconds: Option<i64>,
    preconditions: Option<Preconditions>,
    dry_run: Option<Vec<String>>,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Preconditions {
    uid: Option<String>,
    resource_version: Option<String>,
}

fn delete_options(req: &ApiRequest) -> Result<DeleteOptions, ApiError> {
    let mut opts: DeleteOptions = if req.body.is_empty() {
        DeleteOptions::default()
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
    };
    if let Some(g) = req.q("gracePeriodSeconds").and_then(|g| g.parse().ok()) {
        opts.grace_period_seconds = Some(g);
    }
    if dry_run(req) {
        opts.dry_run = Some(vec!["All".into()]);
    }
    Ok(opts)
}

fn delete(state: &ApiState, t: &Target, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let opts = delete_options(req)?;
    let current = fetch(state, t)?;
    if let Some(rv) = opts
        .preconditions
        .as_ref()
        .and_then(|p| p.resource_version.as_deref())
        && rv != current.rv.to_string()
    {
        return Err(ApiError::new(
            409,
            "Conflict",
            format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.rv
            ),
        ));
    }
    if opts.dry_run.is_some() {
        return Ok(raw_json(200, current.raw.clone()));
    }
    let uid = opts.preconditions.as_ref().and_then(|p| p.uid.as_deref());
    let entry = state
        .store
        .delete(&t.rt, ns_of(t), name_of(t), opts.grace_period_seconds, uid)?;
    // An object that stays (grace period, finalizers) is answered as it now is. One
    // that went at once is answered with a Status naming it, except for the kinds
    // whose storage returns the deleted object, as the API server does.
    let still_there = state
        .store
        .get(&t.rt, ns_of(t), name_of(t))
        .is_some_and(|e| e.uid == entry.uid);
    if still_there || RETURN_DELETED_OBJECT.contains(&t.rt.kind.as_str()) {
        return Ok(raw_json(200, entry.raw.clone()));
    }
    let mut details = json!({"name": name_of(t), "kind": t.rt.plural, "uid": entry.uid});
    if !t.rt.group.is_empty() {
        details["group"] = json!(t.rt.group);
    }
    Ok(json_response(
        200,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}),
    ))
}

/// Kinds whose API server storage sets `ReturnDeletedObject`.
const RETURN_DELETED_OBJECT: &[&str] = &[
    "Pod",
    "Namespace",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ServiceAccount",
];

fn delete_collection(
    state: &ApiState,
    t: &Target,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let filters = Filters::from_request(t, req)?;
    let opts = delete_options(req)?;
    let ns = t.namespace.as_deref().filter(|_| t.rt.namespaced);
    let mut deleted = Vec::new();
    for e in state
        .store
        .list(&t.rt, ns)
        .into_iter()
        .filter(|e| filters.matches(e))
    {
        if opts.dry_run.is_some() {
            deleted.push(e.value());
            continue;
        }
        if let Ok(d) = state.store.delete(
            &t.rt,
            e.field("metadata.namespace"),
            e.field("metadata.name"),
            opts.grace_period_seconds,
            None,
        ) {
            deleted.push(d.value());
        }
    }
    Ok(json_response(
        200,
        &json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(), "metadata": {}, "items": deleted}),
    ))
}

fn evict(state: &ApiState, t: &Target, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        parse_body(req)?
    };
    let grace = body["deleteOptions"]
        .get("gracePeriodSeconds")
        .and_then(|g| g.as_i64());
    let pod = fetch(state, t)?.value();
    super::disruption::check_eviction(&state.store, &pod)?;
    if body["deleteOptions"].get("dryRun").is_none() && !dry_run(req) {
        state
            .store
            .delete(&t.rt, ns_of(t), name_of(t), grace, None)?;
    }
    Ok(json_response(201, &status::success(201)))
}

fn bind(state: &ApiState, t: &Target, req: &ApiRequest) -> Result<Response<Body>, ApiError> {
    let body = parse_body(req)?;
    let node = body["target"]
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| ApiError::bad_request("binding target name is required"))?
        .to_string();
    state.store.mutate(&t.rt, ns_of(t), name_of(t), None, |pod| {
        if pod["spec"].get("nodeName").and_then(|n| n.as_str()).is_some_and(|n| !n.is_empty()) {
            return Err(ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on pods/binding \"{}\": pod {} is already assigned to node \"{}\"", name_of(t), name_of(t), pod["spec"]["nodeName"].as_str().unwrap_or_default())));
        }
        pod["spec"]["nodeName"] = json!(node);
        Ok(())
    })?;
    Ok(json_response(201, &status::success(201)))
}

/// Bytes of a JSON value, for stream frames.
pub fn to_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}
