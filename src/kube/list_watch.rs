//! The list-then-watch of the ordered stores (pods, nodes, events): kube-rs' watcher
//! in its events and errors, with two differences that matter at 150,000 pods.
//!
//! - The list's next page is fetched while this one decodes. kube-rs lists page after
//!   page (fetch, decode, fetch...), so the first table took the fetch time plus the
//!   decode time; here the fetch runs on its own task, a page ahead, and reads the
//!   continue token from the page's head without decoding its items. The pages'
//!   buffers go round (fetched into, decoded from, handed back): 300 pages of
//!   2.3 MB each, allocated afresh, kept the allocator's freed memory high while the
//!   list ran.
//! - The retry delay restarts only when data arrives. kube-rs' stream backoff restarts
//!   with every attempt's first event (`Init`), so a list that always fails was asked
//!   again about every second.

use std::fmt::Debug;
use std::time::Duration;

use ::kube::api::{ListParams, WatchEvent, WatchParams};
use ::kube::runtime::watcher::{self, Event};
use ::kube::{Api, Client, Resource, ResourceExt};
use futures::{AsyncReadExt, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

/// Objects a list page asks for (kube-rs' watcher default; the benchmark's floor
/// lists with the same).
const PAGE_SIZE: u32 = 500;

/// How long a watch may run on the server before it is renewed (kube-rs' default).
const WATCH_TIMEOUT_SECS: u32 = 290;

/// A watch that delivers nothing, not even a bookmark, this long past its timeout is
/// taken for a dead connection and renewed.
const WATCH_IDLE_MARGIN: Duration = Duration::from_secs(10);

/// The first retry delay after an error, doubled with each error up to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(800);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Retry delays that double with each failure and restart only when data arrives.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: BACKOFF_FIRST,
        }
    }
}

impl Backoff {
    /// Data arrived: the next error waits the first delay again.
    fn reset(&mut self) {
        self.next = BACKOFF_FIRST;
    }

    /// The delay before the next attempt (and doubles the one after).
    fn delay(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        now
    }
}

/// Lists `api` and then watches it from the list's version, forever, handing every
/// event and error to `on` with objects passed through `slim` and converted into
/// `K`. Like kube-rs' watcher: a list is `Init`, `InitApply`s, `InitDone`; a watch
/// that the server says is too old (410) lists again; errors are retried.
pub(crate) async fn list_watch<W, K>(
    api: Api<W>,
    kind: &'static str,
    slim: fn(&mut W),
    mut on: impl FnMut(watcher::Result<Event<K>>),
) where
    W: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K: From<W> + Send + 'static,
{
    let mut backoff = Backoff::default();
    loop {
        let mut version = match list(&api, slim, &mut on).await {
            Ok(version) => {
                backoff.reset();
                version
            }
            Err(e) => {
                on(Err(e));
                tokio::time::sleep(backoff.delay()).await;
                continue;
            }
        };
        while watch(&api, kind, slim, &mut version, &mut backoff, &mut on).await == Next::Watch {}
    }
}

/// The first list's pages, fetched one ahead of the decoding; returns the list's
/// resource version.
async fn list<W, K>(
    api: &Api<W>,
    slim: fn(&mut W),
    on: &mut impl FnMut(watcher::Result<Event<K>>),
) -> watcher::Result<String>
where
    W: Resource + Clone + DeserializeOwned + Send + 'static,
    K: From<W> + Send + 'static,
{
    // One page waits while the next is fetched and another decodes.
    let (pages, mut fetched) = mpsc::channel(1);
    let (give_back, spare) = mpsc::unbounded_channel();
    let fetcher = FetchGuard(tokio::spawn(fetch_pages(
        api.clone().into_client(),
        api.resource_url().to_owned(),
        pages,
        spare,
    )));
    on(Ok(Event::Init));
    let mut version = None;
    let mut complete = false;
    while let Some(page) = fetched.recv().await {
        let text = page.map_err(watcher::Error::InitialListFailed)?;
        let decoded = tokio::task::spawn_blocking(move || {
            let page = decode_page::<W, K>(&text, slim);
            (page, text)
        })
        .await;
        let (items, page_version, last) = match decoded {
            Ok((result, mut text)) => {
                // Handed back with room for a page a little larger than this one:
                // the doubling that read it may have left it nearly twice that (three
                // buffers in flight, 4 MiB each for pages of 2.3 MB, at the list's
                // peak of memory).
                let room = text.len() + text.len() / 8;
                text.clear();
                text.shrink_to(room);
                let _ = give_back.send(text);
                result
                    .map_err(|e| watcher::Error::InitialListFailed(::kube::Error::SerdeError(e)))?
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down.
            Err(_) => return Err(watcher::Error::NoResourceVersion),
        };
        for item in items {
            on(Ok(Event::InitApply(item)));
        }
        version = page_version;
        if last {
            complete = true;
            break;
        }
    }
    drop(fetcher);
    if !complete {
        // The fetcher stopped without an error and without the last page: a list
        // cut short must not pass for the whole.
        return Err(watcher::Error::InitialListFailed(::kube::Error::Service(
            "the list's pages stopped before its last page".into(),
        )));
    }
    let version = version.ok_or(watcher::Error::NoResourceVersion)?;
    on(Ok(Event::InitDone));
    Ok(version)
}

/// Aborts the page fetcher when the list ends early (an error, or the task dropped).
struct FetchGuard(tokio::task::JoinHandle<()>);

impl Drop for FetchGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Fetches every page of the list at `url`, in order, into `pages` (each into a
/// buffer handed back through `spare` when there is one); stops at the last page,
/// the first error, or when nobody reads.
async fn fetch_pages(
    client: Client,
    url: String,
    pages: mpsc::Sender<Result<Vec<u8>, ::kube::Error>>,
    mut spare: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let mut token = None;
    loop {
        let params = ListParams {
            limit: Some(PAGE_SIZE),
            continue_token: token.take(),
            ..ListParams::default()
        };
        let mut text = spare.try_recv().unwrap_or_default();
        text.clear();
        let page = async {
            let request = ::kube::core::Request::new(url.as_str())
                .list(&params)
                .map_err(::kube::Error::BuildRequest)?;
            let body = client.request_stream(request).await?;
            std::pin::pin!(body)
                .read_to_end(&mut text)
                .await
                .map_err(::kube::Error::ReadEvents)?;
            let next = continue_token(&text).map_err(::kube::Error::SerdeError)?;
            Ok::<_, ::kube::Error>((text, next))
        }
        .await;
        let (page, next) = match page {
            Ok((text, next)) => (Ok(text), next),
            Err(e) => (Err(e), None),
        };
        if pages.send(page).await.is_err() {
            return;
        }
        match next {
            Some(next) => token = Some(next),
            None => return,
        }
    }
}

/// A list's metadata, read without its items.
#[derive(Deserialize)]
struct ListHead {
    metadata: ListMeta,
}

/// The continue token of a list page (`None` on the last page). The API server writes
/// the list's metadata before its items, so the head is read up to `"items"` alone;
/// a page in another order is read whole (its items skipped, not decoded).
fn continue_token(text: &[u8]) -> Result<Option<String>, serde_json::Error> {
    const ITEMS: &[u8] = b",\"items\":";
    let head = text
        .windows(ITEMS.len())
        .position(|w| w == ITEMS)
        .and_then(|cut| {
            let mut head = text[..cut].to_vec();
            head.push(b'}');
            serde_json::from_slice::<ListHead>(&head).ok()
        });
    let head = match head {
        Some(head) => head,
        None => serde_json::from_slice::<ListHead>(text)?,
    };
    Ok(head.metadata.continue_.filter(|t| !t.is_empty()))
}

/// One list page as decoded.
#[derive(Deserialize)]
#[serde(bound = "W: DeserializeOwned")]
struct Page<W> {
    metadata: ListMeta,
    #[serde(default)]
    items: Option<Vec<W>>,
}

/// A page's objects, slimmed and converted, the list's resource version, and whether
/// it is the last page (no continue token).
fn decode_page<W, K>(
    text: &[u8],
    slim: fn(&mut W),
) -> Result<(Vec<K>, Option<String>, bool), serde_json::Error>
where
    W: DeserializeOwned,
    K: From<W>,
{
    let page: Page<W> = serde_json::from_slice(text)?;
    let items = page
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|mut item| {
            slim(&mut item);
            K::from(item)
        })
        .collect();
    let version = page.metadata.resource_version.filter(|v| !v.is_empty());
    let last = page.metadata.continue_.is_none_or(|c| c.is_empty());
    Ok((items, version, last))
}

/// What follows a watch.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Watch again from the version reached.
    Watch,
    /// The version is gone (or unknown): list again.
    List,
}

/// One watch from `version`, until it ends, fails or the server says the version
/// is too old; `version` follows the events and bookmarks.
async fn watch<W, K>(
    api: &Api<W>,
    kind: &'static str,
    slim: fn(&mut W),
    version: &mut String,
    backoff: &mut Backoff,
    on: &mut impl FnMut(watcher::Result<Event<K>>),
) -> Next
where
    W: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K: From<W>,
{
    let params = WatchParams::default().timeout(WATCH_TIMEOUT_SECS);
    let stream = match api.watch(&params, version).await {
        Ok(stream) => stream,
        Err(e) => {
            on(Err(watcher::Error::WatchStartFailed(e)));
            tokio::time::sleep(backoff.delay()).await;
            return Next::Watch;
        }
    };
    let mut stream = std::pin::pin!(stream);
    let idle = Duration::from_secs(u64::from(WATCH_TIMEOUT_SECS)) + WATCH_IDLE_MARGIN;
    loop {
        let Ok(item) = tokio::time::timeout(idle, stream.next()).await else {
            tracing::debug!(kind, "watch idle past its timeout, renewed");
            return Next::Watch;
        };
        let event = match item {
            None => return Next::Watch,
            Some(Ok(event)) => event,
            Some(Err(e)) => {
                on(Err(watcher::Error::WatchFailed(e)));
                tokio::time::sleep(backoff.delay()).await;
                return Next::Watch;
            }
        };
        let (mut obj, deleted) = match event {
            WatchEvent::Added(obj) | WatchEvent::Modified(obj) => (obj, false),
            WatchEvent::Deleted(obj) => (obj, true),
            WatchEvent::Bookmark(mark) => {
                *version = mark.metadata.resource_version;
                continue;
            }
            WatchEvent::Error(status) => {
                let gone = status.code == 410;
                on(Err(watcher::Error::WatchError(status)));
                if gone {
                    return Next::List;
                }
                continue;
            }
        };
        match obj.resource_version().filter(|v| !v.is_empty()) {
            Some(v) => *version = v,
            None => {
                on(Err(watcher::Error::NoResourceVersion));
                return Next::List;
            }
        }
        tracing::trace!(kind, name = obj.name_any(), "watch event");
        backoff.reset();
        slim(&mut obj);
        let obj = K::from(obj);
        on(Ok(if deleted {
            Event::Delete(obj)
        } else {
            Event::Apply(obj)
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn the_continue_token_is_read_from_the_head() {
        let text = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"abc","remainingItemCount":3},"items":[{"metadata":{"name":"a"}}]}"#;
        assert_eq!(
            continue_token(text.as_bytes()).ok().flatten().as_deref(),
            Some("abc")
        );
        let last =
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}"#;
        assert_eq!(continue_token(last.as_bytes()).ok(), Some(None));
    }

    #[test]
    fn a_page_with_its_items_first_is_read_whole() {
        // A configMap volume's own "items" must not be taken for the list's.
        let text = r#"{"kind":"PodList","items":[{"metadata":{"name":"a"},"spec":{"containers":[],"volumes":[{"name":"v","configMap":{"name":"c","items":[{"key":"k","path":"p"}]}}]}}],"metadata":{"continue":"next"}}"#;
        assert_eq!(
            continue_token(text.as_bytes()).ok().flatten().as_deref(),
            Some("next")
        );
    }

    #[test]
    fn a_broken_page_is_an_error_not_the_last_page() {
        let text = r#"{"kind":"PodList","metadata":{"continue":"x"},"items":[{"#;
        assert!(
            continue_token(text.as_bytes()).is_ok(),
            "the head alone is whole"
        );
        assert!(continue_token(br#"{"kind":"PodList","items":[{"#).is_err());
        assert!(decode_page::<Pod, Pod>(text.as_bytes(), |_| ()).is_err());
    }

    #[test]
    fn a_page_is_slimmed_converted_and_versioned() {
        let text = r#"{"metadata":{"resourceVersion":"42"},"items":[{"metadata":{"name":"a","annotations":{"x":"y"}}},{"metadata":{"name":"b"}}]}"#;
        let (items, version, last) =
            decode_page::<Pod, Pod>(text.as_bytes(), |p| p.metadata.annotations = None)
                .unwrap_or_else(|e| panic!("decoded: {e}"));
        let names: Vec<_> = items.iter().map(|p| p.name_any()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(items.iter().all(|p| p.metadata.annotations.is_none()));
        assert_eq!(version.as_deref(), Some("42"));
        assert!(last, "no continue token: the last page");
        let empty = decode_page::<Pod, Pod>(br#"{"metadata":{},"items":null}"#, |_| ());
        assert!(matches!(empty, Ok((ref i, None, true)) if i.is_empty()));
        let more = decode_page::<Pod, Pod>(br#"{"metadata":{"continue":"x"},"items":[]}"#, |_| ());
        assert!(
            matches!(more, Ok((_, _, false))),
            "a page with a continue token"
        );
    }

    #[test]
    fn the_delay_doubles_and_restarts_on_data() {
        let mut b = Backoff::default();
        let first: Vec<_> = (0..8).map(|_| b.delay().as_millis()).collect();
        assert_eq!(first, [800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
        b.reset();
        assert_eq!(b.delay(), BACKOFF_FIRST);
    }
}
