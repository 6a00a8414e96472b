//! Opening the detail views (describe, YAML, logs) on the selected row, and feeding
//! them: the whole object fetched once a describe/YAML view opens, the log stream
//! (re)started when its options change. The fetching itself is [`crate::feed`]'s.

use super::{App, Overlay};
use crate::ui::detail::{Detail, DetailKind};
use crate::ui::theme::Role;
use crate::ui::view::{ObjKey, ObjKind};

impl App {
    /// Describe/YAML of an image row: the pane's detail lines as a scrollable view
    /// (an image is no Kubernetes object to fetch).
    fn open_image_detail(&mut self, key: ObjKey) {
        let lines = match self.view.ceph.detail(&key) {
            Some(d) => d
                .lines
                .iter()
                .map(|segments| segments.iter().map(|(_, t)| t.as_str()).collect())
                .collect(),
            None => vec![format!("RBD image {} is gone", key.name)],
        };
        self.overlay = Some(Overlay::Detail(Detail::new(
            DetailKind::Describe,
            key,
            lines,
        )));
    }

    pub(super) fn open_detail(&mut self, kind: DetailKind) {
        let Some(key) = self.selected() else { return };
        if matches!(kind, DetailKind::Describe | DetailKind::Yaml)
            && let Some(lines) = self.active().detail_lines(kind, &key)
        {
            self.overlay = Some(Overlay::Detail(Detail::new(kind, key, lines)));
            return;
        }
        if key.kind == ObjKind::RbdImage && kind != DetailKind::Logs {
            self.open_image_detail(key);
            return;
        }
        match kind {
            DetailKind::Describe => {
                let lines = crate::ui::describe::describe_lines(&self.view.snapshot, &key);
                self.overlay = Some(Overlay::Detail(Detail::new(kind, key.clone(), lines)));
                self.fetch_object(key);
            }
            DetailKind::Yaml => {
                let lines = crate::ui::describe::yaml_lines(&self.view.snapshot, &key);
                self.overlay = Some(Overlay::Detail(Detail::new(kind, key.clone(), lines)));
                self.fetch_object(key);
            }
            DetailKind::Messages => self.show_messages(),
            DetailKind::Logs => {
                if key.kind != ObjKind::Pod {
                    self.status = Some((Role::Warning, "logs: select a pod".into()));
                    return;
                }
                let containers: Vec<String> = self
                    .view
                    .snapshot
                    .pods
                    .iter()
                    .find(|p| {
                        p.metadata.name.as_deref() == Some(&key.name)
                            && p.metadata.namespace.as_deref() == Some(&key.namespace)
                    })
                    .and_then(|p| p.spec.as_ref())
                    .map(|s| s.containers.iter().map(|c| c.name.to_string()).collect())
                    .unwrap_or_default();
                let mut d = Detail::new(kind, key, Vec::new());
                d.container = containers.first().cloned();
                d.containers = containers;
                self.overlay = Some(Overlay::Detail(d));
                self.start_logs();
            }
        }
    }

    /// The stores keep only what the panes read, so describe and YAML, shown at once
    /// from the stored copy, are redone from the whole object once a background GET
    /// brings it.
    fn fetch_object(&mut self, key: ObjKey) {
        let Some(conn) = &self.connection else { return };
        self.object_id += 1;
        crate::feed::object::spawn_fetch(conn.client.clone(), key, self.object_id, self.tx.clone());
    }

    /// (Re)starts fetching logs for the open log view, in a background task.
    pub(super) fn start_logs(&mut self) {
        let Some(Overlay::Detail(d)) = &mut self.overlay else {
            return;
        };
        let Some(conn) = &self.connection else {
            d.error = Some("not connected to the API server".into());
            return;
        };
        if let Some(t) = self.log_task.take() {
            t.abort();
        }
        self.log_id += 1;
        d.lines.clear();
        d.scroll = 0;
        d.error = None;
        let request = crate::feed::logs::LogRequest {
            namespace: d.key.namespace.to_string(),
            pod: d.key.name.to_string(),
            container: d.container.clone(),
            previous: d.previous,
            follow: d.follow,
        };
        self.log_task = Some(crate::feed::logs::spawn(
            conn.client.clone(),
            conn.server.clone(),
            request,
            self.log_id,
            self.tx.clone(),
        ));
    }
}
