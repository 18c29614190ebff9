//! A small steady stream of ConfigMap creates (open loop, fixed rate) whose latencies show
//! what an ordinary API client feels while the scheduler and controllers churn.

use crate::client::Tls;
use crate::error::Result;
use crate::load::{configmap, CONFIGMAPS};
use crate::stats::Summary;
use http::Method;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct SideLoad {
    stop: watch::Sender<bool>,
    task: JoinHandle<(Vec<Duration>, usize, Option<String>)>,
    started: Instant,
}

/// Starts `per_second` creates per second, each named `side-{tag}-{i}`.
pub async fn start(tls: &Tls, per_second: u32, tag: &str) -> Result<SideLoad> {
    let mut conn = tls.connect().await?;
    let (stop, mut stopped) = watch::channel(false);
    let period = Duration::from_secs(1) / per_second.max(1);
    let (tls, tag) = (tls.clone(), tag.to_string());
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        // A slow request delays the next one instead of bunching up a burst after it.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut samples, mut errors, mut first_error) = (Vec::new(), 0usize, None);
        for i in 0u64.. {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            let body = configmap(&format!("side-{tag}-{i}"), &[]);
            let t0 = Instant::now();
            match conn.expect_ok(Method::POST, CONFIGMAPS, Some(body)).await {
                Ok(_) => samples.push(t0.elapsed()),
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                    if let Ok(fresh) = tls.connect().await {
                        conn = fresh;
                    }
                }
            }
        }
        (samples, errors, first_error)
    });
    Ok(SideLoad {
        stop,
        task,
        started: Instant::now(),
    })
}

impl SideLoad {
    pub async fn finish(self) -> Summary {
        let _ = self.stop.send(true);
        let elapsed = self.started.elapsed();
        match self.task.await {
            Ok((samples, errors, first_error)) => {
                let mut s = Summary::from_samples(samples, errors, elapsed);
                s.first_error = first_error;
                s
            }
            Err(e) => {
                let mut s = Summary::from_samples(Vec::new(), 1, elapsed);
                s.first_error = Some(e.to_string());
                s
            }
        }
    }
}
