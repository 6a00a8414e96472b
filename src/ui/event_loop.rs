//! The console's event loop: terminal events, view models from the feed, log lines
//! and plan progress, all over channels. The UI task never awaits Kubernetes; it
//! redraws only when something changed, at most ~20 times a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use super::app::{App, ConsoleOptions, UiMsg};
use super::view::ViewModel;

/// Runs the console until the operator quits or a signal arrives. A signal during a
/// plan stops the plan cleanly first and then ends in an error (a non-zero exit).
pub async fn run(opts: ConsoleOptions) -> Result<()> {
    let (ui_tx, mut ui_rx) = mpsc::channel::<UiMsg>(256);
    let remote_hosts = crate::host::remote::RemoteHosts::default();
    // Ceph has its own thread and refresh task from the start: it needs no API server.
    let ceph_changed = Arc::new(tokio::sync::Notify::new());
    let ceph =
        opts.ceph.clone().and_then(
            |settings| match crate::ceph::CephClient::connect(settings) {
                Ok(client) => Some(Arc::new(crate::ceph::source::CephWatch::start(
                    client,
                    ceph_changed.clone(),
                    Duration::from_secs(10),
                ))),
                Err(e) => {
                    tracing::warn!("cannot start the Ceph client: {e}");
                    None
                }
            },
        );
    // The feed, started again with the new context by `:ctx`.
    let feed_tx = ui_tx.clone();
    let start_feed = |connect: crate::kube::connect::ConnectOptions| {
        let (view_tx, view_rx) = watch::channel(Arc::new(ViewModel::default()));
        let mut probe = crate::host::probe::HostProbe::new(
            opts.host_root.clone().unwrap_or_else(|| "/".into()),
            opts.node.clone(),
        );
        probe.sandboxes_command = opts.sandboxes_command.clone();
        let task = tokio::spawn(crate::feed::views::run(
            connect,
            probe,
            ceph.clone().map(|c| (c, ceph_changed.clone())),
            opts.audit_log.clone(),
            remote_hosts.clone(),
            view_tx,
            feed_tx.clone(),
        ));
        (task, view_rx)
    };
    let (mut bg, mut view_rx) = start_feed(opts.connect.clone());
    let mut app = App::new(&opts, ui_tx);
    app.ceph = ceph.clone();
    app.remote_hosts = remote_hosts.clone();
    // Before raw mode: from here on a signal is ours, and always restores the terminal.
    let mut signals = super::signals::Signals::install()?;
    let mut guard = super::terminal::TerminalGuard::enter()?;
    let mut events = EventStream::new();
    // The signal that stopped a running plan; the loop ends once no plan runs.
    let mut stopping: Option<&'static str> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut dirty = true;
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    // Views come at most 20 times a second (the feed paces them); this only keeps a
    // burst of messages to one frame. A longer budget would add its wait to the
    // feed's: a pod's change reached the screen up to 100 ms late.
    let frame_budget = Duration::from_millis(16);
    // A key is answered in the next frame: the budget paces views and ticks, not keys.
    let mut keyed = false;
    loop {
        // A large table's filter/sort runs off this task; its answer comes as a message.
        app.start_table_jobs();
        if dirty {
            let since = last_draw.elapsed();
            if keyed || since >= frame_budget {
                let t0 = Instant::now();
                app.set_clock(jiff::Timestamp::now());
                guard.terminal.draw(|f| app.draw(f))?;
                tracing::trace!(
                    frame_us = t0.elapsed().as_micros() as u64,
                    generation = app.view.generation,
                    "frame"
                );
                last_draw = Instant::now();
                dirty = false;
                keyed = false;
            }
        }
        let redraw_in = if dirty {
            frame_budget.saturating_sub(last_draw.elapsed())
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => { app.on_key(k); app.keep_status(); dirty = true; keyed = true; }
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => { tracing::warn!("terminal event error: {e}"); }
                None => break,
            },
            changed = view_rx.changed() => {
                if changed.is_err() { break; }
                let v = view_rx.borrow_and_update().clone();
                // The last reference to the old view (150,000 rows and pods) is let go
                // off the UI task.
                let old = app.view.clone();
                let t = Instant::now();
                app.set_view(v);
                tracing::trace!(generation = app.view.generation, set_view_us = t.elapsed().as_micros() as u64, "view received");
                tokio::task::spawn_blocking(move || drop(old));
                // A large filtered or sorted table is drawn with its new order: its
                // answer comes as a message and is drawn at once.
                if !app.front_table_ordering() {
                    dirty = true;
                }
            }
            Some(msg) = ui_rx.recv() => {
                let answer = matches!(msg, UiMsg::TableOrder(..));
                app.on_msg(msg);
                app.keep_status();
                dirty = true;
                keyed |= answer;
            }
            _ = tick.tick() => { dirty = true; }
            _ = tokio::time::sleep(redraw_in) => {}
            name = signals.recv() => {
                // Outside a plan (or a second signal): restore the terminal and go.
                if stopping.is_some() || app.plans.running() == 0 {
                    stopping = stopping.or((app.plans.running() > 0).then_some(name));
                    break;
                }
                app.plans.stop.stop(format!("interrupted by {name}"));
                app.set_status(
                    crate::ui::theme::Role::Warning,
                    format!("{name}: finishing the step under way, the rest will not run; a second signal quits at once"),
                );
                stopping = Some(name);
                dirty = true;
            }
            _ = app.plans.idle(), if stopping.is_some() => break,
        }
        if app.quit {
            break;
        }
        if let Some(connect) = app.reconnect.take() {
            bg.abort();
            (bg, view_rx) = start_feed(connect);
            dirty = true;
        }
        if let Some(job) = app.suspend.take() {
            // The program reads the keys while it runs.
            drop(events);
            let status = guard.suspended(&job.program, &job.args).await;
            events = EventStream::new();
            app.suspended_done(job, status);
            app.keep_status();
            dirty = true;
        }
    }
    bg.abort();
    let _ = bg.await;
    // Only the app's handle on the Ceph client may be left for the shutdown below.
    drop(ceph);
    drop(guard);
    let interrupted = stopping.map(|name| {
        anyhow::anyhow!(
            "{name} during a plan: the step under way was finished or cancelled and the rest did not run; each step's outcome is in the audit log {}",
            opts.audit_log.display()
        )
    });
    // The terminal is back; now let the Ceph thread shut librados down before the
    // process exits (see `CephClient`'s drop).
    if let Some(watch) = app.ceph.take() {
        drop(app);
        if let Ok(watch) = Arc::try_unwrap(watch) {
            watch.close().await;
        }
    }
    match interrupted {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
