//! Whether a lab's scripted story is still playing, read from what the lab publishes
//! through the API (the ConfigMap `kube-public/kcops-lab`), so the Overview does not
//! call a cluster healthy while the incident it plays has not happened yet. The
//! console knows nothing else of the lab: on a real cluster the ConfigMap is absent
//! (or unreadable) and nothing changes.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use tokio::sync::mpsc;

use super::app::UiMsg;

const NAMESPACE: &str = "kube-public";
const NAME: &str = "kcops-lab";
const EVERY: Duration = Duration::from_secs(2);

/// What the Overview says instead of "healthy" while the story plays, from the
/// ConfigMap's data; `None` once it settled (or for anything else).
pub(crate) fn playing(data: &std::collections::BTreeMap<String, String>) -> Option<String> {
    if data.get("story").map(String::as_str) != Some("playing") {
        return None;
    }
    let scenario = data.get("scenario").map_or("", String::as_str);
    let mut text = format!("The lab's story ({scenario}) is still playing");
    if let Some(next) = data.get("next") {
        text.push_str(&format!("; next: {next}"));
        if let Some(at) = data.get("nextAt") {
            text.push_str(&format!(" at {at}"));
        }
    }
    text.push_str(": no findings yet does not mean healthy.");
    Some(text)
}

/// Polls the ConfigMap until the story settled, the ConfigMap is gone (not a lab) or
/// reading it is refused; each change goes to the UI as [`UiMsg::LabStory`].
pub(crate) fn spawn(client: kube::Client, tx: mpsc::Sender<UiMsg>) {
    tokio::spawn(async move {
        let api: Api<ConfigMap> = Api::namespaced(client, NAMESPACE);
        let mut said: Option<String> = None;
        loop {
            let now = match api.get_opt(NAME).await {
                Ok(Some(cm)) => playing(&cm.data.unwrap_or_default()),
                // Absent or refused: not a lab (or not ours to read).
                Ok(None) => None,
                Err(kube::Error::Api(e)) if e.code == 403 => None,
                // A failed read says nothing new: ask again.
                Err(_) => {
                    tokio::time::sleep(EVERY).await;
                    continue;
                }
            };
            if now != said {
                said = now.clone();
                if tx.send(UiMsg::LabStory(now.clone())).await.is_err() {
                    return;
                }
            }
            if now.is_none() {
                return;
            }
            tokio::time::sleep(EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::playing;

    #[test]
    fn only_a_playing_story_is_said() {
        let data = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let text = playing(&data(&[
            ("scenario", "rbd-stale-lock"),
            ("story", "playing"),
            ("next", "node node1 goes down"),
        ]))
        .unwrap_or_default();
        assert!(text.contains("rbd-stale-lock") && text.contains("node node1 goes down"));
        assert_eq!(playing(&data(&[("story", "settled")])), None);
        assert_eq!(playing(&data(&[])), None);
    }
}
