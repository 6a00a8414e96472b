//! `:port-forward PORT` (`F` on Pods): `kubectl port-forward` to the selected pod in
//! the background, its local address on the status line, ended with the console.
//! Only where the API server serves `pods/portforward`: otherwise it says so
//! plainly instead of starting something that cannot work.

use tokio::io::AsyncBufReadExt;

use super::{App, UiMsg};
use crate::ui::theme::Role;
use crate::ui::view::ObjKind;

impl App {
    pub(crate) fn port_forward(&mut self, port: Option<&str>) {
        let Some(port) = port.and_then(|p| p.trim().parse::<u16>().ok()) else {
            self.status = Some((Role::Warning, "usage: :port-forward PORT (a number)".into()));
            return;
        };
        let Some(key) = self.selected().filter(|k| k.kind == ObjKind::Pod) else {
            self.status = Some((Role::Warning, "select a pod to forward a port to".into()));
            return;
        };
        let Some(client) = self.connection.as_ref().map(|c| c.client.clone()) else {
            self.status = Some((Role::Warning, "not connected to the API server".into()));
            return;
        };
        let mut args = self.kubectl_connection_args();
        args.extend(
            [
                "port-forward",
                "-n",
                &key.namespace,
                &format!("pod/{}", key.name),
                &format!(":{port}"),
            ]
            .map(str::to_owned),
        );
        let mut command = tokio::process::Command::new("kubectl");
        command
            .args(&args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        let tx = self.tx.clone();
        let what = format!("{}/{} port {port}", key.namespace, key.name);
        self.status = Some((Role::Info, format!("port-forward to {what}...")));
        // The answer comes back as a status line; the child is kept by a task that
        // ends with the console's runtime.
        tokio::spawn(async move {
            let say = |role, text| UiMsg::Status(role, text);
            if !offers_port_forward(&client).await {
                let _ = tx
                    .send(say(
                        Role::Warning,
                        "the API server does not offer port-forward (it serves no pods/portforward)".into(),
                    ))
                    .await;
                return;
            }
            let mut child = match command.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx
                        .send(say(Role::Error, format!("cannot run kubectl: {e}")))
                        .await;
                    return;
                }
            };
            let Some(out) = child.stdout.take() else {
                return;
            };
            let mut lines = tokio::io::BufReader::new(out).lines();
            match lines.next_line().await {
                Ok(Some(line)) => {
                    let _ = tx
                        .send(say(Role::Info, format!("{what}: {}", line.trim())))
                        .await;
                    // Keep reading (kubectl writes a line per connection).
                    while let Ok(Some(_)) = lines.next_line().await {}
                }
                _ => {
                    let _ = tx
                        .send(say(Role::Error, format!("port-forward to {what} ended")))
                        .await;
                }
            }
            let _ = child.wait().await;
        });
    }
}

/// Whether the API server lists the `pods/portforward` subresource.
async fn offers_port_forward(client: &::kube::Client) -> bool {
    client
        .list_core_api_resources("v1")
        .await
        .is_ok_and(|l| l.resources.iter().any(|r| r.name == "pods/portforward"))
}
